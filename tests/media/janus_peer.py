"""A viewer that watches through livecart's Janus relay, as a page does (docs/video.md):
POST /api/shows/{show}/janus for Janus' offer, answer it after gathering every
candidate (no trickle), POST the answer, keep the session alive every keepalive_ms,
DELETE it when done. Janus itself is never spoken to.

Like the WHEP viewer of tests/media/peers.py it runs in the test process with
livecart's pass-through seam installed, so it keeps every video frame encoded: the
test reads the SEI markers the frames carry through Janus.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from livecart.media import passthrough
from livecart.media.h264 import is_keyframe
from livecart.media.marker import read_marker
from tests.media.peers import ReceivedFrame


@dataclass
class JanusViewer:
    """One viewer's session. ``status`` is the answer to the first POST (201 when
    Janus has the show); the rest is filled in as it watches."""

    base_url: str
    show: str
    headers: dict[str, str]
    response: httpx.Response
    pc: RTCPeerConnection | None = None
    session: str | None = None
    instance: str | None = None
    location: str | None = None
    keepalive_ms: int = 0
    answer_response: httpx.Response | None = None
    video: list[ReceivedFrame] = field(default_factory=list)
    audio_frames: int = 0
    #: Status of every keepalive sent, in order (204 while Janus keeps the session).
    keepalives: list[int] = field(default_factory=list)
    #: Set when a keepalive is answered 404: Janus dropped the session (it died or
    #: restarted); a page connects again with ?avoid=instance.
    dropped: asyncio.Event = field(default_factory=asyncio.Event)
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    delete_status: int | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def markers(self) -> list[int]:
        """The markers of the video frames received so far, in arrival order."""
        return [frame.marker for frame in self.video if frame.marker is not None]

    @property
    def session_url(self) -> str:
        return f"{self.base_url}/api/shows/{self.show}/janus/{self.session}"

    async def wait_for_frames(self, count: int, within: float = 20.0) -> None:
        async with asyncio.timeout(within):
            while len(self.video) < count:  # noqa: ASYNC110 (frames come from a task)
                await asyncio.sleep(0.05)

    async def wait_for_markers(self, count: int, within: float = 20.0) -> None:
        async with asyncio.timeout(within):
            while len(self.markers) < count:  # noqa: ASYNC110 (frames come from a task)
                await asyncio.sleep(0.05)

    async def keepalive(self) -> int:
        """Send one keepalive now (the task sends them on its own); its status."""
        async with httpx.AsyncClient(timeout=10.0, headers=self.headers) as client:
            response = await client.post(f"{self.session_url}/keepalive")
        self.keepalives.append(response.status_code)
        if response.status_code == 404:
            self.dropped.set()
        return response.status_code

    async def close(self) -> None:
        """Stop watching: DELETE the session (once), then close the connection."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.session is not None and self.delete_status is None:
            async with httpx.AsyncClient(timeout=10.0, headers=self.headers) as client:
                self.delete_status = (await client.delete(self.session_url)).status_code
        if self.pc is not None:
            await self.pc.close()


async def answer_offer(offer: str) -> tuple[RTCPeerConnection, str]:
    """A connection that takes Janus' offer, and its answer with every candidate in it
    (aiortc gathers before setLocalDescription returns)."""
    passthrough.install()  # idempotent; a server in this process has installed it already
    pc = RTCPeerConnection()
    await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    return pc, pc.localDescription.sdp


async def watch_janus(
    base_url: str,
    show: str,
    headers: dict[str, str] | None = None,
    *,
    avoid: str | None = None,
    keepalive_s: float | None = None,
) -> JanusViewer:
    """Start watching ``show`` through Janus. A refusal (any status but 201) comes back
    as a viewer with no connection, to read ``status`` and ``response`` from.
    ``keepalive_s`` overrides the keepalive_ms livecart names (tests that wait for
    a drop to be noticed); ``avoid`` is the instance a page moves away from."""
    headers = dict(headers or {})
    params = {"avoid": avoid} if avoid is not None else None
    async with httpx.AsyncClient(timeout=20.0, headers=headers) as client:
        response = await client.post(f"{base_url}/api/shows/{show}/janus", params=params)
    viewer = JanusViewer(base_url, show, headers, response)
    if response.status_code != 201:
        return viewer
    body = response.json()
    viewer.session = str(body["session"])
    viewer.instance = body["instance"]
    viewer.keepalive_ms = int(body["keepalive_ms"])
    viewer.location = response.headers.get("location")
    viewer.pc, answer = await answer_offer(body["offer"])
    for transceiver in viewer.pc.getTransceivers():
        track = transceiver.receiver.track
        if track is not None:
            viewer._tasks.append(asyncio.create_task(_collect(viewer, track)))
    async with httpx.AsyncClient(timeout=20.0, headers=headers) as client:
        viewer.answer_response = await client.post(
            f"{viewer.session_url}/answer",
            content=answer,
            headers={"Content-Type": "application/sdp"},
        )
    if viewer.answer_response.status_code != 204:
        await viewer.close()
        return viewer
    interval = keepalive_s if keepalive_s is not None else viewer.keepalive_ms / 1000
    viewer._tasks.append(asyncio.create_task(_keep_alive(viewer, interval)))
    return viewer


async def _keep_alive(viewer: JanusViewer, interval: float) -> None:
    while not viewer.dropped.is_set():
        await asyncio.sleep(interval)
        with contextlib.suppress(httpx.TransportError):
            await viewer.keepalive()


async def _collect(viewer: JanusViewer, track: Any) -> None:
    with contextlib.suppress(MediaStreamError):
        while True:
            packet = await track.recv()
            if track.kind == "video":
                data = bytes(packet)
                viewer.video.append(
                    ReceivedFrame(data, int(packet.pts), read_marker(data), is_keyframe(data))
                )
            else:
                viewer.audio_frames += 1
    viewer.ended.set()
