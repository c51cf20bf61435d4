"""Public show reads: what a viewer's page or a merchant's site shows about a show, and
the listing of shows live now or coming (the landing page's)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from livecart.api.edge import json_response, page_args, query_id, query_param, runtime_of
from livecart.api.endpoint import endpoint
from livecart.commerce.accounts.creators import get_creator
from livecart.commerce.shows.listing import check_state, show_page
from livecart.commerce.shows.records import show_snapshot
from livecart.errors import NotFound


async def list_shows(request: Request) -> Response:
    state = check_state(query_param(request, "state"))
    creator = query_id(request, "creator")
    after, limit = page_args(request)
    redis = runtime_of(request).redis
    if creator is not None and await get_creator(redis, creator) is None:
        raise NotFound(f"creator {creator!r} does not exist", field="creator")
    page = await show_page(redis, state=state, creator=creator, after=after or "", limit=limit)
    return json_response({"items": page.items, "next": page.next})


async def get_show(request: Request) -> Response:
    show_id: str = request.path_params["show_id"]
    return json_response(await show_snapshot(runtime_of(request).redis, show_id))


routes = [
    endpoint("/api/shows", "GET", list_shows, query=("state", "creator", "after", "limit")),
    endpoint("/api/shows/{show_id}", "GET", get_show),
]
