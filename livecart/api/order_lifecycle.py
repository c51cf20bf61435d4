"""The merchant moves an order on (admin API key): fulfil it with its tracking, mark it
delivered, cancel it before it ships, refund it in full or in parts. Each answers with
the order as it now stands; a move its status does not allow is 409
``invalid_transition`` and changes nothing (see ``livecart.commerce.orders.lifecycle``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from livecart.api.edge import json_response, runtime_of
from livecart.api.endpoint import Body, endpoint
from livecart.commerce.orders.lifecycle import (
    Cancellation,
    Fulfilment,
    RefundRequest,
    cancel_order,
    deliver_order,
    fulfil_order,
    refund_order,
)

FULFILMENT = Body("a fulfilment", Fulfilment.FIELDS, Fulfilment.decode)
CANCELLATION = Body("a cancellation", Cancellation.FIELDS, Cancellation.decode)
REFUND = Body("a refund", RefundRequest.FIELDS, RefundRequest.decode)


def _order(request: Request) -> str:
    order_id: str = request.path_params["order_id"]  # checked by the endpoint
    return order_id


async def fulfil(request: Request, fulfilment: Fulfilment) -> Response:
    return json_response(await fulfil_order(runtime_of(request), _order(request), fulfilment))


async def deliver(request: Request) -> Response:
    return json_response(await deliver_order(runtime_of(request), _order(request)))


async def cancel(request: Request, cancellation: Cancellation) -> Response:
    return json_response(await cancel_order(runtime_of(request), _order(request), cancellation))


async def refund(request: Request, refund: RefundRequest) -> Response:
    return json_response(await refund_order(runtime_of(request), _order(request), refund))


routes = [
    endpoint("/api/orders/{order_id}/fulfil", "POST", fulfil, body=FULFILMENT, admin=True),
    endpoint("/api/orders/{order_id}/deliver", "POST", deliver, admin=True),
    endpoint("/api/orders/{order_id}/cancel", "POST", cancel, body=CANCELLATION, admin=True),
    endpoint("/api/orders/{order_id}/refund", "POST", refund, body=REFUND, admin=True),
]
