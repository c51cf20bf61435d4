"""Running a show over HTTP: the merchant creates it and manages its lineup and stock
(admin API key); the streamer starts, ends, pins and runs flash sales; moderators (and
the streamer) pause and resume sales. Staff act with a token for that show, or the
merchant with the API key. A refusal changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from livecart import validation as v
from livecart.api.edge import json_response, runtime_of, staff_actor
from livecart.api.endpoint import Body, endpoint
from livecart.auth.roles import Action
from livecart.commerce.shows import control as show_control
from livecart.commerce.shows.records import MAX_ALLOCATION, NewShow, create_show, show_snapshot
from livecart.config import Settings
from livecart.errors import InvalidInput
from livecart.store.keys import check_id


@dataclass(frozen=True)
class LineupAdd:
    sku: str
    quantity: int

    @classmethod
    def decode(cls, d: Mapping[str, Any], settings: Settings) -> LineupAdd:
        return cls(
            sku=check_id(d.get("sku"), "sku"),
            quantity=v.whole(d, "quantity", lo=1, hi=MAX_ALLOCATION),
        )


def _delta(d: Mapping[str, Any], settings: Settings) -> int:
    delta = v.whole(d, "delta", lo=-MAX_ALLOCATION, hi=MAX_ALLOCATION)
    if delta == 0:
        raise InvalidInput("delta must not be zero", field="delta")
    return delta


NEW_SHOW = Body("a show", NewShow.FIELDS, lambda d, s: NewShow.from_dict(d))
LINEUP_ADD = Body("a lineup entry", ("sku", "quantity"), LineupAdd.decode)
STOCK_CHANGE = Body("a stock change", ("delta",), _delta)
SALES_CHANGE = Body(
    "a sales change",
    show_control.SalesChange.FIELDS,
    lambda d, s: show_control.SalesChange.from_dict(d),
)
PIN = Body("a pin", ("sku",), lambda d, s: check_id(d.get("sku"), "sku"))
FLASH_SALE = Body(
    "a flash sale",
    show_control.FlashSale.FIELDS,
    lambda d, s: show_control.FlashSale.from_dict(d, max_quantity=s.checkout.max_quantity),
)


def _show(request: Request) -> str:
    show: str = request.path_params["show"]  # checked by the endpoint
    return show


async def create(request: Request, new: NewShow) -> Response:
    runtime = runtime_of(request)
    created = await create_show(
        runtime.redis,
        runtime.scripts,
        new,
        stream_max_events=runtime.settings.hub.stream_max_events,
    )
    snapshot = await show_snapshot(runtime.redis, new.id)
    return json_response(snapshot, status=201 if created.created else 200)


async def add_to_lineup(request: Request, entry: LineupAdd) -> Response:
    show = _show(request)
    runtime = runtime_of(request)
    await show_control.add_to_lineup(runtime, show, entry.sku, entry.quantity)
    return json_response(await show_snapshot(runtime.redis, show), status=201)


async def stock(request: Request) -> Response:
    return json_response(
        {"stock": await show_control.stock_report(runtime_of(request), _show(request))}
    )


async def adjust_stock(request: Request, delta: int) -> Response:
    show = _show(request)
    sku: str = request.path_params["sku"]
    result = await show_control.adjust_stock(runtime_of(request), show, sku, delta)
    return json_response({"sku": sku, **result})


async def start(request: Request) -> Response:
    show = _show(request)
    staff_actor(request, Action.SHOW_START, show)
    changed = await show_control.start_show(runtime_of(request), show)
    return json_response({"state": "live", "changed": changed})


async def end(request: Request) -> Response:
    show = _show(request)
    staff_actor(request, Action.SHOW_END, show)
    changed = await show_control.end_show(runtime_of(request), show)
    return json_response({"state": "ended", "changed": changed})


async def sales(request: Request, change: show_control.SalesChange) -> Response:
    show = _show(request)
    actor = staff_actor(request, Action.PAUSE_SALES, show)
    changed = await show_control.set_sales(runtime_of(request), show, change, actor=actor)
    return json_response({"sales": "paused" if change.paused else "open", "changed": changed})


async def pin(request: Request, sku: str) -> Response:
    show = _show(request)
    staff_actor(request, Action.PIN, show)
    changed = await show_control.pin_product(runtime_of(request), show, sku)
    return json_response({"pinned": sku, "changed": changed})


async def unpin(request: Request) -> Response:
    show = _show(request)
    staff_actor(request, Action.UNPIN, show)
    changed = await show_control.pin_product(runtime_of(request), show, None)
    return json_response({"pinned": None, "changed": changed})


async def start_flash(request: Request, sale: show_control.FlashSale) -> Response:
    show = _show(request)
    staff_actor(request, Action.FLASH_SALE, show)
    return json_response(
        await show_control.start_flash_sale(runtime_of(request), show, sale), status=201
    )


async def end_flash(request: Request) -> Response:
    show = _show(request)
    staff_actor(request, Action.FLASH_SALE, show)
    changed = await show_control.end_flash_sale(runtime_of(request), show)
    return json_response({"changed": changed})


SHOW = ("show",)
routes = [
    endpoint("/api/shows", "POST", create, body=NEW_SHOW, admin=True),
    endpoint(
        "/api/shows/{show}/lineup", "POST", add_to_lineup, body=LINEUP_ADD, exists=SHOW, admin=True
    ),
    endpoint("/api/shows/{show}/stock", "GET", stock, exists=SHOW, admin=True),
    endpoint(
        "/api/shows/{show}/stock/{sku}",
        "POST",
        adjust_stock,
        body=STOCK_CHANGE,
        exists=SHOW,
        admin=True,
    ),
    endpoint("/api/shows/{show}/start", "POST", start, exists=SHOW),
    endpoint("/api/shows/{show}/end", "POST", end, exists=SHOW),
    endpoint("/api/shows/{show}/sales", "POST", sales, body=SALES_CHANGE, exists=SHOW),
    endpoint("/api/shows/{show}/pin", "PUT", pin, body=PIN, exists=SHOW),
    endpoint("/api/shows/{show}/pin", "DELETE", unpin, exists=SHOW),
    endpoint("/api/shows/{show}/flash", "POST", start_flash, body=FLASH_SALE, exists=SHOW),
    endpoint("/api/shows/{show}/flash", "DELETE", end_flash, exists=SHOW),
]
