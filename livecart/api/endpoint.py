"""One way in for every HTTP request.

Each endpoint declares what it takes: its body (a ``Body`` schema, no body, or a raw
body its handler reads itself), the query parameters it accepts, and the ids in its
path that must name something that exists. ``endpoint()`` checks all of it before the
handler runs, in one order for every endpoint: path ids well-formed, query names known
and each given once, body of the right type and size, decoded strictly (an unknown
field, a wrong type, a value out of range or a control character is refused by name),
then the path ids resolved against Redis. A handler receives typed, checked input, and a
refused request has changed nothing: nothing is written before the handler runs.

The API key of ``admin`` endpoints is checked first of all. Tokens are checked by the
handler (the role and show they must allow differ per endpoint), so there a malformed
request may be refused before its token is looked at: a caller learns only what anyone
may (the shape of a request, whether a show exists, which the public show page tells).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, overload

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livecart.api.edge import MAX_BODY_BYTES, read_body, require_admin, runtime_of
from livecart.config import Settings
from livecart.errors import InvalidInput, NotFound, UnsupportedMediaType
from livecart.store import keys
from livecart.validation import refuse_unknown_fields, require_mapping

T = TypeVar("T")
Handler = Callable[[Request], Awaitable[Response]]
BodyHandler = Callable[[Request, T], Awaitable[Response]]

# What a refusal calls a path parameter (``/api/webhooks/{delivery_id}`` -> "webhook",
# as the docs and earlier releases name it); a parameter not listed is named as is.
PATH_FIELDS = {
    "show_id": "show",
    "brand_id": "brand",
    "creator_id": "creator",
    "order_id": "order",
    "delivery_id": "webhook",
}

# Ids a path may be required to name, and the key that exists when it does.
EXISTS: dict[str, Callable[[str], str]] = {
    "show": keys.show,
    "brand": keys.brand,
    "creator": keys.creator,
}

# Types a JSON body may be sent as. A missing Content-Type and curl's ``-d`` default
# (``application/x-www-form-urlencoded``) are taken as JSON too: the body is parsed as
# JSON either way, and refusing curl's default would break every one-line example.
_JSON_TYPES = ("application/json", "application/x-www-form-urlencoded", "")


@dataclass(frozen=True)
class Body(Generic[T]):
    """A request body's declared schema: the object it is (for refusals), its fields,
    and the strict decoder that turns the JSON object into a typed value."""

    what: str
    fields: tuple[str, ...]
    decode: Callable[[Mapping[str, Any], Settings], T]
    max_bytes: int = MAX_BODY_BYTES


RAW: Literal["raw"] = "raw"
"""The handler reads the body itself (an SDP offer, a CSV import)."""


@overload
def endpoint(
    path: str,
    method: str,
    handler: Handler,
    *,
    body: Literal["raw"] | None = None,
    query: tuple[str, ...] = (),
    exists: tuple[str, ...] = (),
    admin: bool = False,
) -> Route: ...


@overload
def endpoint(
    path: str,
    method: str,
    handler: BodyHandler[T],
    *,
    body: Body[T],
    query: tuple[str, ...] = (),
    exists: tuple[str, ...] = (),
    admin: bool = False,
) -> Route: ...


def endpoint(
    path: str,
    method: str,
    handler: Any,
    *,
    body: Body[Any] | Literal["raw"] | None = None,
    query: tuple[str, ...] = (),
    exists: tuple[str, ...] = (),
    admin: bool = False,
) -> Route:
    """A route whose input is checked as declared before ``handler`` runs.

    ``admin`` endpoints (the merchant's, with the API key) check the key before
    anything else, so a caller without it learns nothing, not even what exists.

    ``exists`` names path parameters (by their field name: show, brand, creator) that
    must name something stored: a well-formed id that names nothing is 404
    ``not_found`` naming it, for every method, before any write.
    """
    for name in exists:
        if name not in EXISTS:
            raise ValueError(f"{path}: no existence check for {name!r}")
    signature = f"{method} {path}"

    async def checked(request: Request) -> Response:
        if admin:
            require_admin(request)
        ids = _path_ids(request)
        _check_query(request, query, signature)
        decoded: Any = None
        if isinstance(body, Body):
            decoded = await _decode_body(request, body, runtime_of(request).settings)
        elif body is None:
            await _refuse_body(request, signature)
        for name in exists:
            await _require_stored(request, name, ids[name])
        if isinstance(body, Body):
            response: Response = await handler(request, decoded)
        else:
            response = await handler(request)
        return response

    checked.__name__ = getattr(handler, "__name__", "endpoint")
    return Route(path, checked, methods=[method])


def _path_ids(request: Request) -> dict[str, str]:
    """Every path parameter, checked as an id; keyed by the field name refusals use."""
    ids = {}
    for name, value in request.path_params.items():
        field = PATH_FIELDS.get(name, name)
        ids[field] = keys.check_id(value, field)
    return ids


def _check_query(request: Request, allowed: tuple[str, ...], signature: str) -> None:
    """Unknown query parameters are refused by name (a typo such as ``?limt=5`` must not
    silently give the default), and each parameter is given at most once."""
    seen: set[str] = set()
    for name, _ in request.query_params.multi_items():
        shown = name[:40]
        if name not in allowed:
            takes = f"it takes {', '.join(allowed)}" if allowed else "it takes none"
            raise InvalidInput(
                f"{signature} has no query parameter {shown!r}; {takes}", field=shown
            )
        if name in seen:
            raise InvalidInput(f"{shown} is given more than once; give it once", field=shown)
        seen.add(name)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def _decode_body(request: Request, schema: Body[T], settings: Settings) -> T:
    media_type = _media_type(request)
    if media_type not in _JSON_TYPES and not media_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"the body must be JSON sent as Content-Type: application/json (got {media_type})",
            field="content-type",
        )
    raw = await read_body(request, schema.max_bytes)
    if not raw.strip():
        raise InvalidInput(f"the body must be {schema.what} as a JSON object", field="body")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the body is not valid JSON: {exc}", field="body") from None
    mapping = require_mapping(data, "body")
    refuse_unknown_fields(mapping, schema.fields, schema.what)
    return schema.decode(mapping, settings)


async def _refuse_body(request: Request, signature: str) -> None:
    """An endpoint that takes no body refuses one with fields in it (a client that sends
    ``{"reason": ...}`` to one expects it used); nothing, or ``{}``, is fine."""
    raw = await read_body(request, 4096)
    if not raw.strip():
        return
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = raw
    if data != {}:
        raise InvalidInput(f"{signature} takes no body; send none (or {{}})", field="body")


async def _require_stored(request: Request, kind: str, value: str) -> None:
    """404 ``not_found`` naming ``kind`` unless the ``kind`` (show, brand, creator)
    named ``value`` is stored."""
    if not await runtime_of(request).redis.exists(EXISTS[kind](value)):
        raise NotFound(f"{kind} {value!r} does not exist", field=kind)
