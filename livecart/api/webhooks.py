"""Webhooks: a brand's endpoint (URL and signing secret), its deliveries, one delivery's
state, and the dead letters with their redelivery. All take the admin API key."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livecart.api.edge import json_response, object_body, read_json, require_admin, runtime_of
from livecart.api.orders import page_request
from livecart.commerce.catalog import get_brand
from livecart.commerce.webhooks import (
    Endpoint,
    delete_endpoint,
    endpoint_url,
    get_delivery,
    get_endpoint,
    list_brand_deliveries,
    list_dead,
    put_endpoint,
    redeliver,
)
from livecart.errors import InvalidInput, NotFound
from livecart.store.keys import check_id


async def _known_brand(request: Request) -> str:
    brand_id = check_id(request.path_params["brand_id"], "brand")
    if await get_brand(runtime_of(request).redis, brand_id) is None:
        raise NotFound(f"brand {brand_id!r} does not exist", field="brand")
    return brand_id


def _shown(brand_id: str, endpoint: Endpoint) -> dict[str, object]:
    return {
        "brand": brand_id,
        "url": endpoint.url,
        "secret": endpoint.secret,
        "updated_at_ms": endpoint.updated_at_ms,
    }


async def put_webhook(request: Request) -> Response:
    require_admin(request)
    brand_id = await _known_brand(request)
    body = object_body(await read_json(request))
    url = endpoint_url(body)
    rotate = body.get("rotate_secret", False)
    if not isinstance(rotate, bool):
        raise InvalidInput("rotate_secret must be true or false", field="rotate_secret")
    endpoint, created = await put_endpoint(
        runtime_of(request).redis, brand_id, url, rotate_secret=rotate
    )
    return json_response(_shown(brand_id, endpoint), status=201 if created else 200)


async def get_webhook(request: Request) -> Response:
    require_admin(request)
    brand_id = await _known_brand(request)
    endpoint = await get_endpoint(runtime_of(request).redis, brand_id)
    if endpoint is None:
        raise NotFound(f"brand {brand_id!r} has no webhook endpoint", field="webhook")
    return json_response(_shown(brand_id, endpoint))


async def delete_webhook(request: Request) -> Response:
    require_admin(request)
    brand_id = await _known_brand(request)
    if not await delete_endpoint(runtime_of(request).redis, brand_id):
        raise NotFound(f"brand {brand_id!r} has no webhook endpoint", field="webhook")
    return Response(status_code=204)


async def brand_deliveries(request: Request) -> Response:
    require_admin(request)
    brand_id = await _known_brand(request)
    page = page_request(request)
    return json_response(await list_brand_deliveries(runtime_of(request).redis, brand_id, page))


async def dead_letters(request: Request) -> Response:
    require_admin(request)
    page = page_request(request)
    return json_response(await list_dead(runtime_of(request).redis, page))


async def redeliver_dead(request: Request) -> Response:
    require_admin(request)
    delivery_id = check_id(request.path_params["delivery_id"], "webhook")
    delivery = await redeliver(runtime_of(request).redis, delivery_id)
    return json_response(delivery.public(), status=202)


async def delivery_state(request: Request) -> Response:
    require_admin(request)
    delivery_id = check_id(request.path_params["delivery_id"], "webhook")
    delivery = await get_delivery(runtime_of(request).redis, delivery_id)
    return json_response(delivery.public())


routes = [
    Route("/api/brands/{brand_id}/webhook", put_webhook, methods=["PUT"]),
    Route("/api/brands/{brand_id}/webhook", get_webhook, methods=["GET"]),
    Route("/api/brands/{brand_id}/webhook", delete_webhook, methods=["DELETE"]),
    Route("/api/brands/{brand_id}/webhook/deliveries", brand_deliveries, methods=["GET"]),
    Route("/api/webhooks/dead", dead_letters, methods=["GET"]),
    Route("/api/webhooks/dead/{delivery_id}/redeliver", redeliver_dead, methods=["POST"]),
    Route("/api/webhooks/{delivery_id}", delivery_state, methods=["GET"]),
]
