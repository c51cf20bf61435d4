"""Creators over HTTP: the merchant adds and lists creators and sets their showcases
(API key); anyone may read a creator, a showcase, or ask for a share link to a show."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livecart.api.edge import (
    json_response,
    object_body,
    page_args,
    query_param,
    read_json,
    require_admin,
    runtime_of,
)
from livecart.commerce import creators
from livecart.commerce.creators import Creator, showcase_from_dict
from livecart.errors import InvalidInput, NotFound
from livecart.store.keys import check_id


async def create_creator(request: Request) -> Response:
    require_admin(request)
    creator = Creator.from_dict(object_body(await read_json(request)))
    await creators.create_creator(runtime_of(request).redis, creator)
    return json_response(creator.to_dict(), status=201)


async def list_creators(request: Request) -> Response:
    require_admin(request)
    after, limit = page_args(request)
    page = await creators.creator_page(runtime_of(request).redis, after=after or "", limit=limit)
    return json_response({"items": [c.to_dict() for c in page.items], "next": page.next})


async def get_creator(request: Request) -> Response:
    creator_id = check_id(request.path_params["creator_id"], "creator")
    creator = await creators.get_creator(runtime_of(request).redis, creator_id)
    if creator is None:
        raise NotFound(f"creator {creator_id!r} does not exist", field="creator")
    return json_response({"id": creator.id, "name": creator.name})


async def set_showcase(request: Request) -> Response:
    require_admin(request)
    creator_id = check_id(request.path_params["creator_id"], "creator")
    skus = showcase_from_dict(object_body(await read_json(request)))
    redis = runtime_of(request).redis
    await creators.set_showcase(redis, creator_id, skus)
    return json_response({"creator": creator_id, "skus": list(skus)})


async def get_showcase(request: Request) -> Response:
    creator_id = check_id(request.path_params["creator_id"], "creator")
    products = await creators.get_showcase(runtime_of(request).redis, creator_id)
    return json_response({"creator": creator_id, "items": [p.to_dict() for p in products]})


async def share_link(request: Request) -> Response:
    creator_id = check_id(request.path_params["creator_id"], "creator")
    show_id = query_param(request, "show")
    if not show_id:
        raise InvalidInput(
            "show is required: GET /api/creators/CREATOR/share-link?show=SHOW", field="show"
        )
    check_id(show_id, "show")
    runtime = runtime_of(request)
    link = await creators.share_link(runtime.redis, runtime.settings.base_url, creator_id, show_id)
    return json_response(link.to_dict())


routes = [
    Route("/api/creators", create_creator, methods=["POST"]),
    Route("/api/creators", list_creators, methods=["GET"]),
    Route("/api/creators/{creator_id}", get_creator, methods=["GET"]),
    Route("/api/creators/{creator_id}/showcase", set_showcase, methods=["PUT"]),
    Route("/api/creators/{creator_id}/showcase", get_showcase, methods=["GET"]),
    Route("/api/creators/{creator_id}/share-link", share_link, methods=["GET"]),
]
