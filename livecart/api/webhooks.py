"""Webhooks: a brand's endpoint (URL and signing secret), its deliveries, one delivery's
state, and the dead letters with their redelivery. All take the admin API key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from livecart.api.edge import json_response, runtime_of
from livecart.api.endpoint import Body, endpoint
from livecart.api.orders import page_request
from livecart.commerce.orders.webhooks import (
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
from livecart.config import Settings
from livecart.errors import InvalidInput, NotFound


@dataclass(frozen=True)
class EndpointChange:
    url: str
    rotate_secret: bool

    @classmethod
    def decode(cls, d: Mapping[str, Any], settings: Settings) -> EndpointChange:
        rotate = d.get("rotate_secret", False)
        if not isinstance(rotate, bool):
            raise InvalidInput("rotate_secret must be true or false", field="rotate_secret")
        return cls(url=endpoint_url(d), rotate_secret=rotate)


ENDPOINT_CHANGE = Body("a webhook endpoint", ("url", "rotate_secret"), EndpointChange.decode)


def _brand(request: Request) -> str:
    brand: str = request.path_params["brand_id"]  # checked, and known, by the endpoint
    return brand


def _shown(brand_id: str, endpoint: Endpoint) -> dict[str, object]:
    return {
        "brand": brand_id,
        "url": endpoint.url,
        "secret": endpoint.secret,
        "updated_at_ms": endpoint.updated_at_ms,
    }


async def put_webhook(request: Request, change: EndpointChange) -> Response:
    brand_id = _brand(request)
    stored, created = await put_endpoint(
        runtime_of(request).redis, brand_id, change.url, rotate_secret=change.rotate_secret
    )
    return json_response(_shown(brand_id, stored), status=201 if created else 200)


async def get_webhook(request: Request) -> Response:
    brand_id = _brand(request)
    endpoint = await get_endpoint(runtime_of(request).redis, brand_id)
    if endpoint is None:
        raise NotFound(f"brand {brand_id!r} has no webhook endpoint", field="webhook")
    return json_response(_shown(brand_id, endpoint))


async def delete_webhook(request: Request) -> Response:
    brand_id = _brand(request)
    if not await delete_endpoint(runtime_of(request).redis, brand_id):
        raise NotFound(f"brand {brand_id!r} has no webhook endpoint", field="webhook")
    return Response(status_code=204)


async def brand_deliveries(request: Request) -> Response:
    brand_id = _brand(request)
    page = page_request(request)
    return json_response(await list_brand_deliveries(runtime_of(request).redis, brand_id, page))


async def dead_letters(request: Request) -> Response:
    page = page_request(request)
    return json_response(await list_dead(runtime_of(request).redis, page))


async def redeliver_dead(request: Request) -> Response:
    delivery_id: str = request.path_params["delivery_id"]
    delivery = await redeliver(runtime_of(request).redis, delivery_id)
    return json_response(delivery.public(), status=202)


async def delivery_state(request: Request) -> Response:
    delivery_id: str = request.path_params["delivery_id"]
    delivery = await get_delivery(runtime_of(request).redis, delivery_id)
    return json_response(delivery.public())


BRAND = ("brand",)
PAGE = ("after", "limit")
routes = [
    endpoint(
        "/api/brands/{brand_id}/webhook",
        "PUT",
        put_webhook,
        body=ENDPOINT_CHANGE,
        exists=BRAND,
        admin=True,
    ),
    endpoint("/api/brands/{brand_id}/webhook", "GET", get_webhook, exists=BRAND, admin=True),
    endpoint("/api/brands/{brand_id}/webhook", "DELETE", delete_webhook, exists=BRAND, admin=True),
    endpoint(
        "/api/brands/{brand_id}/webhook/deliveries",
        "GET",
        brand_deliveries,
        query=PAGE,
        exists=BRAND,
        admin=True,
    ),
    endpoint("/api/webhooks/dead", "GET", dead_letters, query=PAGE, admin=True),
    endpoint("/api/webhooks/dead/{delivery_id}/redeliver", "POST", redeliver_dead, admin=True),
    endpoint("/api/webhooks/{delivery_id}", "GET", delivery_state, admin=True),
]
