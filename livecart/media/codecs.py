"""Which codecs a peer connection negotiates: the publisher's video is received in the
codec it sends (H.264 first), and every viewer is answered in that same codec, since
forwarded frames cannot change codec on the way.

aiortc lists only Constrained Baseline H.264 (it encodes Baseline itself); forwarding
needs no encoder, so livecart adds Main and High profile entries to aiortc's codec
table (``aiortc.codecs.CODECS``, part of the pinned-version seam) so an OBS set to High
profile is accepted and its viewers answered in High profile.
"""

from __future__ import annotations

from typing import Any

import aiortc.codecs
from aiortc import RTCRtpCodecCapability, RTCRtpCodecParameters
from aiortc.rtcrtpparameters import RTCRtcpFeedback
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.sdp import SessionDescription

EXTRA_H264_PROFILES = ("4d001f", "64001f")  # Main, High (level 3.1; levels are not matched)


def add_forwarded_profiles() -> None:
    """Add Main and High profile H.264 to aiortc's codec table, once."""
    video = aiortc.codecs.CODECS["video"]
    have = {
        str(c.parameters.get("profile-level-id"))
        for c in video
        if c.mimeType.lower() == "video/h264"
    }
    next_pt = max(c.payloadType for c in video if c.payloadType is not None) + 1
    for profile in EXTRA_H264_PROFILES:
        if profile in have:
            continue
        video.append(
            RTCRtpCodecParameters(
                mimeType="video/H264",
                clockRate=90000,
                payloadType=next_pt,
                rtcpFeedback=[
                    RTCRtcpFeedback(type="nack"),
                    RTCRtcpFeedback(type="nack", parameter="pli"),
                    RTCRtcpFeedback(type="goog-remb"),
                ],
                parameters={
                    "level-asymmetry-allowed": "1",
                    "packetization-mode": "1",
                    "profile-level-id": profile,
                },
            )
        )
        video.append(
            RTCRtpCodecParameters(
                mimeType="video/rtx",
                clockRate=90000,
                payloadType=next_pt + 1,
                parameters={"apt": next_pt},
            )
        )
        next_pt += 2


def preferences(
    kind: str, name: str, parameters: dict[str, Any] | None = None
) -> list[RTCRtpCodecCapability]:
    """aiortc's capabilities of ``kind`` named ``name`` (with exactly ``parameters`` when
    given), plus RTX for video so lost packets can be resent."""
    chosen = []
    rtx = []
    for capability in RTCRtpSender.getCapabilities(kind).codecs:
        codec_name = capability.mimeType.split("/", 1)[1]
        if codec_name.lower() == "rtx":
            rtx.append(capability)
        elif codec_name.lower() == name.lower() and (
            parameters is None or dict(capability.parameters) == parameters
        ):
            chosen.append(capability)
    return chosen + (rtx if kind == "video" and chosen else [])


def negotiated(sdp: str, kind: str) -> tuple[str, dict[str, Any]] | None:
    """The codec (name, fmtp parameters) a local answer settled on for ``kind``."""
    for media in SessionDescription.parse(sdp).media:
        if media.kind == kind:
            for codec in media.rtp.codecs:
                name = codec.mimeType.split("/", 1)[1]
                if name.lower() not in ("rtx", "red", "ulpfec"):
                    return name, dict(codec.parameters)
    return None
