"""Real WebRTC peers for the video tests, written as outside clients would be: an
OBS-like WHIP publisher (aiortc, the clip's H.264 and Opus sent as they are, no
candidates in its offer, no trickle) and a WHEP viewer that keeps every frame it gets.

The viewer runs in the test process, where livecart's pass-through seam is installed
(it is process-wide), so it receives encoded frames: the test reads their markers and
decodes them itself with PyAV, which proves they are real pictures.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import httpx
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError

from livecart.media.h264 import is_keyframe
from livecart.media.marker import read_marker


def without_candidates(sdp: str) -> str:
    """The offer as OBS sends it: no candidates, no end-of-candidates."""
    lines = sdp.split("\r\n")
    kept = [line for line in lines if not line.startswith(("a=candidate:", "a=end-of-candidates"))]
    return "\r\n".join(kept)


async def post_sdp(url: str, sdp: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=20.0) as client:
        return await client.post(
            url, content=sdp, headers={"Content-Type": "application/sdp", **(headers or {})}
        )


@dataclass
class Publisher:
    pc: RTCPeerConnection
    player: MediaPlayer
    response: httpx.Response
    location: str | None

    async def close(self) -> None:
        await self.pc.close()
        self.player.video and self.player.video.stop()  # type: ignore[func-returns-value]


async def publish(
    base_url: str,
    show: str,
    headers: dict[str, str],
    clip: Path,
    *,
    strip_candidates: bool = True,
    video_codec: str = "H264",
) -> Publisher:
    """Offer the clip to ``show``'s WHIP endpoint; the answer is applied when it is 201.
    The offer names only ``video_codec``, the one the clip is in (as OBS offers only
    the codec its encoder makes)."""
    player = MediaPlayer(str(clip), decode=False)
    pc = RTCPeerConnection()
    if player.video is not None:
        video = pc.addTransceiver(player.video, direction="sendonly")
        video.setCodecPreferences(
            [
                c
                for c in RTCRtpSender.getCapabilities("video").codecs
                if c.mimeType.split("/")[1].lower() in (video_codec.lower(), "rtx")
            ]
        )
    if player.audio is not None:
        pc.addTransceiver(player.audio, direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    offer = pc.localDescription.sdp
    if strip_candidates:
        offer = without_candidates(offer)
    response = await post_sdp(f"{base_url}/api/shows/{show}/whip", offer, headers)
    if response.status_code == 201:
        await pc.setRemoteDescription(RTCSessionDescription(response.text, "answer"))
    else:
        await pc.close()
    return Publisher(pc, player, response, response.headers.get("location"))


@dataclass
class ReceivedFrame:
    data: bytes
    pts: int
    marker: int | None
    keyframe: bool


@dataclass
class Watcher:
    pc: RTCPeerConnection
    response: httpx.Response
    location: str | None
    video: list[ReceivedFrame] = field(default_factory=list)
    audio_frames: int = 0
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def wait_for_frames(self, count: int, within: float = 20.0) -> None:
        async with asyncio.timeout(within):
            while len(self.video) < count:  # noqa: ASYNC110 (frames come from a task)
                await asyncio.sleep(0.05)

    def decoded(self) -> list[av.VideoFrame]:
        """Decode what arrived with PyAV, from the first keyframe on."""
        codec = av.CodecContext.create("h264", "r")
        pictures: list[av.VideoFrame] = []
        started = False
        for frame in self.video:
            started = started or frame.keyframe
            if not started:
                continue
            packet = av.Packet(frame.data)
            packet.pts = frame.pts
            packet.time_base = fractions.Fraction(1, 90000)
            pictures.extend(codec.decode(packet))  # type: ignore[arg-type]
        return pictures

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.pc.close()


async def watch(
    base_url: str, show: str, headers: dict[str, str] | None = None, *, audio: bool = True
) -> Watcher:
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    if audio:
        pc.addTransceiver("audio", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    response = await post_sdp(f"{base_url}/api/shows/{show}/whep", pc.localDescription.sdp, headers)
    watcher = Watcher(pc, response, response.headers.get("location"))
    if response.status_code != 201:
        await pc.close()
        return watcher
    await pc.setRemoteDescription(RTCSessionDescription(response.text, "answer"))
    for transceiver in pc.getTransceivers():
        track = transceiver.receiver.track
        if track is not None:
            watcher._tasks.append(asyncio.create_task(_collect(watcher, track)))
    return watcher


async def _collect(watcher: Watcher, track: Any) -> None:
    with contextlib.suppress(MediaStreamError):
        while True:
            packet = await track.recv()
            if track.kind == "video":
                data = bytes(packet)
                watcher.video.append(
                    ReceivedFrame(data, int(packet.pts), read_marker(data), is_keyframe(data))
                )
            else:
                watcher.audio_frames += 1
    watcher.ended.set()
