"""The inventory sweep: a move whose caller died between its steps is finished once,
whichever step it died after; an ended show's unsold units go back to the brand, and so
do units a cancelled order puts back into it later."""

from __future__ import annotations

import asyncio

import pytest

from livecart.commerce.inventory import moves
from livecart.commerce.orders.lifecycle import Cancellation, cancel_order
from livecart.commerce.orders.outbox import run_order_consumers
from livecart.commerce.sales.checkout import BuyRequest, buy
from livecart.commerce.shows.control import end_show
from livecart.runtime import Runtime, cancel_and_wait
from livecart.store import keys
from tests.commerce.conftest import assert_units_add_up, units
from tests.commerce.inventory.conftest import ON_HAND, on_hand

SHOW = "s1"


async def take(runtime: Runtime, move_id: str, units: int) -> None:
    """Step (a) of a move to s1 alone: what a caller that died right after leaves."""
    reply = await runtime.scripts["move_take"](
        keys=moves._brand_keys("b1"), args=[move_id, SHOW, "p-plain", units]
    )
    assert reply[0] == "taken"


async def apply_in_show(runtime: Runtime, move_id: str, units: int) -> None:
    reply = await runtime.scripts["move_in"](
        keys=moves._show_keys(SHOW), args=[move_id, "p-plain", units, 1000]
    )
    assert reply[0] == "applied"


async def intend_return(runtime: Runtime, move_id: str, units: int) -> None:
    reply = await runtime.scripts["move_intent"](
        keys=moves._brand_keys("b1"), args=[move_id, SHOW, "p-plain", units, "0"]
    )
    assert reply[0] == "recorded"


async def take_from_show(runtime: Runtime, move_id: str, units: int) -> None:
    reply = await runtime.scripts["move_out"](
        keys=moves._show_keys(SHOW), args=[move_id, "p-plain", units, "0", 1000]
    )
    assert reply[0] == "returned" and reply[1] == units


@pytest.mark.parametrize("died_after", ["take", "show step"])
async def test_a_move_to_a_show_left_pending_is_finished_once(
    runtime: Runtime, tracked: str, died_after: str
) -> None:
    redis = runtime.redis
    await take(runtime, "m-1", 12)
    if died_after == "show step":
        await apply_in_show(runtime, "m-1", 12)
    for _ in range(3):
        await moves.sweep_inventory(runtime, settle_after_ms=0)
    move = await moves.get_move(redis, "b1", "m-1")
    assert move is not None and move.state == "applied" and move.moved == 12
    assert await on_hand(redis) == ON_HAND - 12
    assert (await units(redis, "p-plain")).allocated == 62
    assert await redis.hgetall(keys.show_moves(SHOW)) == {"m-1": "applied:12"}
    assert await redis.zcard(keys.brand_moves_pending("b1")) == 0
    await assert_units_add_up(redis)


@pytest.mark.parametrize("died_after", ["intent", "show step"])
async def test_a_return_left_pending_is_credited_once(
    runtime: Runtime, tracked: str, died_after: str
) -> None:
    redis = runtime.redis
    await intend_return(runtime, "r-1", 8)
    if died_after == "show step":
        await take_from_show(runtime, "r-1", 8)
    for _ in range(3):
        await moves.sweep_inventory(runtime, settle_after_ms=0)
    move = await moves.get_move(redis, "b1", "r-1")
    assert move is not None and move.state == "returned" and move.moved == 8
    assert await on_hand(redis) == ON_HAND + 8
    assert (await units(redis, "p-plain")).allocated == 42
    await assert_units_add_up(redis)


async def test_a_young_pending_move_is_left_to_its_caller(runtime: Runtime, tracked: str) -> None:
    await take(runtime, "m-young", 5)
    report = await moves.sweep_inventory(runtime)  # settles only moves SETTLE_AFTER_MS old
    assert report.finished == 0
    move = await moves.get_move(runtime.redis, "b1", "m-young")
    assert move is not None and move.state == "taken"
    # The caller, alive after all, finishes it with the same id.
    result = await moves.move_to_show(runtime, SHOW, "p-plain", 5, "m-young")
    assert not result.created and result.move.state == "applied"


async def test_an_ended_show_returns_its_unsold_tracked_units(
    runtime: Runtime, tracked: str
) -> None:
    redis = runtime.redis
    outcome = await buy(
        runtime, SHOW, "ana", BuyRequest(sku="p-plain", quantity=4, idempotency_key="k1")
    )
    assert outcome.result == "confirmed" and outcome.order is not None
    await end_show(runtime, SHOW)
    report = await moves.sweep_inventory(runtime)
    assert report.returned == 46
    assert await on_hand(redis) == ON_HAND + 46
    u = await units(redis, "p-plain")
    assert (u.stock, u.sold, u.allocated) == (0, 4, 4)
    assert (await units(redis, "p-scarce")).stock == 3  # untracked: stays as it was
    assert (await moves.sweep_inventory(runtime)).returned == 0  # nothing left to return

    # A cancelled order puts its units back into the ended show: they reach the brand.
    # (Cancelling finds the order by its projected copy: the order consumers make it.)
    consumers = asyncio.create_task(run_order_consumers(runtime))
    try:
        async with asyncio.timeout(10):
            while not await redis.exists(keys.order(outcome.order["id"])):  # noqa: ASYNC110 (polling Redis)
                await asyncio.sleep(0.05)
    finally:
        await cancel_and_wait(consumers)
    await cancel_order(runtime, outcome.order["id"], Cancellation(reason=""))
    assert (await units(redis, "p-plain")).stock == 4
    assert (await moves.sweep_inventory(runtime)).returned == 4
    assert await on_hand(redis) == ON_HAND + 50
    u = await units(redis, "p-plain")
    assert (u.stock, u.sold, u.allocated) == (0, 0, 0)
    await assert_units_add_up(redis)


async def test_two_sweeps_of_one_ended_show_return_its_units_once(
    runtime: Runtime, tracked: str
) -> None:
    await end_show(runtime, SHOW)
    reports = [moves.sweep_inventory(runtime) for _ in range(4)]
    returned = sum(r.returned for r in await asyncio.gather(*reports))
    assert returned == 50
    assert await on_hand(runtime.redis) == ON_HAND + 50
    assert (await units(runtime.redis, "p-plain")).allocated == 0


async def test_settled_moves_are_forgotten_after_the_retention_in_both_slots(
    runtime: Runtime, tracked: str
) -> None:
    redis = runtime.redis
    await moves.move_to_show(runtime, SHOW, "p-plain", 5, "m-old")
    await moves.return_from_show(runtime, SHOW, "p-plain", 2, "r-old")
    await take(runtime, "m-pending", 1)  # pending: never forgotten
    kept = await moves.sweep_inventory(runtime, settle_after_ms=60_000)
    assert kept.forgotten == 0 and await redis.hlen(keys.brand_moves("b1")) == 3

    report = await moves.sweep_inventory(runtime, settle_after_ms=60_000, retention_ms=0)
    assert report.forgotten == 2
    assert await redis.hkeys(keys.brand_moves("b1")) == ["m-pending"]
    assert await redis.hlen(keys.show_moves(SHOW)) == 0
    assert await redis.zcard(keys.brand_moves_settled("b1")) == 0
    assert await on_hand(redis) == ON_HAND - 5 + 2 - 1
    assert (await units(redis, "p-plain")).allocated == 53
