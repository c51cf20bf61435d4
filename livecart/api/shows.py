"""Public show reads: what a viewer's page or a merchant's site shows about a show."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livecart.api.edge import json_response, runtime_of
from livecart.commerce.shows import show_snapshot
from livecart.store.keys import check_id


async def get_show(request: Request) -> Response:
    show_id = check_id(request.path_params["show_id"], "show")
    return json_response(await show_snapshot(runtime_of(request).redis, show_id))


routes = [Route("/api/shows/{show_id}", get_show, methods=["GET"])]
