"""WebSocket bytes the hub writes itself: server frames are never masked and livecart
negotiates no extension, so a text frame is a 2-10 byte header and the payload. Framing
once and writing the same bytes to every socket is what keeps a delivery near the cost
of the kernel's write (bench/RESULTS.md, "Fan-out")."""

from __future__ import annotations

import orjson

PING_FRAME = b"\x89\x00"  # FIN + ping, empty payload: the same bytes for every socket


def text_frame(payload: bytes) -> bytes:
    """One unfragmented, unmasked text frame carrying ``payload`` (UTF-8 JSON)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return bytes((0x81, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + n.to_bytes(8, "big") + payload


def message_frame(message: object) -> bytes:
    """A personal message (hello, ack, error, order result), encoded and framed."""
    return text_frame(orjson.dumps(message))
