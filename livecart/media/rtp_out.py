"""A show's forwarded frames as plain RTP over UDP, for the engines that serve large
audiences: Janus' Streaming mountpoints and ffmpeg's HLS writer. The ingest node sends
each frame once per destination, as it forwards it to its own viewers: stamped with
its position marker, never re-encoded, packetized once however many destinations.

Plain RTP (no SRTP) is meant for a trusted network: a Janus next to livecart, an
ffmpeg on the same machine. Payload types are fixed, and the mountpoint and the SDP
file ffmpeg reads name the same ones. A send that would block is dropped, never
queued (the receiver recovers at the next keyframe): a slow engine must not hold up
the relay.
"""

from __future__ import annotations

import logging
import random
import socket
from dataclasses import dataclass
from typing import Any

import av
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.opus import OpusEncoder
from aiortc.codecs.vpx import Vp8Encoder

log = logging.getLogger("livecart.media")

VIDEO_PT = 96
AUDIO_PT = 111
RTP_VERSION = 0x80
SEQ_MOD = 1 << 16
TS_MOD = 1 << 32

Address = tuple[str, int]


@dataclass(frozen=True)
class Destination:
    """Where one engine takes a show's RTP: video and (optionally) audio ports."""

    video: Address
    audio: Address | None


class RtpStream:
    """One outgoing RTP stream (video or audio): its SSRC and sequence numbers."""

    def __init__(self, payload_type: int) -> None:
        self.payload_type = payload_type
        self.ssrc = random.getrandbits(32)
        self.seq = random.getrandbits(16)

    def packets(self, payloads: list[bytes], timestamp: int) -> list[bytes]:
        """RTP packets for one frame; the marker bit on its last packet (RFC 6184 5.1)."""
        out = []
        last = len(payloads) - 1
        head = RTP_VERSION.to_bytes(1, "big")
        ts = (timestamp % TS_MOD).to_bytes(4, "big")
        ssrc = self.ssrc.to_bytes(4, "big")
        for i, payload in enumerate(payloads):
            second = self.payload_type | (0x80 if i == last else 0)
            out.append(head + bytes((second,)) + self.seq.to_bytes(2, "big") + ts + ssrc + payload)
            self.seq = (self.seq + 1) % SEQ_MOD
        return out


class RtpOut:
    """The RTP copy of one show's relay: ``send_video``/``send_audio`` for every frame,
    to every destination added."""

    def __init__(self, codec: str, counts: dict[str, int]) -> None:
        self.codec = codec
        self.destinations: dict[str, Destination] = {}
        self._counts = counts  # MediaStats.rtp_packets: "sent", "dropped"
        self._video = RtpStream(VIDEO_PT)
        self._audio = RtpStream(AUDIO_PT)
        self._video_packer: H264Encoder | Vp8Encoder = (
            Vp8Encoder() if codec == "VP8" else H264Encoder()
        )
        self._audio_packer = OpusEncoder()
        self._sockets: dict[int, socket.socket] = {}

    def add(self, name: str, destination: Destination) -> None:
        self.destinations[name] = destination

    def remove(self, name: str) -> None:
        self.destinations.pop(name, None)

    def send_video(self, packet: av.Packet[Any]) -> None:
        if not self.destinations:
            return
        payloads, timestamp = self._video_packer.pack(packet)
        datagrams = self._video.packets(payloads, timestamp)
        for destination in list(self.destinations.values()):
            self._send(datagrams, destination.video)

    def send_audio(self, packet: av.Packet[Any]) -> None:
        if not self.destinations:
            return
        payloads, timestamp = self._audio_packer.pack(packet)
        datagrams = self._audio.packets(payloads, timestamp)
        for destination in list(self.destinations.values()):
            if destination.audio is not None:
                self._send(datagrams, destination.audio)

    def _send(self, datagrams: list[bytes], address: Address) -> None:
        sock = self._socket(address)
        sent = 0
        for datagram in datagrams:
            try:
                sock.sendto(datagram, address)
                sent += 1
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as exc:
                # An engine that is down answers with ICMP: the send fails now and then,
                # until the engine is back or its destination removed.
                log.debug("RTP to %s:%s failed: %s", address[0], address[1], exc)
        self._counts["sent"] += sent
        self._counts["dropped"] += len(datagrams) - sent

    def _socket(self, address: Address) -> socket.socket:
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        sock = self._sockets.get(family)
        if sock is None:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
            self._sockets[family] = sock
        return sock

    def close(self) -> None:
        self.destinations.clear()
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()
