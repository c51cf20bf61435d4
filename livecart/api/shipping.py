"""A brand's shipping fee over HTTP (admin API key): read it, or replace it whole."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from livecart.api.edge import json_response, runtime_of
from livecart.api.endpoint import Body, endpoint
from livecart.commerce.sales.shipping import SHIPPING_FIELDS, ShippingRule, get_rule, put_rule

SHIPPING = Body("a shipping rule", SHIPPING_FIELDS, lambda d, s: ShippingRule.from_dict(d))


async def get_shipping(request: Request) -> Response:
    brand: str = request.path_params["brand_id"]
    rule = await get_rule(runtime_of(request).redis, brand)
    return json_response({"brand": brand, **rule.to_dict()})


async def put_shipping(request: Request, rule: ShippingRule) -> Response:
    brand: str = request.path_params["brand_id"]
    await put_rule(runtime_of(request).redis, brand, rule)
    return json_response({"brand": brand, **rule.to_dict()})


BRAND = ("brand",)
routes = [
    endpoint("/api/brands/{brand_id}/shipping", "GET", get_shipping, exists=BRAND, admin=True),
    endpoint(
        "/api/brands/{brand_id}/shipping",
        "PUT",
        put_shipping,
        body=SHIPPING,
        exists=BRAND,
        admin=True,
    ),
]
