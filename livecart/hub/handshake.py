"""The WebSocket opening handshake (RFC 6455, section 4.2), sans I/O: the upgrade
request's bytes in, the 101 (or the refusal) out.

uvicorn has already parsed the request with httptools before it hands the socket to the
hub, and passes it on as plain bytes (request line, lower-case header names); parsing
them again with websockets' general HTTP reader and building its ``ServerProtocol`` for
the handshake cost more than the rest of a join together (bench/RESULTS.md, "Connect
storm"). This module checks what RFC 6455 requires of the request and nothing more:
the hub negotiates no extension and no subprotocol, so a client's offers are ignored,
as the RFC allows. Frames after the handshake are websockets' (``ServerProtocol`` in
the OPEN state).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from http import HTTPStatus

# An upgrade request's line and headers. A browser's is under 2 KB, a token at most 4 KB;
# uvicorn lets larger heads through, so the hub refuses them itself (431).
MAX_HEAD_BYTES = 16 * 1024
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@dataclass(frozen=True, slots=True)
class Upgrade:
    """A valid upgrade request: its target and the headers the hub reads."""

    path: str
    query: str
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value
    accept: bytes  # Sec-WebSocket-Accept

    def response(self) -> bytes:
        return (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + self.accept + b"\r\n\r\n"
        )


class HandshakeError(Exception):
    """A request the handshake refuses: its status, a text saying why, extra headers."""

    def __init__(self, status: int, text: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.headers = headers

    def response(self) -> bytes:
        return refusal(self.status, self.text, self.headers)


def refusal(status: int, text: str, headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """An HTTP response refusing the upgrade; the server closes the connection after it."""
    body = f"Failed to open a WebSocket connection: {text}.\n".encode()
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines += [
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def head_too_large() -> HandshakeError:
    return HandshakeError(431, f"request head over {MAX_HEAD_BYTES} bytes")


def head_end(data: bytes) -> int:
    """Where the request's head ends (just past its blank line), or -1 if not yet."""
    end = data.find(b"\r\n\r\n")
    return -1 if end < 0 else end + 4


def read_upgrade(head: bytes) -> Upgrade:
    """Check an upgrade request's head (up to and including the blank line)."""
    if len(head) > MAX_HEAD_BYTES:
        raise head_too_large()
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        raise HandshakeError(400, "invalid HTTP request") from None
    request_line, _, rest = text.partition("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or parts[2] != "HTTP/1.1":
        raise HandshakeError(400, "invalid HTTP request line")
    method, target, _ = parts
    if method != "GET":
        raise HandshakeError(400, f"unsupported HTTP method {method!r}")
    if not target.startswith("/"):
        raise HandshakeError(400, "invalid request target")
    headers: dict[str, str] = {}
    keys = 0
    for line in rest.split("\r\n"):
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HandshakeError(400, "invalid HTTP header line")
        name = name.lower()
        value = value.strip()
        if name == "connection" and "connection" in headers:
            value = headers["connection"] + ", " + value  # a list header may repeat
        elif name == "sec-websocket-key":
            keys += 1
        headers[name] = value
    tokens = headers.get("connection", "").split(",")
    if "upgrade" not in (token.strip().lower() for token in tokens):
        raise HandshakeError(426, "missing Connection: Upgrade", (("Upgrade", "websocket"),))
    if headers.get("upgrade", "").lower() != "websocket":
        raise HandshakeError(426, "missing Upgrade: websocket", (("Upgrade", "websocket"),))
    key = headers.get("sec-websocket-key")
    if key is None or keys != 1:
        raise HandshakeError(400, "missing or repeated Sec-WebSocket-Key header")
    try:
        valid_key = len(base64.b64decode(key.encode(), validate=True)) == 16
    except (binascii.Error, ValueError):
        valid_key = False
    if not valid_key:
        raise HandshakeError(400, "invalid Sec-WebSocket-Key header")
    if headers.get("sec-websocket-version") != "13":
        raise HandshakeError(
            426, "unsupported Sec-WebSocket-Version", (("Sec-WebSocket-Version", "13"),)
        )
    path, _, query = target.partition("?")
    accept = base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest())
    return Upgrade(path=path, query=query, headers=headers, accept=accept)
