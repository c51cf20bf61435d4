"""Forward, never re-encode: the seam that makes aiortc hand over encoded frames.

Stock aiortc decodes every received frame in a thread per receiver and re-encodes it for
every sender: 0.32 core per 480p H.264 viewer here, against about 0.007 to forward the
encoded frames. Its sender side forwards publicly (a track whose ``recv()`` returns an
``av.Packet`` is only packetized). Its receiver side has no API for it (aiortc issues
#449, #544): the receiver starts ``aiortc.rtcrtpreceiver.decoder_worker`` by its module
global name, so livecart replaces that function with one that wraps each reassembled
frame in an ``av.Packet`` (pts: the frame's RTP timestamp, time base 1/clock rate) and
never decodes.

The seam depends on aiortc's internals, so the version is pinned in pyproject.toml and
``check_seam()`` fails loudly at start-up (and in tests) if any part of it moved.
"""

from __future__ import annotations

import asyncio
import fractions
import inspect
import queue
import threading
import time
from typing import Any

import aioice
import aioice.ice
import aiortc
import aiortc.codecs
import aiortc.rtcicetransport
import aiortc.rtcrtpreceiver
import aiortc.rtcrtpsender
import av

#: The aiortc and aioice releases the seams were written and tested against.
AIORTC_VERSION = "1.16.0"
AIOICE_VERSION = "0.13.0"


def passthrough_worker(
    loop: asyncio.AbstractEventLoop,
    input_q: queue.Queue[Any],
    output_q: asyncio.Queue[Any],
    decode_error: threading.Event,
) -> None:
    """aiortc's ``decoder_worker`` signature; puts ``av.Packet``s, not frames, on the
    track's queue. ``packet.opaque`` is the monotonic time (ns) the frame was complete:
    the stream clock stamps the frame with it. ``decode_error`` is never set: nothing
    is decoded, so nothing fails to decode."""
    put = output_q.put_nowait
    while True:
        task = input_q.get()
        if task is None:
            loop.call_soon_threadsafe(put, None)  # the track ends
            return
        codec, encoded_frame = task
        packet = av.Packet(encoded_frame.data)
        packet.pts = encoded_frame.timestamp
        packet.time_base = fractions.Fraction(1, codec.clockRate)
        packet.opaque = time.monotonic_ns()
        loop.call_soon_threadsafe(put, packet)


class SeamMoved(RuntimeError):
    """aiortc changed where livecart's pass-through hooks in."""


def check_seam() -> None:
    """Raise SeamMoved unless aiortc is the pinned release and still starts its decoder
    thread by the module global ``decoder_worker``, and its sender still packetizes
    packets and asks for keyframes through ``_send_keyframe``."""
    if aiortc.__version__ != AIORTC_VERSION:
        raise SeamMoved(
            f"aiortc {aiortc.__version__} is installed; livecart's pass-through was built "
            f"for {AIORTC_VERSION} (pinned in pyproject.toml)"
        )
    if aioice.__version__ != AIOICE_VERSION:
        raise SeamMoved(
            f"aioice {aioice.__version__} is installed; livecart's ICE settings were built "
            f"for {AIOICE_VERSION} (pinned in pyproject.toml)"
        )
    receive_source = inspect.getsource(aiortc.rtcrtpreceiver.RTCRtpReceiver.receive)
    if "target=decoder_worker" not in receive_source:
        raise SeamMoved("RTCRtpReceiver.receive no longer starts decoder_worker by name")
    sender = aiortc.rtcrtpsender.RTCRtpSender
    if "self._send_keyframe()" not in inspect.getsource(sender._handle_rtcp_packet):
        raise SeamMoved("RTCRtpSender no longer asks for keyframes via _send_keyframe()")
    if "self.__encoder.pack(data)" not in inspect.getsource(sender._next_encoded_frame):
        raise SeamMoved("RTCRtpSender no longer packetizes pre-encoded packets")
    if not callable(getattr(aiortc.rtcrtpreceiver.RTCRtpReceiver, "_send_rtcp_pli", None)):
        raise SeamMoved("RTCRtpReceiver no longer has _send_rtcp_pli (keyframe requests)")
    if "Connection(" not in inspect.getsource(aiortc.rtcicetransport.RTCIceGatherer.__init__):
        raise SeamMoved("RTCIceGatherer no longer makes aioice's Connection by name")
    gather = inspect.getsource(aioice.ice.Connection.gather_candidates)
    if "get_host_addresses(" not in gather:
        raise SeamMoved("aioice no longer gathers host addresses through get_host_addresses")
    if not isinstance(getattr(aiortc.codecs, "CODECS", None), dict):
        raise SeamMoved("aiortc.codecs.CODECS, the codec table, is gone")


def install() -> None:
    """Make every aiortc receiver in this process forward instead of decode. Idempotent.

    Process-wide on purpose: a livecart node never needs a decoded frame.
    """
    check_seam()
    aiortc.rtcrtpreceiver.decoder_worker = passthrough_worker


def installed() -> bool:
    return aiortc.rtcrtpreceiver.decoder_worker is passthrough_worker
