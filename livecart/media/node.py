"""The media part of one node: its publishers (WHIP), its viewers (WHEP), one relay per
show it holds the ingest of, the stream clock, and the sweep that ends the streams of
dead nodes. Owned by the app's lifespan.

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

from aiortc.exceptions import InvalidAccessError, OperationError
from redis.exceptions import RedisError

from livecart.errors import Conflict, InvalidInput, NotFound, Unavailable, Unprocessable
from livecart.media import ice, passthrough, state
from livecart.media.clock import StreamClock
from livecart.media.codecs import add_forwarded_profiles
from livecart.media.ingest import Ingest
from livecart.media.playback import Viewer
from livecart.media.relay import StreamRelay
from livecart.media.sdp import check_play, check_publish, read_offer
from livecart.media.stats import MediaCollector, MediaStats
from livecart.runtime import Runtime, cancel_and_wait
from livecart.store import keys
from livecart.store.clock import redis_time_us

log = logging.getLogger("livecart.media")

CLOCK_RESYNC_S = 30.0
OFFLINE_RETRY_MS = 2000
FULL_RETRY_MS = 10_000


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
        self._collector = MediaCollector(self.stats, self._live_counts)
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        passthrough.install()
        add_forwarded_profiles()
        ice.configure(self.settings)
        await self.clock.sync()
        self.runtime.metrics.registry.register(self._collector)
        self._tasks = [
            asyncio.create_task(self._resync_clock(), name="media-clock"),
            asyncio.create_task(self._sweep(), name="media-sweep"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            await cancel_and_wait(task)
        for viewer in list(self.viewers.values()):
            await viewer.close()
        for ingest in list(self.ingests.values()):
            await ingest.close("node_stopping")
        with contextlib.suppress(ValueError):
            self.runtime.metrics.registry.unregister(self._collector)

    def _live_counts(self) -> tuple[int, int]:
        return len(self.ingests), len(self.viewers)

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
        ingest = Ingest(self, show, session, relay)
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
