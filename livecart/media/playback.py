"""One WHEP viewer: a send-only peer connection fed by the show's relay, in the codec
the publisher sends. Its keyframe requests (PLI) go to the relay, which forwards them
to the publisher no more often than its interval."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from aiortc import RTCPeerConnection, RTCSessionDescription

from livecart.media import codecs
from livecart.media.relay import StreamRelay
from livecart.media.sdp import Offer

if TYPE_CHECKING:
    from livecart.media.node import MediaNode

log = logging.getLogger("livecart.media")


class Viewer:
    def __init__(self, node: MediaNode, show: str, session: str, relay: StreamRelay) -> None:
        self.node = node
        self.show = show
        self.session = session
        self.relay = relay
        self.pc = RTCPeerConnection(node.rtc_configuration)
        self.closed = False
        self.created = time.monotonic()
        self._tracks = relay.subscribe()
        self._watchdog: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None

    async def answer(self, offer: Offer) -> str:
        video_track, audio_track = self._tracks
        relay = self.relay
        assert relay.codec is not None
        video = self.pc.addTransceiver(video_track, direction="sendonly")
        video.setCodecPreferences(
            codecs.preferences("video", relay.codec, dict(relay.codec_parameters))
        )
        # A viewer's PLI asks the publisher, through the relay's rate limit: the sender
        # itself cannot make a keyframe, it only forwards.
        video.sender._send_keyframe = relay.request_keyframe  # type: ignore[method-assign]
        if offer.line("audio") is not None:
            audio = self.pc.addTransceiver(audio_track, direction="sendonly")
            audio.setCodecPreferences(codecs.preferences("audio", "opus"))
        else:
            relay.unsubscribe(audio_track)  # nothing would ever read it
        await self.pc.setRemoteDescription(RTCSessionDescription(offer.sdp, "offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return self.pc.localDescription.sdp

    def start(self) -> None:
        @self.pc.on("connectionstatechange")
        def on_state() -> None:
            if self.pc.connectionState in ("failed", "closed"):
                self.close_soon()

        self._watchdog = asyncio.ensure_future(self._watch_connect())

    async def _watch_connect(self) -> None:
        await asyncio.sleep(self.node.settings.connect_timeout_s)
        if self.pc.connectionState != "connected":
            self.close_soon()

    def close_soon(self) -> None:
        if self._closing is None:
            self._closing = asyncio.ensure_future(self.close())

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._watchdog is not None and self._watchdog is not asyncio.current_task():
            self._watchdog.cancel()
        self.relay.unsubscribe(*self._tracks)
        with contextlib.suppress(Exception):
            await self.pc.close()
        self.node.forget_viewer(self)
