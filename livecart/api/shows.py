"""Public show reads: what a viewer's page or a merchant's site shows about a show, and
the listing of shows live now or coming (the landing page's), a brand's or a creator's
shows, and those starting within a time range."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from livecart.api.edge import json_response, page_args, query_id, query_param, runtime_of
from livecart.api.endpoint import endpoint
from livecart.commerce.shows.listing import check_range, check_state, parse_ms, show_page
from livecart.commerce.shows.records import show_snapshot
from livecart.errors import NotFound
from livecart.store import keys


async def list_shows(request: Request) -> Response:
    """Every parameter is checked before anything is read: a bad one is refused by name
    (400), and a brand or creator that names nothing is 404 naming it, not an empty
    list (a typo must not look like "no shows")."""
    state = check_state(query_param(request, "state"))
    creator = query_id(request, "creator")
    brand = query_id(request, "brand")
    from_ms = parse_ms(query_param(request, "from"), "from")
    to_ms = parse_ms(query_param(request, "to"), "to")
    check_range(from_ms, to_ms)
    after, limit = page_args(request)
    redis = runtime_of(request).redis
    for field, value, key in (
        ("creator", creator, keys.creator),
        ("brand", brand, keys.brand),
    ):
        if value is not None and not await redis.exists(key(value)):
            raise NotFound(f"{field} {value!r} does not exist", field=field)
    page = await show_page(
        redis,
        state=state,
        creator=creator,
        brand=brand,
        from_ms=from_ms,
        to_ms=to_ms,
        after=after or "",
        limit=limit,
    )
    return json_response({"items": page.items, "next": page.next})


async def get_show(request: Request) -> Response:
    show_id: str = request.path_params["show_id"]
    runtime = runtime_of(request)
    return json_response(await show_snapshot(runtime.redis, show_id, runtime.scripts))


LIST_QUERY = ("state", "creator", "brand", "from", "to", "after", "limit")

routes = [
    endpoint("/api/shows", "GET", list_shows, query=LIST_QUERY),
    endpoint("/api/shows/{show_id}", "GET", get_show),
]
