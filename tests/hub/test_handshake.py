"""The opening handshake, sans I/O (livecart.hub.handshake): what RFC 6455 requires of an
upgrade request, checked without a server. The same requests through a real node are in
test_abuse.py (404s, a malformed upgrade)."""

from __future__ import annotations

import pytest

from livecart.hub.handshake import (
    MAX_HEAD_BYTES,
    HandshakeError,
    head_end,
    read_upgrade,
    refusal,
)

RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455, section 1.3
RFC_ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

GOOD = {
    "host": "127.0.0.1:8000",
    "upgrade": "websocket",
    "connection": "Upgrade",
    "sec-websocket-key": RFC_KEY,
    "sec-websocket-version": "13",
}


def request(
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    line: str = "GET /ws/shows/s1?token=abc&last=1-0 HTTP/1.1",
) -> bytes:
    if headers is None:
        headers = GOOD
    pairs = headers if isinstance(headers, list) else list(headers.items())
    return (line + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in pairs) + "\r\n").encode()


def test_a_valid_request_is_upgraded_with_the_rfcs_accept_key() -> None:
    upgrade = read_upgrade(request())
    assert upgrade.accept == RFC_ACCEPT
    assert (upgrade.path, upgrade.query) == ("/ws/shows/s1", "token=abc&last=1-0")
    assert upgrade.headers["host"] == "127.0.0.1:8000"
    response = upgrade.response()
    assert response.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"Sec-WebSocket-Accept: " + RFC_ACCEPT + b"\r\n" in response
    assert response.endswith(b"\r\n\r\n")


def test_header_names_in_any_case_and_a_connection_list_are_taken() -> None:
    headers = [
        ("Host", "x"),
        ("Upgrade", "WebSocket"),
        ("Connection", "keep-alive"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", RFC_KEY),
        ("Sec-WebSocket-Version", "13"),
        ("Authorization", "Bearer t"),
        ("Sec-WebSocket-Extensions", "permessage-deflate"),  # offered, not negotiated
    ]
    upgrade = read_upgrade(request(headers))
    assert upgrade.headers["authorization"] == "Bearer t"
    assert b"Extensions" not in upgrade.response()


@pytest.mark.parametrize(
    ("change", "status", "says"),
    [
        ({"connection": "keep-alive"}, 426, "Connection: Upgrade"),
        ({"upgrade": "h2c"}, 426, "Upgrade: websocket"),
        ({"sec-websocket-key": "short"}, 400, "Sec-WebSocket-Key"),
        ({"sec-websocket-key": "not base64 at all!!!!==="}, 400, "Sec-WebSocket-Key"),
        ({"sec-websocket-version": "8"}, 426, "Sec-WebSocket-Version"),
    ],
)
def test_a_request_missing_what_the_rfc_requires_is_refused_naming_it(
    change: dict[str, str], status: int, says: str
) -> None:
    with pytest.raises(HandshakeError) as refused:
        read_upgrade(request(GOOD | change))
    assert refused.value.status == status
    assert says in refused.value.text
    response = refused.value.response()
    assert response.startswith(f"HTTP/1.1 {status} ".encode())
    assert says.encode() in response


def test_a_missing_or_repeated_key_is_refused() -> None:
    missing = {k: v for k, v in GOOD.items() if k != "sec-websocket-key"}
    repeated = [*GOOD.items(), ("sec-websocket-key", RFC_KEY)]
    for headers in (missing, repeated):
        with pytest.raises(HandshakeError) as refused:
            read_upgrade(request(headers))
        assert refused.value.status == 400


@pytest.mark.parametrize(
    "line",
    [
        "POST /ws/shows/s1 HTTP/1.1",
        "GET /ws/shows/s1 HTTP/1.0",
        "GET /ws/shows/s1",
        "GET  HTTP/1.1",
    ],
)
def test_a_bad_request_line_is_refused_400(line: str) -> None:
    with pytest.raises(HandshakeError) as refused:
        read_upgrade(request(line=line))
    assert refused.value.status == 400


def test_a_426_tells_the_client_what_to_upgrade_to() -> None:
    with pytest.raises(HandshakeError) as refused:
        read_upgrade(request(GOOD | {"sec-websocket-version": "8"}))
    assert b"Sec-WebSocket-Version: 13\r\n" in refused.value.response()


def test_a_refusal_is_a_complete_http_response_that_closes() -> None:
    response = refusal(404, "no WebSocket endpoint here")
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404 Not Found")
    assert b"Connection: close" in head
    assert f"Content-Length: {len(body)}".encode() in head


def test_a_head_over_the_limit_is_refused_431() -> None:
    big = request(GOOD | {"x-padding": "a" * MAX_HEAD_BYTES})
    with pytest.raises(HandshakeError) as refused:
        read_upgrade(big)
    assert refused.value.status == 431
    assert refused.value.response().startswith(b"HTTP/1.1 431 Request Header Fields Too Large")


def test_the_head_ends_at_its_blank_line() -> None:
    whole = request()
    assert head_end(whole[:-2]) == -1
    assert head_end(whole + b"\x81\x80") == len(whole)
