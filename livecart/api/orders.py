"""Orders and earnings: the merchant's order listings (API key), a buyer's own orders
(their token) and a creator's commission (API key, or the creator's own token).

Listings are newest first and paginated by cursor: ``next`` of one page is ``after`` of
the following one (see ``livecart.commerce.orders.records``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from livecart.api.edge import (
    claims_of,
    json_response,
    page_args,
    query_id,
    query_param,
    query_whole,
    require_admin,
    require_claims,
    runtime_of,
)
from livecart.api.endpoint import endpoint
from livecart.auth.api_key import HEADER
from livecart.auth.tokens import Role
from livecart.commerce.orders.projections import creator_earnings
from livecart.commerce.orders.records import (
    MAX_MS,
    PageRequest,
    check_status,
    get_order,
    list_buyer_orders,
    list_orders,
)
from livecart.errors import Forbidden, TokenMissing


def page_request(request: Request, *, time_range: bool = False) -> PageRequest:
    """``limit`` (1..200, default 50) and ``after``; with ``time_range``, also
    ``since_ms`` and ``until_ms`` (inclusive bounds on the confirmation time)."""
    after, limit = page_args(request)
    since = until = None
    if time_range:
        since = query_whole(request, "since_ms", lo=0, hi=MAX_MS)
        until = query_whole(request, "until_ms", lo=0, hi=MAX_MS)
    return PageRequest(limit=limit, after=after, since_ms=since, until_ms=until)


async def orders_list(request: Request) -> Response:
    show = query_id(request, "show")
    status = check_status(query_param(request, "status"))
    page = page_request(request, time_range=True)
    return json_response(
        await list_orders(runtime_of(request).redis, page, show=show, status=status)
    )


async def order_get(request: Request) -> Response:
    order_id: str = request.path_params["order_id"]
    return json_response(await get_order(runtime_of(request).redis, order_id))


async def my_orders(request: Request) -> Response:
    claims = require_claims(request)
    page = page_request(request)
    return json_response(await list_buyer_orders(runtime_of(request).redis, claims.sub, page))


async def earnings(request: Request) -> Response:
    """The merchant (API key) may read anyone's earnings; a creator, only their own."""
    creator: str = request.path_params["creator_id"]
    if request.headers.get(HEADER) is not None:
        require_admin(request)
    else:
        claims = claims_of(request)
        if claims is None:
            raise TokenMissing(
                "this endpoint needs the admin API key (X-API-Key) or the creator's token "
                "(Authorization: Bearer)"
            )
        if claims.role is not Role.ADMIN and claims.sub != creator:
            raise Forbidden(
                f"a token for {claims.sub!r} may not read the earnings of {creator!r}",
                field="creator",
            )
    page = page_request(request)
    return json_response(await creator_earnings(runtime_of(request).redis, creator, page))


PAGE = ("after", "limit")
routes = [
    endpoint(
        "/api/orders",
        "GET",
        orders_list,
        query=("show", "status", *PAGE, "since_ms", "until_ms"),
        admin=True,
    ),
    endpoint("/api/orders/{order_id}", "GET", order_get, admin=True),
    endpoint("/api/me/orders", "GET", my_orders, query=PAGE),
    endpoint("/api/creators/{creator_id}/earnings", "GET", earnings, query=PAGE),
]
