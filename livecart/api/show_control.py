"""Running a show over HTTP: the merchant creates it and manages its lineup and stock
(admin API key); the streamer starts, ends, pins and runs flash sales; moderators (and
the streamer) pause and resume sales. Staff act with a token for that show, or the
merchant with the API key. A refusal changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from livecart import validation as v
from livecart.api.edge import json_response, runtime_of, staff_actor
from livecart.api.endpoint import Body, endpoint
from livecart.auth.roles import Action
from livecart.commerce.inventory import moves as inventory
from livecart.commerce.shows import control as show_control
from livecart.commerce.shows.records import MAX_ALLOCATION, NewShow, create_show, show_snapshot
from livecart.config import Settings
from livecart.errors import Conflict, InvalidInput
from livecart.runtime import Runtime
from livecart.store import keys
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
    """A sku the brand keeps in inventory joins the lineup with no units, and a move
    (keyed by show and sku: a retried creation moves once) brings them from the
    inventory; too few on hand is refused before the show is made."""
    runtime = runtime_of(request)
    tracked = await inventory.tracked_of(runtime.redis, new.brand, [e.sku for e in new.lineup])
    for i, entry in enumerate(new.lineup):
        if entry.sku in tracked:
            inventory.require_on_hand(
                new.brand, entry.sku, tracked[entry.sku], entry.quantity, field=f"lineup[{i}].sku"
            )
    lineup = tuple(replace(e, quantity=0) if e.sku in tracked else e for e in new.lineup)
    created = await create_show(
        runtime.redis,
        runtime.scripts,
        replace(new, lineup=lineup),
        stream_max_events=runtime.settings.hub.stream_max_events,
    )
    for entry in new.lineup:
        if entry.sku in tracked and (
            created.created or await _unallocated(runtime, new.id, entry.sku)
        ):
            move_id = inventory.lineup_move_id(new.id, entry.sku)
            await inventory.move_to_show(runtime, new.id, entry.sku, entry.quantity, move_id)
    snapshot = await show_snapshot(runtime.redis, new.id, runtime.scripts)
    return json_response(snapshot, status=201 if created.created else 200)


async def _unallocated(runtime: Runtime, show: str, sku: str) -> bool:
    """True when the stored show has ``sku`` in its lineup with nothing allocated: a
    creation retried after a crash between the show's script and its moves."""
    allocated = await runtime.redis.hget(keys.show_allocated(show), sku)
    return allocated is not None and int(allocated) == 0


async def _tracked_in_show(runtime: Runtime, show: str, sku: str) -> tuple[str, int] | None:
    """(brand, units on hand) when the show's brand keeps ``sku`` in inventory."""
    brand: str | None = await runtime.redis.hget(keys.show(show), "brand")  # type: ignore[assignment]
    if brand is None:
        return None
    tracked = await inventory.tracked_of(runtime.redis, brand, [sku])
    return (brand, tracked[sku]) if sku in tracked else None


async def add_to_lineup(request: Request, entry: LineupAdd) -> Response:
    """A sku the brand keeps in inventory joins with no units, then a move keyed by
    show and sku brings ``quantity`` from the inventory (a retry moves once)."""
    show = _show(request)
    runtime = runtime_of(request)
    tracked = await _tracked_in_show(runtime, show, entry.sku)
    if tracked is None:
        await show_control.add_to_lineup(runtime, show, entry.sku, entry.quantity)
        return json_response(await show_snapshot(runtime.redis, show, runtime.scripts), status=201)
    brand, on_hand = tracked
    move_id = inventory.lineup_move_id(show, entry.sku)
    status = 201
    try:
        inventory.require_on_hand(brand, entry.sku, on_hand, entry.quantity)
        await show_control.add_to_lineup(runtime, show, entry.sku, 0)
    except Conflict as exc:
        # A retry of an addition whose move began: answer it, move nothing again.
        if exc.code not in ("in_lineup", "insufficient_inventory"):
            raise
        if await inventory.get_move(runtime.redis, brand, move_id) is None:
            raise
        status = 200
    await inventory.move_to_show(runtime, show, entry.sku, entry.quantity, move_id)
    return json_response(await show_snapshot(runtime.redis, show, runtime.scripts), status=status)


async def stock(request: Request) -> Response:
    return json_response(
        {"stock": await show_control.stock_report(runtime_of(request), _show(request))}
    )


async def adjust_stock(request: Request, delta: int) -> Response:
    """For a sku the brand keeps in inventory, a restock is a move from it and a
    withdrawal a move back to it (exactly ``-delta`` units, or refused); the reply adds
    the move."""
    show = _show(request)
    sku: str = request.path_params["sku"]
    runtime = runtime_of(request)
    if await _tracked_in_show(runtime, show, sku) is None:
        result = await show_control.adjust_stock(runtime, show, sku, delta)
        return json_response({"sku": sku, **result})
    if delta > 0:
        moved = await inventory.move_to_show(runtime, show, sku, delta)
    else:
        moved = await inventory.return_from_show(runtime, show, sku, -delta, exact=True)
    async with runtime.redis.pipeline(transaction=True) as pipe:
        pipe.hget(keys.show_stock(show), sku)
        pipe.hget(keys.show_allocated(show), sku)
        stock, allocated = await pipe.execute()
    return json_response(
        {
            "sku": sku,
            "stock": int(stock or 0),
            "allocated": int(allocated or 0),
            "move": moved.move.to_dict(),
        }
    )


async def start(request: Request) -> Response:
    show = _show(request)
    staff_actor(request, Action.SHOW_START, show)
    changed = await show_control.start_show(runtime_of(request), show)
    return json_response({"state": "live", "changed": changed})


async def end(request: Request) -> Response:
    show = _show(request)
    staff_actor(request, Action.SHOW_END, show)
    runtime = runtime_of(request)
    changed = await show_control.end_show(runtime, show)
    # Unsold units of skus the brand keeps in inventory go back at once (the node's
    # inventory sweep would a moment later, and asks for the same moves).
    await inventory.return_ended_show_stock(runtime, show)
    return json_response({"state": "ended", "changed": changed})


async def sales(request: Request, change: show_control.SalesChange) -> Response:
    show = _show(request)
    actor = staff_actor(request, Action.PAUSE_SALES, show)
    changed = await show_control.set_sales(runtime_of(request), show, change, actor=actor)
    return json_response({"sales": "paused" if change.paused else "open", "changed": changed})


async def pin(request: Request, sku: str) -> Response:
    show = _show(request)
    staff_actor(request, Action.PIN, show)
    pinned = await show_control.pin(runtime_of(request), show, sku)
    return json_response({"pinned": pinned.sku, "changed": pinned.changed})


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
