"""Holds never confirmed go back to stock by themselves, exactly once, on any node."""

from __future__ import annotations

import asyncio

import orjson

from livecart.app import NODE_WORKERS
from livecart.commerce.sales import checkout
from livecart.commerce.sales.checkout import BuyRequest, new_id
from livecart.commerce.sales.holds import reap_expired_holds, sweep_show
from livecart.commerce.sales.keys import sale_keys
from livecart.config import Settings
from livecart.runtime import Runtime, running
from livecart.store import keys
from tests.commerce.conftest import SHOW, Units, assert_units_add_up, units

SHORT_HOLDS = {"checkout": {"hold_seconds": 2, "payment_timeout_s": 1}}


async def hold_without_paying(runtime: Runtime, buyer: str, key: str, qty: int = 1) -> str:
    """What a node that dies after reserving and before confirming leaves behind."""
    s = runtime.settings
    fingerprint = BuyRequest(sku="p-plain", quantity=qty, idempotency_key=key).fingerprint(
        SHOW, buyer
    )
    reply = await runtime.scripts["reserve"](
        keys=sale_keys(SHOW, buyer=buyer, idempotency_key=key),
        args=[
            buyer,
            new_id("h"),
            fingerprint,
            key,
            s.checkout.hold_seconds,
            s.checkout.idempotency_ttl_s,
            1000,
            "",
            0,
            "p-plain",
            qty,
            -1,
        ],
    )
    assert reply[0] == "held", reply
    hold_id: str = orjson.loads(reply[1])["id"]
    return hold_id


async def test_a_hold_never_confirmed_returns_its_stock_by_itself(
    settings: Settings, show: str, runtime: Runtime
) -> None:
    runtime.settings = runtime.settings.with_overrides(SHORT_HOLDS)
    await hold_without_paying(runtime, "ana", "k1", qty=5)
    assert await units(runtime.redis, "p-plain") == Units(45, 5, 0, 50)
    # The runtime's own reaper (every 0.5 s) returns it once it has expired.
    for _ in range(100):
        if (await units(runtime.redis, "p-plain")).held == 0:
            break
        await asyncio.sleep(0.05)
    assert await units(runtime.redis, "p-plain") == Units(50, 0, 0, 50)
    # The buyer's retry learns what became of the tap.
    retry = await checkout.buy(
        runtime, SHOW, "ana", BuyRequest(sku="p-plain", quantity=5, idempotency_key="k1")
    )
    assert retry.result == "hold_expired" and retry.replayed
    record = orjson.loads(await runtime.redis.get(keys.show_idempotency(SHOW, "ana", "k1")))
    assert record["state"] == "done" and record["result"]["code"] == "hold_expired"


async def test_a_hold_is_not_reaped_before_it_expires(runtime: Runtime, show: str) -> None:
    await hold_without_paying(runtime, "ana", "k1")
    assert await reap_expired_holds(runtime, SHOW) == 0
    assert (await units(runtime.redis, "p-plain")).held == 1


async def test_many_reapers_on_two_nodes_return_each_hold_exactly_once(
    settings: Settings, show: str, runtime: Runtime
) -> None:
    short = settings.with_overrides(SHORT_HOLDS)
    runtime.settings = short
    for i in range(40):
        await hold_without_paying(runtime, f"buyer{i}", f"k{i}")
    assert await units(runtime.redis, "p-plain") == Units(10, 40, 0, 50)
    await asyncio.sleep(2.1)
    async with running(short, workers=NODE_WORKERS) as other_node:
        counts = await asyncio.gather(
            *(reap_expired_holds(node, SHOW) for node in (runtime, other_node) * 4)
        )
        background = sum(
            node.metrics.registry.get_sample_value("livecart_holds_reaped_total") or 0
            for node in (runtime, other_node)
        )
    assert sum(counts) + background == 40
    assert await units(runtime.redis, "p-plain") == Units(50, 0, 0, 50)
    await assert_units_add_up(runtime.redis)


async def test_a_hold_confirmed_after_it_expired_is_refused_and_the_payment_voided(
    runtime: Runtime, show: str
) -> None:
    hold_id = await hold_without_paying(runtime, "ana", "k1")
    raw = await runtime.redis.hget(keys.show_holds(SHOW), hold_id)
    hold = orjson.loads(raw)
    await checkout.release_hold(runtime, SHOW, hold, "hold_expired", only_if_expired=False)
    reply = await runtime.scripts["confirm"](
        keys=sale_keys(SHOW, buyer="ana", idempotency_key="k1", order_id="o_late"),
        args=[hold_id, "o_late", '{"id":"o_late"}', 1000],
    )
    assert reply == ["gone", "hold_expired"]  # what the key remembers
    assert await runtime.redis.get(keys.show_order(SHOW, "o_late")) is None
    assert await units(runtime.redis, "p-plain") == Units(50, 0, 0, 50)


async def test_confirm_run_twice_writes_the_order_once(runtime: Runtime, show: str) -> None:
    hold_id = await hold_without_paying(runtime, "ana", "k1")
    args = [hold_id, "o_twice", '{"id":"o_twice"}', 1000]
    order_keys = sale_keys(SHOW, buyer="ana", idempotency_key="k1", order_id="o_twice")
    first = await runtime.scripts["confirm"](keys=order_keys, args=args)
    second = await runtime.scripts["confirm"](keys=order_keys, args=args)
    assert first == second and first[0] == "confirmed"
    assert await runtime.redis.xlen(keys.show_outbox(SHOW)) == 1
    assert await units(runtime.redis, "p-plain") == Units(49, 0, 1, 50)


async def test_an_ended_show_with_no_holds_leaves_the_reapers_watch(
    runtime: Runtime, show: str
) -> None:
    from livecart.commerce.shows.control import end_show

    assert await runtime.redis.sismember(keys.active_shows(), SHOW)
    await end_show(runtime, SHOW)
    await sweep_show(runtime, SHOW)
    assert not await runtime.redis.sismember(keys.active_shows(), SHOW)
