"""What every HTTP handler shares: reading a bounded JSON body, the caller's credentials,
and turning livecart's errors into one JSON shape with a stable code."""

from __future__ import annotations

import re
from typing import Any

import orjson
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from livecart.api.pages import not_found_page
from livecart.auth.api_key import HEADER, check_api_key
from livecart.auth.roles import Action, authorize
from livecart.auth.tokens import Claims, verify_token
from livecart.errors import (
    InvalidInput,
    LivecartError,
    PayloadTooLarge,
    TokenInvalid,
    TokenMissing,
)
from livecart.paging import PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX
from livecart.runtime import Runtime
from livecart.store.keys import check_id

MAX_BODY_BYTES = 1 << 20
_DIGITS = re.compile(r"[0-9]{1,16}")


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


async def read_body(request: Request, max_bytes: int = MAX_BODY_BYTES) -> bytes:
    """The raw body, refused (413 naming ``body``) as soon as it is larger than
    ``max_bytes``: a client cannot make the node buffer more than that."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"the body is larger than {max_bytes} bytes", field="body")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise PayloadTooLarge(f"the body is larger than {max_bytes} bytes", field="body")
    return bytes(body)


def query_param(request: Request, name: str) -> str | None:
    """A query parameter given at most once (two values would leave which one wins unsaid)."""
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise InvalidInput(f"{name} is given {len(values)} times; give it once", field=name)
    return values[0] if values else None


def query_id(request: Request, name: str) -> str | None:
    """An id given as a query parameter, or None when absent; ``?show=`` (present and
    empty) is refused, not taken for "no filter"."""
    raw = query_param(request, name)
    return None if raw is None else check_id(raw, name)


def query_whole(request: Request, name: str, *, lo: int, hi: int) -> int | None:
    """A whole-number query parameter in [lo, hi], or None when absent (``limit=`` with
    no value is malformed, not absent)."""
    raw = query_param(request, name)
    if raw is None:
        return None
    if _DIGITS.fullmatch(raw) is None or not lo <= int(raw) <= hi:
        raise InvalidInput(f"{name} must be a whole number between {lo} and {hi}", field=name)
    return int(raw)


def page_args(request: Request) -> tuple[str | None, int]:
    """``after`` (an id, or None for the first page) and ``limit`` (1..PAGE_LIMIT_MAX)."""
    after = query_id(request, "after")
    limit = query_whole(request, "limit", lo=1, hi=PAGE_LIMIT_MAX)
    return after, PAGE_LIMIT_DEFAULT if limit is None else limit


def require_admin(request: Request) -> None:
    check_api_key(runtime_of(request).settings.auth.admin_api_key, request.headers.get(HEADER))


def claims_of(request: Request) -> Claims | None:
    """The verified claims of the ``Authorization: Bearer`` token, or None without one.

    A token that is present but forged, altered or expired is refused, never ignored.
    """
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenInvalid("the Authorization header must be 'Bearer <token>'")
    auth = runtime_of(request).settings.auth
    return verify_token(auth.secret, token.strip(), leeway_s=auth.leeway_s)


def require_claims(request: Request) -> Claims:
    claims = claims_of(request)
    if claims is None:
        raise TokenMissing("this endpoint needs a token in the Authorization: Bearer header")
    return claims


def staff_actor(request: Request, action: Action, show_id: str) -> str:
    """Who performs a staff action: the merchant (admin API key) or a token holder whose
    role and show allow it. Returns an id for the event's ``by`` field."""
    if request.headers.get(HEADER) is not None:
        require_admin(request)
        return "merchant"
    claims = authorized(request, action, show_id)
    if claims is None:  # only WATCH may be anonymous, and no staff action is WATCH
        raise TokenMissing(f"{action} needs a token or the API key")
    return claims.sub


def buyer_of(request: Request, show_id: str) -> str:
    """The buying user: any token whose role and show scope allow buying here."""
    claims = authorized(request, Action.BUY, show_id)
    assert claims is not None  # authorize() refuses anonymous buys
    return claims.sub


def authorized(request: Request, action: Action, show_id: str) -> Claims | None:
    """The caller's claims when they may do ``action`` on ``show_id``; raise otherwise."""
    claims = claims_of(request)
    authorize(
        claims,
        action,
        show_id,
        anonymous_viewers=runtime_of(request).settings.auth.anonymous_viewers,
    )
    return claims


async def livecart_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LivecartError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else {}
    retry_after_ms = exc.extra.get("retry_after_ms")
    if isinstance(retry_after_ms, int) and exc.http_status in (409, 429, 503):
        headers["Retry-After"] = str(max(1, -(-retry_after_ms // 1000)))
    return JSONResponse(exc.to_dict(), status_code=exc.http_status, headers=headers)


async def redis_error(request: Request, exc: Exception) -> Response:
    return JSONResponse(
        {"error": "store_unavailable", "message": f"Redis did not answer: {exc}"}, status_code=503
    )


# What Starlette itself refuses (no route, wrong method), in the API's shape.
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals as JSON; a browser asking for a page that does not exist
    gets the not-found page instead (the API and the hub paths always answer JSON)."""
    assert isinstance(exc, HTTPException)
    path = request.url.path
    if (
        exc.status_code == 404
        and request.method in ("GET", "HEAD")
        and "text/html" in request.headers.get("accept", "")
        and not path.startswith(("/api/", "/ws/"))
    ):
        return not_found_page()
    code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    if exc.status_code == 404:
        message = f"nothing here: {path[:200]} (see docs/api.md for the API's paths)"
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        message = f"{request.method} is not allowed on {path[:200]}; it takes {allowed}"
    else:
        message = exc.detail
    return JSONResponse(
        {"error": code, "message": message}, status_code=exc.status_code, headers=exc.headers
    )


async def internal_error(request: Request, exc: Exception) -> Response:
    """A bug: the client gets the API's shape, the log gets the traceback (Starlette
    re-raises after this response)."""
    return JSONResponse(
        {"error": "internal", "message": "livecart failed to answer this request (a bug)"},
        status_code=500,
    )


EXCEPTION_HANDLERS = {
    LivecartError: livecart_error,
    RedisError: redis_error,
    HTTPException: http_error,
    Exception: internal_error,
}
