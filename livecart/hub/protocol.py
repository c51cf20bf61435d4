"""The hub's wire protocol, version 1: close codes and the envelope every client message
has. docs/protocol.md is the reference for clients; this module is its single source
in code (message shapes per type are decoded in ``livecart.hub.commands``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import orjson

from livecart.errors import InvalidInput

PROTOCOL_VERSION = 1
PATH = re.compile(r"^/ws/shows/([^/?#]+)$")
MAX_REQ_CHARS = 64


class CloseCode(IntEnum):
    """Why the server closed a socket. ``RESUMABLE`` ones mean: reconnect with your last
    event id (after ``retry_after_ms`` when the reason gives one)."""

    NORMAL = 1000
    GOING_AWAY = 1001  # idle: no pong for two ping intervals
    UNSUPPORTED_DATA = 1003  # a binary frame
    INVALID_DATA = 1007  # a text message that is not UTF-8
    POLICY = 1008  # flooding: far past the message rate
    TOO_BIG = 1009  # a message over hub.max_message_bytes
    INTERNAL = 1011
    RESTARTING = 1012  # this node is stopping; resume on another
    TRY_AGAIN = 1013  # this node is full
    SLOW_CONSUMER = 4001  # fell too far behind; resume
    UNAUTHENTICATED = 4401  # token missing, expired or invalid
    FORBIDDEN = 4403  # banned, or the token is for another show / role
    SHOW_NOT_FOUND = 4404
    JOIN_RATE = 4429  # too many joins on this node right now; reason: retry_after_ms


RESUMABLE = frozenset(
    {
        CloseCode.GOING_AWAY,
        CloseCode.INTERNAL,
        CloseCode.RESTARTING,
        CloseCode.TRY_AGAIN,
        CloseCode.SLOW_CONSUMER,
        CloseCode.JOIN_RATE,
    }
)


@dataclass(frozen=True)
class Inbound:
    type: str
    req: str | int | None
    body: dict[str, Any]


def decode_inbound(text: str) -> Inbound:
    """The envelope of a client message; the body is checked by the type's handler."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the message is not valid JSON: {exc}", code="bad_json") from None
    if not isinstance(data, dict):
        raise InvalidInput("a message must be a JSON object", code="bad_json")
    req = data.get("req")
    if req is not None and not (
        (isinstance(req, str) and len(req) <= MAX_REQ_CHARS)
        or (isinstance(req, int) and not isinstance(req, bool) and abs(req) < 2**53)
    ):
        raise InvalidInput(
            f"req must be a string of at most {MAX_REQ_CHARS} characters or a whole number",
            field="req",
        )
    kind = data.get("type")
    if not isinstance(kind, str):
        raise InvalidInput("type must be a string naming the message", field="type")
    return Inbound(kind, req, data)


def error_message(
    code: str,
    message: str,
    *,
    req: str | int | None = None,
    kind: str | None = None,
    field: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if req is not None:
        body["req"] = req
    if kind is not None:
        body["for"] = kind
    if field is not None:
        body["field"] = field
    if extra:
        body.update(extra)
    return body
