"""livecart's own errors, each with a stable code that clients, logs and docs name.

Codes never change meaning once published; a page may switch on them. An error that
reaches a client is turned into ``{"error": code, "message": ..., "field": ...}`` by the
edge (HTTP API or WebSocket), never by the code that raised it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class LivecartError(Exception):
    """Base of every error livecart raises on purpose."""

    code: str = "error"
    http_status: int = 500

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code  # a more specific stable code than the class's
        # Facts a client acts on, e.g. {"until_ms": ...} for muted, {"retry_after_ms": ...}.
        self.extra = dict(extra) if extra else {}

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        body.update(self.extra)
        return body


class ConfigError(LivecartError):
    """A setting is missing, unknown or out of range; start-up stops."""

    code = "config_invalid"


class InvalidInput(LivecartError):
    """A request or message failed validation at the edge; nothing was changed."""

    code = "invalid"
    http_status = 400


class NotFound(LivecartError):
    code = "not_found"
    http_status = 404


class Conflict(LivecartError):
    code = "conflict"
    http_status = 409


class AuthError(LivecartError):
    """Base of the errors that mean: who you are could not be established."""

    code = "unauthenticated"
    http_status = 401


class TokenMissing(AuthError):
    code = "token_missing"


class TokenExpired(AuthError):
    code = "token_expired"


class TokenInvalid(AuthError):
    """Bad signature, altered payload, wrong algorithm, malformed or incomplete claims."""

    code = "token_invalid"


class ApiKeyInvalid(AuthError):
    code = "api_key_invalid"


class Forbidden(LivecartError):
    """Who you are is known, but your role or show scope does not allow the action."""

    code = "forbidden"
    http_status = 403


class RateLimited(LivecartError):
    """Too much, too fast: try again after ``retry_after_ms`` (in ``extra``)."""

    code = "rate_limited"
    http_status = 429


class PayloadTooLarge(LivecartError):
    """The request body is larger than the endpoint takes; nothing was read past it."""

    code = "too_large"
    http_status = 413


class UnsupportedMediaType(LivecartError):
    """The request body is not of the type the endpoint takes (WHIP/WHEP: application/sdp)."""

    code = "unsupported_media_type"
    http_status = 415


class Unprocessable(LivecartError):
    """Well-formed, but livecart cannot do what it asks (an offer with no codec livecart
    can forward)."""

    code = "unprocessable"
    http_status = 422


class Unavailable(LivecartError):
    """This node cannot take it now (a cap is reached, a part is off); ``retry_after_ms``
    in ``extra`` when trying again later may work."""

    code = "unavailable"
    http_status = 503


class StoreUnavailable(LivecartError):
    """Redis cannot be reached or did not answer in time."""

    code = "store_unavailable"
    http_status = 503


class EmbeddedRedisError(LivecartError):
    """The embedded server could not be started or stopped cleanly."""

    code = "embedded_redis_failed"
