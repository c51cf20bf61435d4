"""``GET /api/orders.csv``: the orders ``GET /api/orders`` lists, with the same filters,
as CSV for fulfilment (admin API key); see ``livecart.commerce.orders.export``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from livecart.api.edge import query_id, query_param, query_whole, runtime_of
from livecart.api.endpoint import endpoint
from livecart.commerce.orders.export import export_orders
from livecart.commerce.orders.records import MAX_MS, check_status

NEXT_HEADER = "x-next-after"  # the ``after`` of the rest, when one export did not hold all


async def orders_csv(request: Request) -> Response:
    show = query_id(request, "show")
    status = check_status(query_param(request, "status"))
    since = query_whole(request, "since_ms", lo=0, hi=MAX_MS)
    until = query_whole(request, "until_ms", lo=0, hi=MAX_MS)
    after = query_id(request, "after")
    text, rest = await export_orders(
        runtime_of(request).redis,
        show=show,
        status=status,
        since_ms=since,
        until_ms=until,
        after=after,
    )
    headers = {"content-disposition": 'attachment; filename="orders.csv"'}
    if rest is not None:
        headers[NEXT_HEADER] = rest
    return Response(text, media_type="text/csv; charset=utf-8", headers=headers)


routes = [
    endpoint(
        "/api/orders.csv",
        "GET",
        orders_csv,
        query=("show", "status", "since_ms", "until_ms", "after"),
        admin=True,
    ),
]
