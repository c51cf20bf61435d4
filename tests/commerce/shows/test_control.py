"""Starting, ending, pausing, pinning, restocking: one script, one event, or nothing."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from livecart.commerce.sales import checkout
from livecart.commerce.sales.checkout import BuyRequest
from livecart.commerce.shows import control as show_control
from livecart.commerce.shows.records import show_snapshot
from livecart.errors import Conflict, NotFound
from livecart.runtime import Runtime
from livecart.store import keys
from tests.commerce.conftest import SHOW, Units, assert_units_add_up, seed_show, units


async def event_types(runtime: Runtime) -> list[str]:
    return [f["type"] for _, f in await runtime.redis.xrange(keys.show_events(SHOW))]


async def test_a_show_goes_live_once_ends_once_and_never_restarts(runtime: Runtime) -> None:
    await seed_show(runtime, start=False)
    assert await show_control.start_show(runtime, SHOW)
    assert not await show_control.start_show(runtime, SHOW)
    assert await show_control.end_show(runtime, SHOW)
    assert not await show_control.end_show(runtime, SHOW)
    with pytest.raises(Conflict) as caught:
        await show_control.start_show(runtime, SHOW)
    assert caught.value.code == "show_ended"
    assert await event_types(runtime) == ["show_created", "show_started", "show_ended"]
    snapshot = await show_snapshot(runtime.redis, SHOW)
    assert snapshot["state"] == "ended" and snapshot["ended_at_ms"] >= snapshot["started_at_ms"]


async def test_pause_and_resume_append_one_event_each_and_repeat_changes_nothing(
    runtime: Runtime, show: str
) -> None:
    pause = show_control.SalesChange(paused=True, reason="checking stock")
    assert await show_control.set_sales(runtime, SHOW, pause, actor="mod1")
    assert not await show_control.set_sales(runtime, SHOW, pause, actor="mod1")
    resume = show_control.SalesChange(paused=False, reason="")
    assert await show_control.set_sales(runtime, SHOW, resume, actor="mod1")
    events = await runtime.redis.xrange(keys.show_events(SHOW))
    paused = [orjson.loads(f["data"]) for _, f in events if f["type"] == "sales_paused"]
    assert paused == [{"reason": "checking stock", "by": "mod1"}]
    assert (await event_types(runtime)).count("sales_resumed") == 1


async def test_nothing_is_sold_after_a_pause_issued_during_a_burst(
    runtime: Runtime, show: str
) -> None:
    async def tap(i: int) -> checkout.Outcome:
        request = BuyRequest(sku="p-plain", quantity=1, idempotency_key=f"k{i}")
        return await checkout.buy(runtime, SHOW, f"buyer{i}", request)

    burst = [asyncio.create_task(tap(i)) for i in range(40)]
    await asyncio.sleep(0.005)
    await show_control.set_sales(
        runtime, SHOW, show_control.SalesChange(paused=True, reason="stop"), actor="mod"
    )
    paused_at = (await runtime.redis.xrevrange(keys.show_events(SHOW), count=1))[0][0]
    late = await asyncio.gather(*(tap(100 + i) for i in range(20)))
    outcomes = await asyncio.gather(*burst)

    assert {o.result for o in late} == {"sales_paused"}
    # Units are taken only by a hold, and every hold appends a lower stock figure: after
    # the pause event, the stream may show stock coming back (refused payments), never
    # going down.
    previous, after_pause = 50, False
    for event_id, fields in await runtime.redis.xrange(keys.show_events(SHOW)):
        after_pause = after_pause or event_id == paused_at
        if fields["type"] == "stock":
            stock = orjson.loads(fields["data"])["stock"]
            assert not (after_pause and stock < previous), (event_id, stock, previous)
            previous = stock
    sold = sum(o.result == "confirmed" for o in outcomes)
    assert (await units(runtime.redis, "p-plain")).sold == sold
    assert {o.result for o in outcomes} <= {"confirmed", "sales_paused"}
    await assert_units_add_up(runtime.redis)


async def test_pin_shows_the_card_with_live_stock_and_unpin_clears_it(
    runtime: Runtime, show: str
) -> None:
    assert await show_control.pin_product(runtime, SHOW, "p-scarce")
    assert not await show_control.pin_product(runtime, SHOW, "p-scarce")
    events = await runtime.redis.xrange(keys.show_events(SHOW))
    pinned = orjson.loads(events[-1][1]["data"])
    assert pinned["sku"] == "p-scarce" and pinned["product"]["stock"] == 3
    assert pinned["product"]["price"] == 500
    assert (await show_snapshot(runtime.redis, SHOW))["pinned"] == "p-scarce"
    with pytest.raises(NotFound):
        await show_control.pin_product(runtime, SHOW, "p-ghost")
    assert await show_control.pin_product(runtime, SHOW, None)
    assert (await show_snapshot(runtime.redis, SHOW))["pinned"] is None
    assert (await event_types(runtime))[-1] == "unpinned"


async def test_restock_and_withdrawal_keep_the_units_adding_up_and_never_go_negative(
    runtime: Runtime, show: str
) -> None:
    await checkout.buy(runtime, SHOW, "ana", BuyRequest("p-scarce", 2, "k1"))
    assert await show_control.adjust_stock(runtime, SHOW, "p-scarce", 5) == {
        "stock": 6,
        "allocated": 8,
    }
    assert await show_control.adjust_stock(runtime, SHOW, "p-scarce", -6) == {
        "stock": 0,
        "allocated": 2,
    }
    with pytest.raises(Conflict) as caught:
        await show_control.adjust_stock(runtime, SHOW, "p-scarce", -1)
    assert caught.value.code == "not_enough_stock"
    assert await units(runtime.redis, "p-scarce") == Units(0, 0, 2, 2)
    report = {row["sku"]: row for row in await show_control.stock_report(runtime, SHOW)}
    assert report["p-scarce"] == {
        "sku": "p-scarce",
        "allocated": 2,
        "stock": 0,
        "held": 0,
        "sold": 2,
    }
    await assert_units_add_up(runtime.redis)


async def test_a_product_added_to_a_running_show_can_be_bought(runtime: Runtime, show: str) -> None:
    from livecart.commerce.catalog.products import Product, save_product

    await save_product(runtime.redis, Product("p-new", "b1", "New", 1500, "EUR"))
    await show_control.add_to_lineup(runtime, SHOW, "p-new", 7)
    with pytest.raises(Conflict):
        await show_control.add_to_lineup(runtime, SHOW, "p-new", 7)
    assert (await checkout.buy(runtime, SHOW, "ana", BuyRequest("p-new", 1, "k"))).result == (
        "confirmed"
    )
    assert await units(runtime.redis, "p-new") == Units(6, 0, 1, 7)
    assert "lineup_added" in await event_types(runtime)


async def test_unknown_shows_are_refused_by_every_control(runtime: Runtime) -> None:
    for call in (
        show_control.start_show(runtime, "nope"),
        show_control.end_show(runtime, "nope"),
        show_control.pin_product(runtime, "nope", "p"),
        show_control.adjust_stock(runtime, "nope", "p", 1),
        show_control.stock_report(runtime, "nope"),
    ):
        with pytest.raises(NotFound):
            await call
    assert await runtime.redis.keys("lc:{s:nope}*") == []
