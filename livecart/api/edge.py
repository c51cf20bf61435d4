"""What every HTTP handler shares: reading a bounded JSON body, the caller's credentials,
and turning livecart's errors into one JSON shape with a stable code."""

from __future__ import annotations

from typing import Any

import orjson
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from livecart.auth.api_key import HEADER, check_api_key
from livecart.errors import InvalidInput, LivecartError
from livecart.runtime import Runtime

MAX_BODY_BYTES = 1 << 20


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


async def read_json(request: Request, max_bytes: int = MAX_BODY_BYTES) -> Any:
    """The request's JSON body, refused when too large, not JSON, or not UTF-8."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise InvalidInput(f"body is larger than {max_bytes} bytes", field="body")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise InvalidInput(f"body is larger than {max_bytes} bytes", field="body")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"body is not valid JSON: {exc}", field="body") from None


def require_admin(request: Request) -> None:
    check_api_key(runtime_of(request).settings.auth.admin_api_key, request.headers.get(HEADER))


async def livecart_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LivecartError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
    return JSONResponse(exc.to_dict(), status_code=exc.http_status, headers=headers)


async def redis_error(request: Request, exc: Exception) -> Response:
    return JSONResponse(
        {"error": "store_unavailable", "message": f"Redis did not answer: {exc}"}, status_code=503
    )


EXCEPTION_HANDLERS = {LivecartError: livecart_error, RedisError: redis_error}
