"""One WHIP publisher: its peer connection, the tasks that move its frames into the
show's relay, and its claim on the show in Redis.

Lifecycle: the POST builds the connection and answers at once (OBS needs its answer
within 8 s); the publisher must then connect within ``media.connect_timeout_s``. The
first keyframe makes the stream live (``stream_started`` for every viewer); a stream
with no video frame for ``media.media_timeout_s`` ends. The claim is renewed every
third of ``media.stream_lease_s``; when the renewal says the show's stream is no longer
this session's (another publisher took over, or the show ended) the ingest closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import av
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import SessionDescription
from redis.exceptions import RedisError

from livecart.media import codecs, passthrough, state
from livecart.media.relay import StreamRelay
from livecart.media.sdp import Offer

if TYPE_CHECKING:
    from livecart.media.node import MediaNode

log = logging.getLogger("livecart.media")


class Ingest:
    def __init__(
        self, node: MediaNode, show: str, session: str, relay: StreamRelay, node_url: str
    ) -> None:
        self.node = node
        self.show = show
        self.session = session
        self.node_url = node_url  # where this node is reached (WHEP, HLS)
        self.relay = relay
        self.pc = RTCPeerConnection(node.rtc_configuration)
        self.codec = ""
        self._parameters: dict[str, object] = {}
        self.live = False
        self.closed = False
        self.created = time.monotonic()
        self._video_receiver: RTCRtpReceiver | None = None
        self._video_ssrcs: list[int] | None = None  # the publisher's video SSRC, from its offer
        self._tasks: set[asyncio.Future[None]] = set()
        self._closing: asyncio.Task[None] | None = None

    async def answer(self, offer: Offer, video_codec: str) -> str:
        """Build the connection for ``offer`` and return the SDP answer, every server
        candidate in it (aiortc gathers before it answers; nothing trickles)."""
        video = self.pc.addTransceiver("video", direction="recvonly")
        video.setCodecPreferences(codecs.preferences("video", video_codec))
        if offer.line("audio") is not None:
            audio = self.pc.addTransceiver("audio", direction="recvonly")
            audio.setCodecPreferences(codecs.preferences("audio", "opus"))
        self._video_receiver = video.receiver
        await self.pc.setRemoteDescription(RTCSessionDescription(offer.sdp, "offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        local = self.pc.localDescription.sdp
        settled = codecs.negotiated(local, "video")
        if settled is None:
            raise RuntimeError("the answer has no video codec")
        self.codec, self._parameters = settled
        return local

    def take_over(self) -> None:
        """Become the show's publisher on this node's relay (after the claim)."""
        self.relay.attach(self.codec, self._parameters, self.request_keyframe)

    async def discard(self) -> None:
        """Drop a connection that never became the show's ingest (a refused offer)."""
        self.closed = True
        with contextlib.suppress(Exception):
            await self.pc.close()

    def start(self) -> None:
        """Run the connection: watch it connect, move its frames, keep the claim."""

        @self.pc.on("connectionstatechange")
        def on_state() -> None:
            if self.pc.connectionState in ("failed", "closed"):
                self.close_soon("connection_failed")

        for transceiver in self.pc.getTransceivers():
            track = transceiver.receiver.track
            if track is None:
                continue
            pump = self._pump_video if track.kind == "video" else self._pump_audio
            self._spawn(pump(track), f"ingest-{track.kind}")
        self._spawn(self._watch_connect(), "ingest-connect")
        self._spawn(self._renew_claim(), "ingest-lease")

    def _spawn(self, work: Awaitable[None], name: str) -> None:
        """A task of this ingest, forgotten when done (a keyframe request a second for
        hours must not pile up), cancelled by close() while it runs."""
        task = asyncio.ensure_future(work)
        task.set_name(f"{name}-{self.show}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- the work ------------------------------------------------------------------

    async def _watch_connect(self) -> None:
        await asyncio.sleep(self.node.settings.connect_timeout_s)
        if self.pc.connectionState != "connected":
            log.info("ingest %s of %s did not connect in time", self.session, self.show)
            self.close_soon("connect_timeout")

    async def _pump_video(self, track: MediaStreamTrack) -> None:
        settings = self.node.settings
        size: tuple[int, int] | None = None
        while True:
            try:
                # The wait starts at the POST: a publisher that connects but never
                # sends video ends as surely as one that stops. asyncio.timeout, not
                # wait_for, which on Python 3.11 drops a cancel that arrives with a
                # frame (CPython gh-86296): the pump must stop when the session does.
                async with asyncio.timeout(settings.media_timeout_s):
                    packet = await track.recv()
            except TimeoutError:
                self.close_soon("no_media")
                return
            except MediaStreamError:
                self.close_soon("publisher_left")
                return
            if not isinstance(packet, av.Packet):
                raise passthrough.SeamMoved("a receiver decoded a frame: the seam is not in place")
            forwarded = self.relay.forward_video(packet)
            if not forwarded.keyframe:
                continue
            if forwarded.size is None and self.codec == "VP8":
                forwarded_size = _vp8_size(bytes(packet))
            else:
                forwarded_size = forwarded.size
            if self.live and (forwarded_size is None or forwarded_size == size):
                continue
            size = forwarded_size or size
            outcome = await self._announce(size)
            if outcome == "lost":
                self.close_soon("replaced")
                return
            # On a Redis error the next keyframe tries again.
            self.live = outcome in ("live", "unchanged")
            if outcome == "live":
                self.node.stream_live(self)
                shown = f"{size[0]}x{size[1]}" if size else "size unknown"
                log.info(
                    "ingest %s of show %s is live: %s %s",
                    self.session,
                    self.show,
                    self.codec,
                    shown,
                )

    async def _announce(self, size: tuple[int, int] | None) -> str:
        try:
            return await state.go_live(
                self.node.runtime.scripts,
                self.show,
                self.session,
                codec=self.codec,
                size=size,
                marker=self.codec == "H264",
                lease_ms=self.node.lease_ms,
                maxlen=self.node.maxlen,
                play=self.node.play_order(self.codec),
                hls_url=self.node.hls_url(self.show, self.codec, self.node_url),
            )
        except RedisError as exc:
            log.warning("could not announce the stream of %s: %s", self.show, exc)
            return "unknown"

    async def _pump_audio(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                packet = await track.recv()
            except MediaStreamError:
                return
            if not isinstance(packet, av.Packet):
                raise passthrough.SeamMoved("a receiver decoded a frame: the seam is not in place")
            self.relay.forward_audio(packet)

    async def _renew_claim(self) -> None:
        interval = self.node.settings.stream_lease_s / 3
        while True:
            await asyncio.sleep(interval)
            try:
                held = await state.renew(
                    self.node.runtime.scripts, self.show, self.session, self.node.lease_ms
                )
            except RedisError as exc:
                # The lease outlives a short outage; a long one lets the sweep end it.
                log.warning("could not renew the stream of %s: %s", self.show, exc)
                continue
            if not held:
                self.close_soon("replaced")
                return

    def request_keyframe(self) -> None:
        """Send the publisher a PLI (the relay rate-limits the calls), for the SSRC of its
        video itself: the first packets a browser sends are often RTX padding (bandwidth
        probes) on another SSRC, and a PLI for that one is ignored."""
        receiver = self._video_receiver
        if receiver is None or self.closed:
            return
        if self._video_ssrcs is None:
            self._video_ssrcs = _video_ssrcs(self.pc.remoteDescription.sdp)
        targets = self._video_ssrcs or [s.source for s in receiver.getSynchronizationSources()]
        send: Callable[[int], Awaitable[None]] = receiver._send_rtcp_pli
        for ssrc in targets:
            self._spawn(send(ssrc), "ingest-pli")

    # -- the end ---------------------------------------------------------------------

    def close_soon(self, reason: str) -> None:
        if self._closing is None:
            self._closing = asyncio.ensure_future(self.close(reason))

    async def close(self, reason: str) -> None:
        """End the ingest: its tasks, its connection and, unless another session took
        over, the show's stream (``stream_ended`` when it was live). Idempotent."""
        if self.closed:
            return
        self.closed = True
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        self.relay.detach(self.request_keyframe)
        with contextlib.suppress(Exception):
            await self.pc.close()
        if reason != "replaced":
            with contextlib.suppress(RedisError, OSError):
                await state.end(
                    self.node.runtime.scripts,
                    self.show,
                    self.session,
                    reason,
                    maxlen=self.node.maxlen,
                )
        self.node.forget_ingest(self)
        log.info("ingest %s of show %s ended: %s", self.session, self.show, reason)


def _vp8_size(frame: bytes) -> tuple[int, int] | None:
    """Width and height from a VP8 key frame's header (RFC 6386, 9.1)."""
    if len(frame) < 10 or frame[3:6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(frame[6:8], "little") & 0x3FFF
    height = int.from_bytes(frame[8:10], "little") & 0x3FFF
    return width, height


def _video_ssrcs(offer_sdp: str) -> list[int]:
    """The SSRC the offer's video is sent on: the first of its FID group (media, then
    RTX), else its first ``a=ssrc``; empty when the offer names none (then the SSRCs
    seen on the wire are used)."""
    for media in SessionDescription.parse(offer_sdp).media:
        if media.kind != "video":
            continue
        for group in media.ssrc_group:
            if group.semantic == "FID" and group.items:
                return [int(group.items[0])]
        if media.ssrc:
            return [media.ssrc[0].ssrc]
    return []
