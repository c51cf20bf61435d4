"""Janus as the large-audience engine: the node that holds a show's ingest keeps a
Streaming mountpoint for the stream on every Janus instance and sends it the stream's
RTP (markers in every frame, never re-encoded); any node relays a viewer's few Janus
calls (watch, answer, keepalive, hang up), choosing the instance by load.

Every node runs one monitor loop per instance (each ``MONITOR_INTERVAL_S``): it keeps a
control session, lists the instance's mountpoints, counts their viewers, and makes the
mountpoints of this node's live streams exist: after a Janus restart (which forgets
every mountpoint made over its API) they come back within a second, on new ports the
RTP is then sent to. A mountpoint's id is derived from the show and the ingest
session, so a new publisher of the show (on any node) never collides with the old
one's mountpoint, and a viewer's node finds it from the show's stream info alone; a
mountpoint whose stream is no longer the show's (its ingest node died) is removed by
whichever node sees it first, every ``STALE_CHECK_ROUNDS`` rounds.

A viewer's Janus session is named to the page by a token that carries the instance,
the Janus session and handle, signed with ``auth.secret``: any node can relay it, and
no page can act on another viewer's session.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import RedisError

from livecart.config import Settings
from livecart.errors import InvalidInput, NotFound, Unavailable
from livecart.media.janus_api import JanusApi, JanusError, JanusUnreachable, plugin_event
from livecart.media.relay import StreamRelay
from livecart.media.rtp_out import AUDIO_PT, VIDEO_PT, Destination

log = logging.getLogger("livecart.media")

MONITOR_INTERVAL_S = 1.0
OFFER_WAIT_S = 5.0
START_WAIT_S = 2.0
KEEPALIVE_MS = 20_000
VIEWER_CONNECTIONS = 500  # per instance and node: a join storm waits for Janus' offers
UNAVAILABLE_RETRY_MS = 2000
DESCRIPTION_PREFIX = "livecart"
# index-session-handle-mac: at most 64 characters, an id like any other path id.
STALE_CHECK_ROUNDS = 10  # mountpoints of streams that ended elsewhere: checked this often
NO_MEDIA = 456  # the Streaming plugin's "no audio or video" refusal
_TOKEN = re.compile(r"^(\d{1,2})-(\d{1,16})-(\d{1,16})-([0-9a-f]{20})$")


def mountpoint_id(show: str, session: str) -> int:
    """The stream's mountpoint id on every instance (48 bits: an exact JSON number)."""
    digest = hashlib.sha256(f"{show}\0{session}".encode()).digest()
    return int.from_bytes(digest[:6], "big") or 1


@dataclass
class Feed:
    """A live stream this node sends to Janus: what its mountpoint must look like."""

    show: str
    session: str
    relay: StreamRelay
    codec: str
    profile_level_id: str
    # Where each instance's mountpoint takes the RTP (its ports, as Janus chose them).
    destinations: dict[str, Destination] = field(default_factory=dict)

    @property
    def mountpoint(self) -> int:
        return mountpoint_id(self.show, self.session)

    def create_request(self) -> dict[str, Any]:
        if self.codec == "H264":
            video: dict[str, Any] = {
                "codec": "h264",
                "fmtp": f"profile-level-id={self.profile_level_id};packetization-mode=1",
            }
        else:
            video = {"codec": "vp8"}
        request: dict[str, Any] = {
            "request": "create",
            "type": "rtp",
            "id": self.mountpoint,
            "description": f"{DESCRIPTION_PREFIX} {self.show} {self.session}",
            "media": [
                {"type": "video", "mid": "v", "port": 0, "pt": VIDEO_PT, "videobufferkf": True}
                | video,
                {"type": "audio", "mid": "a", "port": 0, "pt": AUDIO_PT, "codec": "opus"},
            ],
        }
        return request


@dataclass
class Instance:
    index: int
    url: str
    rtp_host: str
    api: JanusApi  # this node's own requests: the monitor, mountpoints
    viewer_api: JanusApi  # viewers' calls, on connections of their own (see JanusApi)
    healthy: bool = False
    problem: str | None = "not checked yet"
    viewers: int = 0
    mountpoints: set[int] = field(default_factory=set)
    control: tuple[int, int] | None = None  # this node's own session and handle
    key_checked: bool = False  # the admin key was accepted since the last failure
    rounds: int = 0

    @property
    def name(self) -> str:
        return f"janus{self.index + 1}"


@dataclass(frozen=True)
class Watching:
    """A viewer's Janus session, as the page holds it (``token``)."""

    instance: Instance
    session: int
    handle: int
    token: str
    offer: str


class JanusPool:
    def __init__(
        self, settings: Settings, stream_session: Callable[[str], Awaitable[str | None]]
    ) -> None:
        media = settings.media
        self._stream_session = stream_session  # the show's ingest session now (Redis)
        self.admin_key = media.janus_admin_key
        self.viewer_cap = media.janus_viewer_cap
        self._secret = settings.auth.secret.encode()
        urls = media.janus_urls.split()
        hosts = media.janus_rtp_hosts.split() or [
            urllib.parse.urlsplit(url).hostname or "" for url in urls
        ]
        secret = media.janus_api_secret
        self.instances = [
            Instance(
                i,
                url,
                host,
                JanusApi(url, secret),
                JanusApi(url, secret, max_connections=VIEWER_CONNECTIONS),
            )
            for i, (url, host) in enumerate(zip(urls, hosts, strict=True))
        ]
        self.feeds: dict[str, Feed] = {}  # by show: the streams this node sends
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()

    @property
    def enabled(self) -> bool:
        return bool(self.instances)

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Check every instance once (a problem is logged and kept for /readyz, never
        fatal: the rest of the show works without Janus), then monitor them."""
        await asyncio.gather(*(self._check(instance) for instance in self.instances))
        for instance in self.instances:
            if instance.problem:
                log.warning("Janus %s (%s): %s", instance.name, instance.url, instance.problem)
        if self.instances:
            self._tasks = [asyncio.create_task(self._monitor(), name="janus-monitor")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for show in list(self.feeds):
            await self.unfeed(show)
        for instance in self.instances:
            if instance.control is not None:
                with contextlib.suppress(JanusError, JanusUnreachable):
                    await instance.api.destroy(instance.control[0])
            await instance.api.aclose()
            await instance.viewer_api.aclose()

    def states(self) -> list[tuple[str, bool, int]]:
        """(name, healthy, viewers) of every instance, for /metrics."""
        return [(i.name, i.healthy, i.viewers) for i in self.instances]

    def problems(self) -> list[str]:
        return [f"Janus {i.name} ({i.url}): {i.problem}" for i in self.instances if i.problem]

    # -- the ingest side -----------------------------------------------------------

    def feed(self, show: str, session: str, relay: StreamRelay) -> None:
        """The show's stream is live on this node: its mountpoints are made (by the
        monitor, at once) and its RTP sent to them."""
        codec = relay.codec or "H264"
        old = self.feeds.get(show)
        if old is not None and old.session == session and old.codec == codec:
            return
        if old is not None:
            self._forget_feed(old)
        profile = str(relay.codec_parameters.get("profile-level-id") or "42e01f")
        self.feeds[show] = Feed(show, session, relay, codec, profile)
        self._wake.set()

    async def unfeed(self, show: str) -> None:
        """The show's stream ended here: its mountpoints go (their viewers see the end)."""
        feed = self.feeds.pop(show, None)
        if feed is not None:
            self._forget_feed(feed)
            await asyncio.gather(*(self._destroy(i, feed.mountpoint) for i in self.instances))

    def _forget_feed(self, feed: Feed) -> None:
        if feed.relay.rtp_out is not None:
            for instance in self.instances:
                feed.relay.rtp_out.remove(instance.name)

    async def _destroy(self, instance: Instance, mountpoint: int) -> None:
        instance.mountpoints.discard(mountpoint)
        try:
            await self._control(instance, {"request": "destroy", "id": mountpoint})
        except (JanusError, JanusUnreachable) as exc:
            # Gone with a Janus restart, or Janus is down: nothing left to destroy.
            log.debug("mountpoint %s on %s not destroyed: %s", mountpoint, instance.name, exc)

    # -- the viewer side -----------------------------------------------------------

    async def watch(self, show: str, session: str, avoid: str | None) -> Watching:
        """Start a viewer's Janus session on the least loaded instance that has the
        stream: Janus offers, the page answers (``answer``)."""
        mountpoint = mountpoint_id(show, session)
        candidates = sorted(
            (
                i
                for i in self.instances
                if i.healthy
                and mountpoint in i.mountpoints
                and i.viewers < self.viewer_cap
                and i.name != avoid
            ),
            key=lambda i: i.viewers,
        )
        if not candidates:
            raise Unavailable(
                "no Janus instance can take this viewer now (none has the show's stream, "
                "or each is at media.janus_viewer_cap)",
                code="janus_unavailable",
                extra={"retry_after_ms": UNAVAILABLE_RETRY_MS},
            )
        failures = []
        for instance in candidates:
            # The seat is taken before the wait for Janus' offer, so viewers who arrive
            # together spread over the instances (the monitor recounts every second).
            instance.viewers += 1
            try:
                return await self._watch_on(instance, mountpoint, show)
            except (JanusError, JanusUnreachable, TimeoutError) as exc:
                instance.viewers -= 1
                failures.append(f"{instance.name}: {exc}")
        raise Unavailable(
            "no Janus instance answered: " + "; ".join(failures),
            code="janus_unavailable",
            extra={"retry_after_ms": UNAVAILABLE_RETRY_MS},
        )

    async def _watch_on(self, instance: Instance, mountpoint: int, show: str) -> Watching:
        api = instance.viewer_api
        session = await api.create_session()
        try:
            handle = await api.attach(session)
            await api.message(session, handle, {"request": "watch", "id": mountpoint})
            offer = await self._offer(instance, session)
        except BaseException:
            with contextlib.suppress(JanusError, JanusUnreachable):
                await api.destroy(session)
            raise
        token = self._token(show, instance.index, session, handle)
        return Watching(instance, session, handle, token, offer)

    async def _offer(self, instance: Instance, session: int) -> str:
        deadline = time.monotonic() + OFFER_WAIT_S
        while (left := deadline - time.monotonic()) > 0:
            event = await instance.viewer_api.next_event(session, min(left, OFFER_WAIT_S))
            if event is None:
                continue
            plugin_event(event)  # raises the plugin's refusal
            jsep = event.get("jsep") or {}
            if jsep.get("type") == "offer":
                return str(jsep["sdp"])
        raise TimeoutError(f"Janus sent no offer within {OFFER_WAIT_S:g}s")

    async def answer(self, show: str, token: str, sdp: str) -> None:
        instance, session, handle = self.session_of(show, token)
        try:
            await instance.viewer_api.message(
                session, handle, {"request": "start"}, jsep={"type": "answer", "sdp": sdp}
            )
            deadline = time.monotonic() + START_WAIT_S
            while (left := deadline - time.monotonic()) > 0:
                event = await instance.viewer_api.next_event(session, left)
                if event is None:
                    continue
                result = plugin_event(event).get("result") or {}
                if result.get("status") in ("starting", "started"):
                    return
        except JanusError as exc:
            if exc.session_gone:
                raise _gone() from None
            raise InvalidInput(f"Janus refused the answer: {exc.reason}", field="body") from None
        except JanusUnreachable as exc:
            raise _unreachable(exc) from None

    async def keepalive(self, show: str, token: str) -> None:
        """An instance that does not answer loses the session too: the page connects
        again, elsewhere."""
        instance, session, _ = self.session_of(show, token)
        await _on_session(instance.viewer_api.keepalive(session), unreachable_is_gone=True)

    async def hang_up(self, show: str, token: str) -> None:
        instance, session, _ = self.session_of(show, token)
        await _on_session(instance.viewer_api.destroy(session), unreachable_is_gone=False)

    def _token(self, show: str, index: int, session: int, handle: int) -> str:
        body = f"{index}-{session}-{handle}"
        return f"{body}-{self._mac(show, body)}"

    def _mac(self, show: str, body: str) -> str:
        message = f"janus\0{show}\0{body}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:20]

    def session_of(self, show: str, token: str) -> tuple[Instance, int, int]:
        match = _TOKEN.match(token)
        if match is None or not hmac.compare_digest(
            match[4], self._mac(show, token.rsplit("-", 1)[0])
        ):
            raise NotFound(f"no Janus session {token!r} for show {show!r}", field="session")
        index = int(match[1])
        if index >= len(self.instances):
            raise NotFound(f"no Janus session {token!r} for show {show!r}", field="session")
        return self.instances[index], int(match[2]), int(match[3])

    # -- the monitor -----------------------------------------------------------------

    async def _monitor(self) -> None:
        while True:
            await asyncio.gather(*(self._check(instance) for instance in self.instances))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(MONITOR_INTERVAL_S):
                    await self._wake.wait()

    async def _check(self, instance: Instance) -> None:
        """One round for one instance: alive, its mountpoints and viewers, this node's
        streams on it. Any failure marks it unhealthy until a round succeeds."""
        try:
            await self._round(instance)
        except (JanusError, JanusUnreachable, KeyError, ValueError) as exc:
            if instance.healthy:
                log.warning("Janus %s (%s) is unhealthy: %s", instance.name, instance.url, exc)
            instance.healthy = False
            instance.problem = _explain(exc)
            instance.control = None
            instance.key_checked = False
            for feed in self.feeds.values():
                if feed.relay.rtp_out is not None:
                    feed.relay.rtp_out.remove(instance.name)
        else:
            if not instance.healthy:
                log.info("Janus %s (%s) is healthy", instance.name, instance.url)
            instance.healthy = True
            instance.problem = None

    async def _round(self, instance: Instance) -> None:
        if not instance.key_checked:
            await self._check_admin_key(instance)
            instance.key_checked = True
        listed = await self._control(instance, {"request": "list"})
        ours = [
            m
            for m in listed.get("list", [])
            if str(m.get("description", "")).startswith(DESCRIPTION_PREFIX + " ")
        ]
        instance.mountpoints = {int(m["id"]) for m in ours}
        instance.rounds += 1
        stale_check = instance.rounds % STALE_CHECK_ROUNDS == 0
        for mountpoint in ours:
            # "livecart SHOW SESSION": a show this node now streams with a newer session
            # (its publisher was replaced here) leaves the old mountpoint to this node.
            _, show, session = [*str(mountpoint["description"]).split(" "), "", ""][:3]
            feed = self.feeds.get(show)
            if feed is not None and feed.session != session:
                await self._destroy(instance, int(mountpoint["id"]))
            elif feed is None and stale_check and await self._stale(show, session):
                # Its ingest node died, or stopped before it could take it away.
                await self._destroy(instance, int(mountpoint["id"]))
        viewers = 0
        for mountpoint in ours:
            with contextlib.suppress(JanusError):  # destroyed in between
                info = await self._control(instance, {"request": "info", "id": mountpoint["id"]})
                viewers += int(info.get("info", {}).get("viewers", 0))
        instance.viewers = viewers
        for feed in list(self.feeds.values()):
            await self._ensure(instance, feed)

    async def _stale(self, show: str, session: str) -> bool:
        """The mountpoint's stream is no longer the show's (any node may remove it)."""
        try:
            return await self._stream_session(show) != session
        except (RedisError, OSError) as exc:
            log.warning("could not check Janus mountpoints of %s: %s", show, exc)
            return False

    async def _check_admin_key(self, instance: Instance) -> None:
        """A create with no media: Janus checks the admin key, then refuses to make a
        mountpoint with nothing in it (456). Only a wrong key (457) is a problem."""
        try:
            await self._control(instance, {"request": "create", "type": "rtp", "media": []})
        except JanusError as exc:
            if exc.code != NO_MEDIA:
                raise

    async def _ensure(self, instance: Instance, feed: Feed) -> None:
        """The feed's mountpoint exists on the instance and its RTP goes there."""
        out = feed.relay.rtp_out
        if out is None or self.feeds.get(feed.show) is not feed:
            return
        if feed.mountpoint in instance.mountpoints:
            if instance.name in out.destinations:
                return
            known = feed.destinations.get(instance.name)
            if known is not None:
                # The instance missed a round or two but kept its mountpoint (and its
                # viewers): send there again.
                out.add(instance.name, known)
                return
            # Made with ports this node does not know (a codec change, or by a node
            # that died with the same session): make it again.
            await self._destroy(instance, feed.mountpoint)
        created = await self._control(instance, feed.create_request())
        ports = {p["type"]: int(p["port"]) for p in created["stream"]["ports"]}
        if self.feeds.get(feed.show) is not feed:  # ended meanwhile
            await self._destroy(instance, feed.mountpoint)
            return
        instance.mountpoints.add(feed.mountpoint)
        destination = Destination(
            video=(instance.rtp_host, ports["video"]),
            audio=(instance.rtp_host, ports["audio"]) if "audio" in ports else None,
        )
        feed.destinations[instance.name] = destination
        out.add(instance.name, destination)
        log.info(
            "show %s streams to Janus %s mountpoint %s (video port %s)",
            feed.show,
            instance.name,
            feed.mountpoint,
            ports["video"],
        )

    async def _control(self, instance: Instance, body: dict[str, Any]) -> dict[str, Any]:
        """A Streaming request on this node's own session with the instance (made again
        when Janus forgot it: a restart, or a session timeout)."""
        for attempt in (1, 2):
            if instance.control is None:
                session = await instance.api.create_session()
                handle = await instance.api.attach(session)
                instance.control = (session, handle)
            session, handle = instance.control
            try:
                if body.get("request") in ("create", "destroy") and self.admin_key:
                    body = {**body, "admin_key": self.admin_key}
                return await instance.api.message(session, handle, body)
            except JanusError as exc:
                if exc.session_gone and attempt == 1:
                    instance.control = None
                    continue
                raise
        raise AssertionError("unreachable")


def _explain(exc: Exception) -> str:
    if isinstance(exc, JanusError) and exc.code == 403:
        return f"refused: {exc.reason} (check media.janus_api_secret against Janus' api_secret)"
    if isinstance(exc, JanusError) and "admin" in exc.reason.lower():
        return (
            f"refused: {exc.reason} (check media.janus_admin_key against the Streaming "
            "plugin's admin_key)"
        )
    return str(exc)


async def _on_session(call: Awaitable[None], *, unreachable_is_gone: bool) -> None:
    """A call on a viewer's Janus session, its failures as the API's refusals."""
    try:
        await call
    except JanusError as exc:
        if exc.session_gone:
            raise _gone() from None
        raise _unreachable(exc) from None
    except JanusUnreachable as exc:
        raise (_gone() if unreachable_is_gone else _unreachable(exc)) from None


def _gone() -> NotFound:
    return NotFound(
        "Janus no longer has this session (it restarted or timed out): connect again",
        field="session",
    )


def _unreachable(exc: Exception) -> Unavailable:
    return Unavailable(
        f"the Janus instance did not answer: {exc}",
        code="janus_unavailable",
        extra={"retry_after_ms": UNAVAILABLE_RETRY_MS},
    )
