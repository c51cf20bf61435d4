"""Public show reads: what a viewer's page or a merchant's site shows about a show, and
the listing of shows live now or coming (the landing page's)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livecart.api.edge import json_response, page_args, query_param, runtime_of
from livecart.commerce.creators import get_creator
from livecart.commerce.show_list import check_state, show_page
from livecart.commerce.shows import show_snapshot
from livecart.errors import InvalidInput, NotFound
from livecart.store.keys import check_id

LIST_PARAMS = ("state", "creator", "after", "limit")


async def list_shows(request: Request) -> Response:
    for name in request.query_params:
        if name not in LIST_PARAMS:
            raise InvalidInput(
                f"GET /api/shows has no query parameter {name[:40]!r}; "
                f"it takes {', '.join(LIST_PARAMS)}",
                field=name[:40],
            )
    state = check_state(query_param(request, "state"))
    creator = query_param(request, "creator")
    if creator is not None:
        check_id(creator, "creator")
    after, limit = page_args(request)
    redis = runtime_of(request).redis
    if creator is not None and await get_creator(redis, creator) is None:
        raise NotFound(f"creator {creator!r} does not exist", field="creator")
    page = await show_page(redis, state=state, creator=creator, after=after or "", limit=limit)
    return json_response({"items": page.items, "next": page.next})


async def get_show(request: Request) -> Response:
    show_id = check_id(request.path_params["show_id"], "show")
    return json_response(await show_snapshot(runtime_of(request).redis, show_id))


routes = [
    Route("/api/shows", list_shows, methods=["GET"]),
    Route("/api/shows/{show_id}", get_show, methods=["GET"]),
]
