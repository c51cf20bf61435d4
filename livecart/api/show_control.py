"""Running a show over HTTP: the merchant creates it and manages its lineup and stock
(admin API key); the streamer starts, ends, pins and runs flash sales; moderators (and
the streamer) pause and resume sales. Staff act with a token for that show, or the
merchant with the API key. A refusal changes nothing.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livecart import validation as v
from livecart.api.edge import json_response, read_json, require_admin, runtime_of, staff_actor
from livecart.auth.roles import Action
from livecart.commerce import show_control
from livecart.commerce.shows import MAX_ALLOCATION, NewShow, create_show, show_snapshot
from livecart.errors import InvalidInput
from livecart.store.keys import check_id


def _show(request: Request) -> str:
    return check_id(request.path_params["show"], "show")


async def create(request: Request) -> Response:
    require_admin(request)
    runtime = runtime_of(request)
    new = NewShow.from_dict(await read_json(request))
    created = await create_show(
        runtime.redis,
        runtime.scripts,
        new,
        stream_max_events=runtime.settings.hub.stream_max_events,
    )
    snapshot = await show_snapshot(runtime.redis, new.id)
    return json_response(snapshot, status=201 if created.created else 200)


async def add_to_lineup(request: Request) -> Response:
    require_admin(request)
    show = _show(request)
    body = v.require_mapping(await read_json(request), "body")
    sku = check_id(body.get("sku"), "sku")
    quantity = v.whole(body, "quantity", lo=1, hi=MAX_ALLOCATION)
    runtime = runtime_of(request)
    await show_control.add_to_lineup(runtime, show, sku, quantity)
    return json_response(await show_snapshot(runtime.redis, show), status=201)


async def stock(request: Request) -> Response:
    require_admin(request)
    return json_response(
        {"stock": await show_control.stock_report(runtime_of(request), _show(request))}
    )


async def adjust_stock(request: Request) -> Response:
    require_admin(request)
    show = _show(request)
    sku = check_id(request.path_params["sku"], "sku")
    body = v.require_mapping(await read_json(request), "body")
    delta = v.whole(body, "delta", lo=-MAX_ALLOCATION, hi=MAX_ALLOCATION)
    if delta == 0:
        raise InvalidInput("delta must not be zero", field="delta")
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


async def sales(request: Request) -> Response:
    show = _show(request)
    actor = staff_actor(request, Action.PAUSE_SALES, show)
    change = show_control.SalesChange.from_dict(await read_json(request))
    changed = await show_control.set_sales(runtime_of(request), show, change, actor=actor)
    return json_response({"sales": "paused" if change.paused else "open", "changed": changed})


async def pin(request: Request) -> Response:
    show = _show(request)
    staff_actor(request, Action.PIN, show)
    body = v.require_mapping(await read_json(request), "body")
    sku = check_id(body.get("sku"), "sku")
    changed = await show_control.pin_product(runtime_of(request), show, sku)
    return json_response({"pinned": sku, "changed": changed})


async def unpin(request: Request) -> Response:
    show = _show(request)
    staff_actor(request, Action.UNPIN, show)
    changed = await show_control.pin_product(runtime_of(request), show, None)
    return json_response({"pinned": None, "changed": changed})


async def start_flash(request: Request) -> Response:
    show = _show(request)
    staff_actor(request, Action.FLASH_SALE, show)
    runtime = runtime_of(request)
    sale = show_control.FlashSale.from_dict(
        await read_json(request), max_quantity=runtime.settings.checkout.max_quantity
    )
    return json_response(await show_control.start_flash_sale(runtime, show, sale), status=201)


async def end_flash(request: Request) -> Response:
    show = _show(request)
    staff_actor(request, Action.FLASH_SALE, show)
    changed = await show_control.end_flash_sale(runtime_of(request), show)
    return json_response({"changed": changed})


routes = [
    Route("/api/shows", create, methods=["POST"]),
    Route("/api/shows/{show}/lineup", add_to_lineup, methods=["POST"]),
    Route("/api/shows/{show}/stock", stock, methods=["GET"]),
    Route("/api/shows/{show}/stock/{sku}", adjust_stock, methods=["POST"]),
    Route("/api/shows/{show}/start", start, methods=["POST"]),
    Route("/api/shows/{show}/end", end, methods=["POST"]),
    Route("/api/shows/{show}/sales", sales, methods=["POST"]),
    Route("/api/shows/{show}/pin", pin, methods=["PUT"]),
    Route("/api/shows/{show}/pin", unpin, methods=["DELETE"]),
    Route("/api/shows/{show}/flash", start_flash, methods=["POST"]),
    Route("/api/shows/{show}/flash", end_flash, methods=["DELETE"]),
]
