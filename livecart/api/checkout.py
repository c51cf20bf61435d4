"""Buying over HTTP: one tap, and the cart. Any token that may buy in the show (a viewer,
or staff of that show); the token's ``sub`` is the buyer.

A buy that did not become an order is not an error of the request: it answers 409 (402
for a declined payment) with ``{"result": CODE}`` that the page shows. Malformed input is
400 ``invalid`` naming the field, and changes nothing.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from livecart.api.edge import buyer_of, json_response, query_whole, runtime_of
from livecart.api.endpoint import Body, endpoint
from livecart.commerce.sales import checkout
from livecart.store.keys import check_id

STATUS = {"confirmed": 201, "in_progress": 202, "payment_declined": 402}

BUY = Body(
    "a buy",
    checkout.BuyRequest.FIELDS,
    lambda d, s: checkout.BuyRequest.from_dict(d, max_quantity=s.checkout.max_quantity),
)
CART_ADD = Body(
    "a cart line",
    checkout.CartAdd.FIELDS,
    lambda d, s: checkout.CartAdd.from_dict(d, max_quantity=s.checkout.max_quantity),
)
CHECKOUT = Body(
    "a checkout",
    ("idempotency_key",),
    lambda d, s: check_id(d.get("idempotency_key"), "idempotency_key"),
)


def outcome_response(outcome: checkout.Outcome) -> Response:
    return json_response(outcome.to_dict(), status=STATUS.get(outcome.result, 409))


def _show(request: Request) -> str:
    show: str = request.path_params["show"]  # checked by the endpoint
    return show


async def buy(request: Request, body: checkout.BuyRequest) -> Response:
    show = _show(request)
    buyer = buyer_of(request, show)
    return outcome_response(await checkout.buy(runtime_of(request), show, buyer, body))


async def view_cart(request: Request) -> Response:
    show = _show(request)
    buyer = buyer_of(request, show)
    return json_response(await checkout.view_cart(runtime_of(request), show, buyer))


async def add_to_cart(request: Request, add: checkout.CartAdd) -> Response:
    show = _show(request)
    buyer = buyer_of(request, show)
    return json_response(await checkout.cart_add(runtime_of(request), show, buyer, add))


async def remove_from_cart(request: Request) -> Response:
    show = _show(request)
    sku: str = request.path_params["sku"]
    buyer = buyer_of(request, show)
    runtime = runtime_of(request)
    # 0 or no quantity: the whole line
    quantity = query_whole(request, "quantity", lo=0, hi=runtime.settings.checkout.max_quantity)
    return json_response(await checkout.cart_remove(runtime, show, buyer, sku, quantity or 0))


async def checkout_cart(request: Request, key: str) -> Response:
    show = _show(request)
    buyer = buyer_of(request, show)
    return outcome_response(await checkout.checkout_cart(runtime_of(request), show, buyer, key))


SHOW = ("show",)
# The buy path keeps to one round trip: its scripts refuse a show that does not exist
# (404 naming it) in the step that would take the units, so the edge does not ask first.
routes = [
    endpoint("/api/shows/{show}/buy", "POST", buy, body=BUY),
    endpoint("/api/shows/{show}/cart", "GET", view_cart, exists=SHOW),
    endpoint("/api/shows/{show}/cart", "POST", add_to_cart, body=CART_ADD),
    endpoint("/api/shows/{show}/cart/checkout", "POST", checkout_cart, body=CHECKOUT),
    endpoint(
        "/api/shows/{show}/cart/{sku}", "DELETE", remove_from_cart, query=("quantity",), exists=SHOW
    ),
]
