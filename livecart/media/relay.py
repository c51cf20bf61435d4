"""One show's video and audio on the node that holds its ingest: encoded packets from
the publisher, stamped with their stream position, handed as they are to every local
viewer. Nothing is decoded or re-encoded.

A viewer starts on a keyframe, never on a frame its decoder cannot use: its video
track drops frames until the next keyframe, and the relay asks the publisher for one
(PLI), no more often than ``media.keyframe_request_interval_ms``. A viewer that falls
``media.viewer_queue_frames`` behind loses its queue and restarts at the next
keyframe, so a slow viewer costs a few frames of memory, never an unbounded queue
(invariant 7). When a publisher is replaced, viewers keep their tracks: timestamps are
rebased so they run on without a jump backwards, and the new publisher's first keyframe
restarts every viewer's picture.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from livecart.media import h264
from livecart.media.clock import StreamClock
from livecart.media.marker import stamp
from livecart.media.rtp_out import RtpOut
from livecart.media.stats import MediaStats

log = logging.getLogger("livecart.media")

VIDEO_CLOCK = 90_000
FRAME_STEP_VIDEO = VIDEO_CLOCK // 30  # assumed gap between two publishers' frames
FRAME_STEP_AUDIO = 960  # 20 ms of Opus at 48 kHz
AUDIO_QUEUE = 50  # one second of Opus


class ForwardedTrack(MediaStreamTrack):
    """One viewer's copy of a show's video or audio: ``recv()`` returns ``av.Packet``s,
    which aiortc's sender packetizes without encoding."""

    def __init__(self, kind: str, capacity: int) -> None:
        super().__init__()
        self.kind = kind
        self._capacity = capacity
        self._queue: asyncio.Queue[av.Packet[Any] | None] = asyncio.Queue()
        self.waiting_for_keyframe = kind == "video"

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        packet = await self._queue.get()
        if packet is None:
            self.stop()
            raise MediaStreamError
        return packet

    def offer(self, packet: av.Packet[Any], keyframe: bool) -> bool:
        """Queue ``packet`` unless this viewer must wait for a keyframe; False when it
        was not queued (the relay then asks the publisher for a keyframe)."""
        if self.readyState != "live":
            return False
        if self.kind == "video":
            if self.waiting_for_keyframe and not keyframe:
                return False
            if self._queue.qsize() >= self._capacity:
                # Too far behind: drop the queue and restart at a keyframe (this one,
                # or the next), which needs none of the dropped frames.
                self._drain()
                if not keyframe:
                    self.waiting_for_keyframe = True
                    return False
            self.waiting_for_keyframe = False
        elif self._queue.qsize() >= self._capacity:
            self._queue.get_nowait()
        self._queue.put_nowait(packet)
        return True

    def end(self) -> None:
        self._drain()
        self._queue.put_nowait(None)

    def _drain(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()


class PtsRebase:
    """Output timestamps that keep running when the input restarts (a new publisher):
    aiortc turns a packet's pts into its RTP timestamp, and a jump backwards would make
    the viewer's browser drop frames as stale."""

    def __init__(self, step: int) -> None:
        self._step = step
        self._offset: int | None = None
        self._last_out: int | None = None

    def restart(self) -> None:
        self._offset = None

    def map(self, pts: int) -> int:
        if self._offset is None:
            base = 0 if self._last_out is None else self._last_out + self._step
            self._offset = base - pts
        out = pts + self._offset
        if self._last_out is not None and out < self._last_out:
            out = self._last_out  # a reordered or repeated input timestamp
        self._last_out = out
        return out


@dataclass(frozen=True)
class Forwarded:
    keyframe: bool
    size: tuple[int, int] | None  # from the keyframe's SPS, H.264 only
    position_ms: int | None  # the marker it carries, H.264 only


class StreamRelay:
    def __init__(
        self,
        show: str,
        *,
        clock: StreamClock,
        stats: MediaStats,
        queue_frames: int,
        keyframe_interval_s: float,
    ) -> None:
        self.show = show
        self.codec: str | None = None  # 'H264' or 'VP8', from the current publisher
        self.codec_parameters: dict[str, object] = {}
        self.viewers: set[ForwardedTrack] = set()
        self._clock = clock
        self._stats = stats
        self._queue_frames = queue_frames
        self._keyframe_interval_s = keyframe_interval_s
        self._keyframe_requester: Callable[[], None] | None = None
        self._last_keyframe_request = -1e9
        self._video_pts = PtsRebase(FRAME_STEP_VIDEO)
        self._audio_pts = PtsRebase(FRAME_STEP_AUDIO)
        self._last_position_ms = 0
        # The RTP copy for Janus and HLS, in the current publisher's codec.
        self.rtp_out: RtpOut | None = None

    # -- publisher side ------------------------------------------------------------

    def attach(
        self, codec: str, parameters: dict[str, object], request_keyframe: Callable[[], None]
    ) -> None:
        """A publisher takes over: its timestamps are rebased, every viewer waits for
        its first keyframe."""
        self.codec = codec
        self.codec_parameters = parameters
        if self.rtp_out is None or self.rtp_out.codec != codec:
            if self.rtp_out is not None:
                self.rtp_out.close()  # its destinations expect the old codec
            self.rtp_out = RtpOut(codec, self._stats.rtp_packets)
        self._keyframe_requester = request_keyframe
        self._video_pts.restart()
        self._audio_pts.restart()
        for track in self.viewers:
            if track.kind == "video":
                track.waiting_for_keyframe = True

    def detach(self, request_keyframe: Callable[[], None]) -> None:
        if self._keyframe_requester is request_keyframe:
            self._keyframe_requester = None

    def forward_video(self, packet: av.Packet[Any]) -> Forwarded:
        data = bytes(packet)
        keyframe = False
        size = None
        position = None
        if self.codec == "H264":
            keyframe = h264.is_keyframe(data)
            if keyframe:
                size = h264.picture_size(data)
            arrived_ns = packet.opaque if isinstance(packet.opaque, int) else time.monotonic_ns()
            position = max(self._clock.at_ms(arrived_ns), self._last_position_ms)
            self._last_position_ms = position
            stamped = stamp(data, position)
            if stamped is not data:
                out = av.Packet(stamped)
                out.time_base = packet.time_base
                out.pts = packet.pts
                packet, data = out, stamped
        elif self.codec == "VP8":
            keyframe = _vp8_keyframe(data)
        packet.pts = self._video_pts.map(int(packet.pts or 0))
        self._fan_out("video", packet, len(data), keyframe)
        if self.rtp_out is not None:
            self.rtp_out.send_video(packet)
        return Forwarded(keyframe, size, position)

    def forward_audio(self, packet: av.Packet[Any]) -> None:
        packet.pts = self._audio_pts.map(int(packet.pts or 0))
        self._fan_out("audio", packet, packet.size, True)
        if self.rtp_out is not None:
            self.rtp_out.send_audio(packet)

    def _fan_out(self, kind: str, packet: av.Packet[Any], size: int, keyframe: bool) -> None:
        stats = self._stats
        stats.frames_in[kind] += 1
        delivered = 0
        wanting = False
        for track in self.viewers:
            if track.kind != kind:
                continue
            if track.offer(packet, keyframe):
                delivered += 1
            else:
                stats.frames_dropped += 1
                wanting = True
        stats.frames_forwarded[kind] += delivered
        stats.bytes_forwarded[kind] += delivered * size
        if wanting:
            self.request_keyframe()

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe (PLI), at most once per interval. Publishers
        that ignore PLI (OBS) are covered by their keyframe interval."""
        now = time.monotonic()
        if self._keyframe_requester is None:
            return
        if now - self._last_keyframe_request < self._keyframe_interval_s:
            self._stats.keyframe_requests["suppressed"] += 1
            return
        self._last_keyframe_request = now
        self._stats.keyframe_requests["sent"] += 1
        self._keyframe_requester()

    # -- viewer side ---------------------------------------------------------------

    def subscribe(self) -> tuple[ForwardedTrack, ForwardedTrack]:
        video = ForwardedTrack("video", self._queue_frames)
        audio = ForwardedTrack("audio", AUDIO_QUEUE)
        self.viewers.add(video)
        self.viewers.add(audio)
        self.request_keyframe()
        return video, audio

    def unsubscribe(self, *tracks: ForwardedTrack) -> None:
        for track in tracks:
            self.viewers.discard(track)
            track.end()

    def close(self) -> None:
        for track in self.viewers:
            track.end()
        self.viewers.clear()
        if self.rtp_out is not None:
            self.rtp_out.close()


def _vp8_keyframe(frame: bytes) -> bool:
    """A VP8 frame's tag: bit 0 of the first byte is 0 on a key frame (RFC 6386, 9.1)."""
    return bool(frame) and frame[0] & 0x01 == 0
