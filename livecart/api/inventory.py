"""A brand's inventory over HTTP (admin API key): units on hand per sellable sku, a
stock count that sets them, and moves of units to and from a show.

A move's ``id`` is its idempotency key: a retry with the same id answers the move as it
stands and moves nothing again. The server makes an id when none is given, and answers
it. Every refusal is made before anything is written, except a show that refuses a
move already begun (it ended meanwhile): that move is reversed, and the refusal given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from livecart import validation as v
from livecart.api.edge import json_response, runtime_of
from livecart.api.endpoint import Body, endpoint
from livecart.commerce.inventory import moves
from livecart.commerce.shows.records import MAX_ALLOCATION
from livecart.config import Settings
from livecart.store.keys import check_id


@dataclass(frozen=True)
class Allocation:
    sku: str
    units: int
    id: str | None

    @classmethod
    def decode(cls, d: Mapping[str, Any], settings: Settings) -> Allocation:
        return cls(
            sku=check_id(d.get("sku"), "sku"),
            units=v.whole(d, "units", lo=1, hi=MAX_ALLOCATION),
            id=_move_id(d),
        )


@dataclass(frozen=True)
class Return:
    sku: str
    units: int | None  # None: all of the show's stock of the sku
    id: str | None

    @classmethod
    def decode(cls, d: Mapping[str, Any], settings: Settings) -> Return:
        units = d.get("units")
        return cls(
            sku=check_id(d.get("sku"), "sku"),
            units=None if units is None else v.whole(d, "units", lo=1, hi=MAX_ALLOCATION),
            id=_move_id(d),
        )


def _move_id(d: Mapping[str, Any]) -> str | None:
    raw = d.get("id")
    return None if raw is None else check_id(raw, "id")


def _on_hand(d: Mapping[str, Any], settings: Settings) -> int:
    return v.whole(d, "units", lo=0, hi=moves.MAX_ON_HAND)


ALLOCATION = Body("an allocation", ("sku", "units", "id"), Allocation.decode)
RETURN = Body("a return", ("sku", "units", "id"), Return.decode)
ON_HAND = Body("a stock count", ("units",), _on_hand)


async def get_inventory(request: Request) -> Response:
    brand: str = request.path_params["brand_id"]  # checked by the endpoint
    report = await moves.inventory_report(runtime_of(request), brand)
    return json_response({"brand": brand, "inventory": report})


async def put_on_hand(request: Request, units: int) -> Response:
    brand: str = request.path_params["brand_id"]
    sku: str = request.path_params["sku"]
    before = await moves.set_on_hand(runtime_of(request), brand, sku, units)
    return json_response({"brand": brand, "sku": sku, "on_hand": units, "before": before})


def _move_response(result: moves.MoveResult) -> Response:
    return json_response(result.move.to_dict(), status=201 if result.created else 200)


async def allocate(request: Request, allocation: Allocation) -> Response:
    show: str = request.path_params["show"]
    result = await moves.move_to_show(
        runtime_of(request), show, allocation.sku, allocation.units, allocation.id
    )
    return _move_response(result)


async def give_back(request: Request, ret: Return) -> Response:
    show: str = request.path_params["show"]
    result = await moves.return_from_show(runtime_of(request), show, ret.sku, ret.units, ret.id)
    return _move_response(result)


routes = [
    endpoint(
        "/api/brands/{brand_id}/inventory", "GET", get_inventory, exists=("brand",), admin=True
    ),
    endpoint(
        "/api/brands/{brand_id}/inventory/{sku}",
        "PUT",
        put_on_hand,
        body=ON_HAND,
        exists=("brand",),
        admin=True,
    ),
    endpoint(
        "/api/shows/{show}/allocations",
        "POST",
        allocate,
        body=ALLOCATION,
        exists=("show",),
        admin=True,
    ),
    endpoint(
        "/api/shows/{show}/allocations/return",
        "POST",
        give_back,
        body=RETURN,
        exists=("show",),
        admin=True,
    ),
]
