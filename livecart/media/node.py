"""The media part of one node: its publishers (WHIP), its viewers (WHEP), one relay per
show it holds the ingest of, the stream clock, the sweep that ends the streams of
dead nodes, and the large-audience outputs fed from its relays (Janus mountpoints and
HLS). Owned by the app's lifespan.

A show's video lives on the node that holds its ingest; Redis says which (the show
hash's ``stream_*`` fields), so a WHEP request that reaches another node is redirected
there (307) and overlays stay in step whichever node made the event: every frame's
marker and every event's id are on Redis' clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Coroutine
from typing import Any

from aiortc.exceptions import InvalidAccessError, OperationError
from redis.exceptions import RedisError

from livecart.errors import Conflict, InvalidInput, NotFound, Unavailable, Unprocessable
from livecart.media import ice, passthrough, state
from livecart.media.clock import StreamClock
from livecart.media.codecs import add_forwarded_profiles
from livecart.media.hls import HlsOutput
from livecart.media.ingest import Ingest
from livecart.media.janus import JanusPool, Watching
from livecart.media.playback import Viewer
from livecart.media.relay import StreamRelay
from livecart.media.sdp import check_play, check_publish, read_offer
from livecart.media.stats import MediaCollector, MediaStats
from livecart.runtime import Runtime, cancel_all
from livecart.store import keys
from livecart.store.clock import redis_time_us

log = logging.getLogger("livecart.media")

CLOCK_RESYNC_S = 30.0
OFFLINE_RETRY_MS = 2000
FULL_RETRY_MS = 10_000
OUTPUT_STOP_S = 5.0


class StreamElsewhere(Exception):
    """The show's ingest is on another node: WHEP goes there (307 to ``url``)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


class MediaNode:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings.media
        self.node_id = secrets.token_hex(6)
        self.rtc_configuration = ice.rtc_configuration(self.settings)
        self.clock = StreamClock(lambda: redis_time_us(runtime.redis))
        self.stats = MediaStats()
        self.relays: dict[str, StreamRelay] = {}
        self.ingests: dict[str, Ingest] = {}  # by session
        self.ingest_by_show: dict[str, Ingest] = {}
        self.viewers: dict[str, Viewer] = {}  # by session
        self.lease_ms = int(self.settings.stream_lease_s * 1000)
        self.maxlen = runtime.settings.hub.stream_max_events
        self.janus = JanusPool(runtime.settings, self._stream_session)
        self._collector = MediaCollector(self.stats, self._live_counts, self.janus.states)
        self._tasks: list[asyncio.Task[None]] = []
        self.hls = HlsOutput(runtime.settings)
        self._outputs: dict[str, tuple[str, str]] = {}  # show -> (session, codec) fed
        self._output_tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        passthrough.install()
        add_forwarded_profiles()
        ice.configure(self.settings)
        await self.clock.sync()
        await self.janus.start()
        hls_problem = self.hls.problem()
        if hls_problem:
            log.warning("HLS: %s", hls_problem)
        self.runtime.metrics.registry.register(self._collector)
        self._tasks = [
            asyncio.create_task(self._resync_clock(), name="media-clock"),
            asyncio.create_task(self._sweep(), name="media-sweep"),
        ]

    async def stop(self) -> None:
        await cancel_all(self._tasks)
        for viewer in list(self.viewers.values()):
            await viewer.close()
        for ingest in list(self.ingests.values()):
            await ingest.close("node_stopping")
        # The ended streams' mountpoints and HLS go now (bounded by Janus' request
        # timeout); what a dead Janus keeps, another node removes later.
        if self._output_tasks:
            await asyncio.wait(list(self._output_tasks), timeout=OUTPUT_STOP_S)
        await cancel_all(list(self._output_tasks))
        await self.janus.stop()
        await self.hls.stop()
        with contextlib.suppress(ValueError):
            self.runtime.metrics.registry.unregister(self._collector)

    def _live_counts(self) -> tuple[int, int]:
        return len(self.ingests), len(self.viewers)

    def problems(self) -> list[str]:
        """What keeps the large-audience paths from working (for /readyz); the shop and
        this node's own WHEP work regardless."""
        hls_problem = self.hls.problem()
        return self.janus.problems() + ([f"HLS: {hls_problem}"] if hls_problem else [])

    # -- large audiences -------------------------------------------------------------

    def play_order(self, codec: str) -> list[str]:
        """The ways a page may watch this node's stream, in the order it tries them."""
        ways = ["whep"]
        if self.janus.enabled:
            ways.append("janus")
        if self.hls.enabled and codec == "H264":
            ways.append("hls")
        first = self.settings.viewer_path
        if first in ways:
            ways.remove(first)
            ways.insert(0, first)
        return ways

    def hls_url(self, show: str, codec: str, node_url: str) -> str | None:
        if not (self.hls.enabled and codec == "H264"):
            return None
        return self.hls.playlist_url(show, node_url)

    def stream_live(self, ingest: Ingest) -> None:
        """The ingest's stream is live (or changed codec): Janus and HLS take it."""
        fed = (ingest.session, ingest.codec)
        if self._outputs.get(ingest.show) == fed:
            return
        self._outputs[ingest.show] = fed
        if self.janus.enabled:
            self.janus.feed(ingest.show, ingest.session, ingest.relay)
        if self.hls.enabled:
            # Same codec: the playlist carries on; a new codec restarts or stops it.
            self._output_task(self.hls.start_show(ingest.show, ingest.relay), "hls-start")

    def _stream_gone(self, show: str) -> None:
        self._outputs.pop(show, None)
        if self.janus.enabled:
            self._output_task(self.janus.unfeed(show), "janus-unfeed")
        if self.hls.enabled:
            self._output_task(self.hls.stop_show(show), "hls-stop")

    def _output_task(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._output_tasks.add(task)
        task.add_done_callback(self._output_done)

    def _output_done(self, task: asyncio.Task[None]) -> None:
        self._output_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())

    async def _stream_session(self, show: str) -> str | None:
        info = await state.stream_info(self.runtime.redis, show)
        return info.session if info is not None else None

    async def janus_watch(self, show: str, avoid: str | None) -> Watching:
        """A viewer's Janus session for the show's live stream (any node relays it)."""
        self._require_enabled()
        if not self.janus.enabled:
            raise Unavailable("this node has no Janus (media.janus_urls)", code="janus_unavailable")
        info = await state.stream_info(self.runtime.redis, show)
        if info is None or info.state != "live":
            if not await self.runtime.redis.exists(keys.show(show)):
                raise NotFound(f"show {show!r} does not exist", field="show")
            raise self._offline("the show has no live video yet")
        return await self.janus.watch(show, info.session, avoid)

    # -- WHIP ------------------------------------------------------------------------

    async def publish(self, show: str, body: bytes, node_url: str) -> tuple[str, str]:
        """Take a publisher's offer: (session id, SDP answer). A refusal changes nothing:
        the old ingest, if any, is only replaced once the new offer has been answered
        and the show has been claimed."""
        self._require_enabled()
        offer = read_offer(body, self.settings.max_sdp_bytes)
        video_codec = check_publish(offer)
        replacing_here = show in self.ingest_by_show
        if len(self.ingests) >= self.settings.max_ingests and not replacing_here:
            raise Unavailable(
                f"this node takes at most {self.settings.max_ingests} live ingests "
                "(media.max_ingests)",
                code="ingest_cap",
                extra={"retry_after_ms": FULL_RETRY_MS},
            )
        session = "in_" + secrets.token_hex(12)
        relay = self.relays.get(show) or self._new_relay(show)
        ingest = Ingest(self, show, session, relay, node_url)
        try:
            answer = await ingest.answer(offer, video_codec)
            claimed = await state.claim(
                self.runtime.scripts, show, session, self.node_id, node_url, self.lease_ms
            )
            try:
                # The sweep's index (it spans shows, so it is written after the script).
                await self.runtime.redis.sadd(keys.streaming_shows(), show)
            except BaseException:
                # A claim the sweep could not find would never end: take it back.
                with contextlib.suppress(RedisError, OSError):
                    await state.end(
                        self.runtime.scripts, show, session, "publisher_left", maxlen=self.maxlen
                    )
                raise
        except BaseException as exc:
            await ingest.discard()
            if show not in self.ingest_by_show and not relay.viewers:
                self.relays.pop(show, None)
            raise _refusal(exc) from None
        previous = self.ingest_by_show.get(show)
        self.ingests[session] = ingest
        self.ingest_by_show[show] = ingest
        ingest.take_over()
        ingest.start()
        if previous is not None:
            await previous.close("replaced")
        elif claimed.replaced_session:
            log.info(
                "ingest %s of show %s replaces %s on node %s",
                session,
                show,
                claimed.replaced_session,
                claimed.replaced_node,
            )
        return session, answer

    async def unpublish(self, show: str, session: str) -> None:
        ingest = self.ingests.get(session)
        if ingest is None or ingest.show != show:
            raise NotFound(f"no ingest {session!r} of show {show!r} on this node", field="session")
        await ingest.close("publisher_left")

    def forget_ingest(self, ingest: Ingest) -> None:
        self.ingests.pop(ingest.session, None)
        if self.ingest_by_show.get(ingest.show) is ingest:
            del self.ingest_by_show[ingest.show]
        if ingest.show in self.ingest_by_show:
            return  # a newer publisher on this node carries on with the same viewers
        relay = self.relays.pop(ingest.show, None)
        if relay is not None:
            relay.close()
        self._stream_gone(ingest.show)
        for viewer in [v for v in self.viewers.values() if v.show == ingest.show]:
            viewer.close_soon()

    def _new_relay(self, show: str) -> StreamRelay:
        relay = StreamRelay(
            show,
            clock=self.clock,
            stats=self.stats,
            queue_frames=self.settings.viewer_queue_frames,
            keyframe_interval_s=self.settings.keyframe_request_interval_ms / 1000,
        )
        self.relays[show] = relay
        return relay

    # -- WHEP ------------------------------------------------------------------------

    async def play(self, show: str, body: bytes) -> tuple[str, str]:
        """Answer a viewer's offer: (session id, SDP answer). Raises StreamElsewhere when
        another node holds the show's ingest."""
        self._require_enabled()
        offer = read_offer(body, self.settings.max_sdp_bytes)
        info = await state.stream_info(self.runtime.redis, show)
        if info is None:
            if not await self.runtime.redis.exists(keys.show(show)):
                raise NotFound(f"show {show!r} does not exist", field="show")
            raise self._offline("the show has no live video yet")
        if info.node != self.node_id:
            if info.url:
                raise StreamElsewhere(info.url)
            raise self._offline("the show's video is on another node that gave no URL")
        ingest = self.ingest_by_show.get(show)
        relay = self.relays.get(show)
        if ingest is None or relay is None or relay.codec is None or not ingest.live:
            raise self._offline("the show's video is starting; try again in a moment")
        check_play(offer, relay.codec)
        if len(self.viewers) >= self.settings.max_whep_viewers:
            raise Unavailable(
                f"this node forwards video to at most {self.settings.max_whep_viewers} viewers "
                "(media.max_whep_viewers); large audiences watch through the Janus or HLS "
                "path, see docs/video.md",
                code="viewer_cap",
                extra={"retry_after_ms": FULL_RETRY_MS},
            )
        session = "wh_" + secrets.token_hex(12)
        viewer = Viewer(self, show, session, relay)
        try:
            answer = await viewer.answer(offer)
        except BaseException as exc:
            await viewer.close()
            raise _refusal(exc) from None
        self.viewers[session] = viewer
        viewer.start()
        return session, answer

    async def stop_playing(self, show: str, session: str) -> None:
        viewer = self.viewers.get(session)
        if viewer is None or viewer.show != show:
            raise NotFound(f"no viewer {session!r} of show {show!r} on this node", field="session")
        await viewer.close()

    def forget_viewer(self, viewer: Viewer) -> None:
        self.viewers.pop(viewer.session, None)

    # -- background ------------------------------------------------------------------

    async def _resync_clock(self) -> None:
        while True:
            await asyncio.sleep(CLOCK_RESYNC_S)
            try:
                await self.clock.sync()
            except (RedisError, OSError) as exc:
                log.warning("stream clock not resynced: %s", exc)

    async def _sweep(self) -> None:
        """End the streams whose node stopped renewing its claim (it died)."""
        while True:
            await asyncio.sleep(self.settings.stream_lease_s)
            try:
                await self._sweep_once()
            except (RedisError, OSError) as exc:
                log.warning("stream sweep failed: %s", exc)

    async def _sweep_once(self) -> None:
        redis = self.runtime.redis
        for member in await redis.smembers(keys.streaming_shows()):
            show = str(member)
            info = await state.stream_info(redis, show)
            if info is None:
                await redis.srem(keys.streaming_shows(), show)
            elif info.session not in self.ingests:
                await state.end(
                    self.runtime.scripts,
                    show,
                    info.session,
                    "lost",
                    maxlen=self.maxlen,
                    only_if_expired=True,
                )

    # -- helpers ---------------------------------------------------------------------

    def _require_enabled(self) -> None:
        if not self.settings.enabled:
            raise Unavailable(
                "video is turned off on this node (media.enabled)", code="media_disabled"
            )

    @staticmethod
    def _offline(message: str) -> Conflict:
        return Conflict(message, code="stream_offline", extra={"retry_after_ms": OFFLINE_RETRY_MS})


def _refusal(exc: BaseException) -> BaseException:
    """What aiortc's refusal of an offer means to the client; anything else as it is."""
    if isinstance(exc, ValueError | InvalidAccessError):
        return InvalidInput(f"the SDP offer was refused: {exc}", field="body")
    if isinstance(exc, OperationError):
        return Unprocessable(
            f"the offer cannot be negotiated: {exc} (livecart takes H.264 with "
            "packetization-mode=1, VP8 and Opus)",
            code="codec_unsupported",
        )
    return exc
