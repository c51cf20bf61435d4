"""The stream-position marker livecart puts in every H.264 access unit it forwards.

An SEI NAL unit of type ``user_data_unregistered`` (payload type 5): livecart's 16-byte
UUID, then the frame's position as 8 bytes, big-endian: milliseconds since the Unix
epoch on Redis' clock (``TIME``), the clock every show event is decided on. Decoders
ignore SEI they do not know; aiortc's packetizer, Janus' Streaming plugin and ffmpeg's
HLS remux pass it through; in the browser an ``RTCRtpScriptTransform`` reads it
(static/js/marker-worker.js parses exactly this layout).

The marker goes right before the access unit's first coded slice, after any access
unit delimiter, SPS and PPS, where H.264 wants SEI.
"""

from __future__ import annotations

import uuid

from livecart.media.h264 import (
    NAL_SEI,
    START_CODE,
    VCL_TYPES,
    escape_rbsp,
    nal_spans,
    unescape_rbsp,
)

#: Identifies livecart's marker among other user_data_unregistered SEI (x264 writes one).
MARKER_UUID = uuid.UUID("6c697665-6361-7274-2d70-6f732d763100")
_UUID = MARKER_UUID.bytes
SEI_USER_DATA_UNREGISTERED = 5
_PAYLOAD_SIZE = 16 + 8
_MAX_POSITION = (1 << 64) - 1


def marker_nal(position_ms: int) -> bytes:
    """The SEI NAL unit (without start code) that carries ``position_ms``."""
    if not 0 <= position_ms <= _MAX_POSITION:
        raise ValueError(f"position {position_ms} does not fit in 8 bytes")
    rbsp = (
        bytes([SEI_USER_DATA_UNREGISTERED, _PAYLOAD_SIZE])
        + _UUID
        + position_ms.to_bytes(8, "big")
        + b"\x80"  # rbsp_trailing_bits
    )
    return bytes([NAL_SEI]) + escape_rbsp(rbsp)


def stamp(access_unit: bytes, position_ms: int) -> bytes:
    """The access unit with ``position_ms`` marked before its first slice.

    A livecart marker already in the unit (a stream that passed through livecart
    before) is dropped first, so a frame never carries two positions. A unit with no
    slice (parameter sets alone) is returned unchanged.
    """
    spans = nal_spans(access_unit)
    out: list[bytes] = []
    marked = False
    for start, end in spans:
        kind = access_unit[start] & 0x1F
        if kind == NAL_SEI and _UUID in access_unit[start:end]:
            continue
        if not marked and kind in VCL_TYPES:
            out.append(START_CODE + marker_nal(position_ms))
            marked = True
        out.append(START_CODE + access_unit[start:end])
    return b"".join(out) if marked else access_unit


def read_marker(access_unit: bytes) -> int | None:
    """The position a livecart marker in the access unit carries, or None."""
    for start, end in nal_spans(access_unit):
        if access_unit[start] & 0x1F != NAL_SEI:
            continue
        found = _position_in_sei(unescape_rbsp(access_unit[start + 1 : end]))
        if found is not None:
            return found
    return None


def _position_in_sei(rbsp: bytes) -> int | None:
    """Walk the SEI messages of one NAL unit (payload type and size use 0xFF runs)."""
    i, n = 0, len(rbsp)
    while i < n and rbsp[i] != 0x80:
        payload_type = 0
        while i < n and rbsp[i] == 0xFF:
            payload_type += 255
            i += 1
        if i >= n:
            return None
        payload_type += rbsp[i]
        i += 1
        size = 0
        while i < n and rbsp[i] == 0xFF:
            size += 255
            i += 1
        if i >= n:
            return None
        size += rbsp[i]
        i += 1
        payload = rbsp[i : i + size]
        if (
            payload_type == SEI_USER_DATA_UNREGISTERED
            and size >= _PAYLOAD_SIZE
            and payload[:16] == _UUID
        ):
            return int.from_bytes(payload[16:24], "big")
        i += size
    return None
