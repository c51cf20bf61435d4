"""Buying over HTTP: one tap, and the cart. Any token that may buy in the show (a viewer,
or staff of that show); the token's ``sub`` is the buyer.

A buy that did not become an order is not an error of the request: it answers 409 (402
for a declined payment) with ``{"result": CODE}`` that the page shows. Malformed input is
400 ``invalid`` naming the field, and changes nothing.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livecart import validation as v
from livecart.api.edge import buyer_of, json_response, read_json, runtime_of
from livecart.commerce import checkout
from livecart.store.keys import check_id

STATUS = {"confirmed": 201, "in_progress": 202, "payment_declined": 402}


def _outcome_response(outcome: checkout.Outcome) -> Response:
    return json_response(outcome.to_dict(), status=STATUS.get(outcome.result, 409))


async def buy(request: Request) -> Response:
    show = check_id(request.path_params["show"], "show")
    buyer = buyer_of(request, show)
    runtime = runtime_of(request)
    body = checkout.BuyRequest.from_dict(
        await read_json(request), max_quantity=runtime.settings.checkout.max_quantity
    )
    return _outcome_response(await checkout.buy(runtime, show, buyer, body))


async def view_cart(request: Request) -> Response:
    show = check_id(request.path_params["show"], "show")
    buyer = buyer_of(request, show)
    return json_response(await checkout.view_cart(runtime_of(request), show, buyer))


async def add_to_cart(request: Request) -> Response:
    show = check_id(request.path_params["show"], "show")
    buyer = buyer_of(request, show)
    runtime = runtime_of(request)
    add = checkout.CartAdd.from_dict(
        await read_json(request), max_quantity=runtime.settings.checkout.max_quantity
    )
    return json_response(await checkout.cart_add(runtime, show, buyer, add))


async def remove_from_cart(request: Request) -> Response:
    show = check_id(request.path_params["show"], "show")
    sku = check_id(request.path_params["sku"], "sku")
    buyer = buyer_of(request, show)
    runtime = runtime_of(request)
    raw = request.query_params.get("quantity", "0")
    quantity = v.whole(
        {"quantity": int(raw) if raw.isdigit() else raw},
        "quantity",
        lo=0,
        hi=runtime.settings.checkout.max_quantity,
    )
    return json_response(await checkout.cart_remove(runtime, show, buyer, sku, quantity))


async def checkout_cart(request: Request) -> Response:
    show = check_id(request.path_params["show"], "show")
    buyer = buyer_of(request, show)
    body = v.require_mapping(await read_json(request), "body")
    key = check_id(body.get("idempotency_key"), "idempotency_key")
    return _outcome_response(await checkout.checkout_cart(runtime_of(request), show, buyer, key))


routes = [
    Route("/api/shows/{show}/buy", buy, methods=["POST"]),
    Route("/api/shows/{show}/cart", view_cart, methods=["GET"]),
    Route("/api/shows/{show}/cart", add_to_cart, methods=["POST"]),
    Route("/api/shows/{show}/cart/checkout", checkout_cart, methods=["POST"]),
    Route("/api/shows/{show}/cart/{sku}", remove_from_cart, methods=["DELETE"]),
]
