"""Creators over HTTP: the merchant adds and lists creators and sets their showcases
(API key); anyone may read a creator, a showcase, or ask for a share link to a show."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from livecart.api.edge import json_response, page_args, query_id, runtime_of
from livecart.api.endpoint import Body, endpoint
from livecart.commerce.accounts import creators
from livecart.commerce.accounts.creators import CREATOR_FIELDS, Creator, showcase_from_dict
from livecart.errors import InvalidInput, NotFound

CREATOR = Body("a creator", CREATOR_FIELDS, lambda d, s: Creator.from_dict(d))
SHOWCASE = Body("a showcase", ("skus",), lambda d, s: showcase_from_dict(d))


def _creator(request: Request) -> str:
    creator: str = request.path_params["creator_id"]  # checked by the endpoint
    return creator


async def create_creator(request: Request, creator: Creator) -> Response:
    await creators.create_creator(runtime_of(request).redis, creator)
    return json_response(creator.to_dict(), status=201)


async def list_creators(request: Request) -> Response:
    after, limit = page_args(request)
    page = await creators.creator_page(runtime_of(request).redis, after=after or "", limit=limit)
    return json_response({"items": [c.to_dict() for c in page.items], "next": page.next})


async def get_creator(request: Request) -> Response:
    creator_id = _creator(request)
    creator = await creators.get_creator(runtime_of(request).redis, creator_id)
    if creator is None:
        raise NotFound(f"creator {creator_id!r} does not exist", field="creator")
    return json_response({"id": creator.id, "name": creator.name})


async def set_showcase(request: Request, skus: tuple[str, ...]) -> Response:
    creator_id = _creator(request)
    redis = runtime_of(request).redis
    await creators.set_showcase(redis, creator_id, skus)
    return json_response({"creator": creator_id, "skus": list(skus)})


async def get_showcase(request: Request) -> Response:
    creator_id = _creator(request)
    products = await creators.get_showcase(runtime_of(request).redis, creator_id)
    return json_response({"creator": creator_id, "items": [p.to_dict() for p in products]})


async def share_link(request: Request) -> Response:
    creator_id = _creator(request)
    show_id = query_id(request, "show")
    if show_id is None:
        raise InvalidInput(
            "show is required: GET /api/creators/CREATOR/share-link?show=SHOW", field="show"
        )
    runtime = runtime_of(request)
    link = await creators.share_link(runtime.redis, runtime.settings.base_url, creator_id, show_id)
    return json_response(link.to_dict())


routes = [
    endpoint("/api/creators", "POST", create_creator, body=CREATOR, admin=True),
    endpoint("/api/creators", "GET", list_creators, query=("after", "limit"), admin=True),
    endpoint("/api/creators/{creator_id}", "GET", get_creator),
    endpoint("/api/creators/{creator_id}/showcase", "PUT", set_showcase, body=SHOWCASE, admin=True),
    endpoint("/api/creators/{creator_id}/showcase", "GET", get_showcase),
    endpoint("/api/creators/{creator_id}/share-link", "GET", share_link, query=("show",)),
]
