"""Commission reversals (livecart/commerce/projections.py, reverse_commission.lua): a
cancel takes back the order's whole commission, refunds take back their share, each
order version once, and the creator's earned - reversed stays what the ledger says."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import orjson
from redis.asyncio import Redis

from livecart.commerce.orders.lifecycle import (
    Cancellation,
    RefundRequest,
    cancel_order,
    refund_order,
)
from livecart.commerce.orders.projections import creator_earnings, project_orders
from livecart.commerce.orders.records import Order, PageRequest, parse_order
from livecart.config import Settings
from livecart.runtime import Runtime
from livecart.store import keys
from tests.commerce.order_fixtures import bare_runtime, make_order, seed_parties, wait_for
from tests.commerce.orders.test_lifecycle import bought

ALL = PageRequest(limit=100, after=None)


async def ledger(redis: Redis, creator: str = "c1") -> dict[str, Any]:
    """The creator's ledger entries by field, decoded (the per-order counters as ints)."""
    raw = await redis.hgetall(keys.creator_ledger(creator))
    return {k: int(v) if k.endswith(".reversed") else orjson.loads(v) for k, v in raw.items()}


async def reversed_reaches(redis: Redis, amount: int, creator: str = "c1") -> None:
    async def reached() -> bool:
        found = await redis.hget(keys.creator_earnings(creator), "reversed:EUR")
        return int(found or 0) >= amount

    await wait_for(reached, what=f"{amount} reversed")


def reversals(entries: dict[str, Any], order_id: str) -> list[dict[str, Any]]:
    found = [e for k, e in entries.items() if k.startswith(f"{order_id}.v") and isinstance(e, dict)]
    return sorted(found, key=lambda e: int(e["version"]))


async def test_a_cancel_reverses_the_whole_commission(runtime: Runtime, show: str) -> None:
    order = await bought(runtime, show, quantity=3)  # 3 x 1000 at 10%: 300
    await cancel_order(runtime, order["id"], Cancellation(reason=""))
    await reversed_reaches(runtime.redis, 300)

    assert await runtime.redis.hgetall(keys.creator_earnings("c1")) == {
        "EUR": "300",
        "reversed:EUR": "300",
    }
    entries = await ledger(runtime.redis)
    [reversal] = reversals(entries, order["id"])
    assert reversal["kind"] == "reversal" and reversal["event"] == "order.cancelled"
    assert reversal["version"] == 2 and reversal["refund"] is None
    assert reversal["amount"] == reversal["reversed_total"] == reversal["commission"] == 300
    assert entries[order["id"]]["kind"] == "commission"
    earnings = await creator_earnings(runtime.redis, "c1", ALL)
    assert earnings["totals"] == {"EUR": 0}
    assert earnings["earned"] == {"EUR": 300} and earnings["reversed"] == {"EUR": 300}


async def test_partial_refunds_then_the_rest_reverse_exactly_the_commission(
    runtime: Runtime, show: str
) -> None:
    order = await bought(runtime, show, quantity=3)  # total 3000, commission 300
    refunds = [1001, 1001, 998]
    # Rounding each refund's share down alone would reverse 100 + 100 + 99 = 299.
    assert sum(300 * r // 3000 for r in refunds) == 299
    for amount in refunds:
        await refund_order(runtime, order["id"], RefundRequest(amount=amount, reason=""))
    await reversed_reaches(runtime.redis, 300)
    await asyncio.sleep(0.2)  # nothing more may come

    entries = await ledger(runtime.redis)
    found = reversals(entries, order["id"])
    assert [(e["version"], e["refund"], e["refunded_total"]) for e in found] == [
        (2, f"{order['id']}-r1", 1001),
        (3, f"{order['id']}-r2", 2002),
        (4, f"{order['id']}-r3", 3000),
    ]
    assert [(e["amount"], e["reversed_total"]) for e in found] == [
        (100, 100),
        (100, 200),
        (100, 300),
    ]
    assert entries[f"{order['id']}.reversed"] == 300
    earnings = await creator_earnings(runtime.redis, "c1", ALL)
    assert earnings["totals"] == {"EUR": 0} and earnings["reversed"] == {"EUR": 300}


async def test_a_small_refund_reverses_its_rounded_down_share_and_the_rest_catches_up(
    runtime: Runtime, show: str
) -> None:
    order = await bought(runtime, show, quantity=2)  # total 2000, commission 200
    await refund_order(runtime, order["id"], RefundRequest(amount=5, reason=""))  # 0.5 -> 0
    await refund_order(runtime, order["id"], RefundRequest(amount=10, reason=""))  # 1.5 -> 1
    await reversed_reaches(runtime.redis, 1)
    await refund_order(runtime, order["id"], RefundRequest(amount=1985, reason=""))
    await reversed_reaches(runtime.redis, 200)

    found = reversals(await ledger(runtime.redis), order["id"])
    # The first refund's share rounds to nothing: no entry for it.
    assert [(e["version"], e["amount"]) for e in found] == [(3, 1), (4, 199)]
    assert await runtime.redis.hget(keys.creator_earnings("c1"), "reversed:EUR") == "200"


def moved(order: dict[str, Any], version: int, event: str, **changes: Any) -> Order:
    """The order as a lifecycle move writes it, read from its outbox entry."""
    moved_order = {
        **order,
        **changes,
        "version": version,
        "updated_at_ms": order["confirmed_at_ms"] + version,
    }
    return replace(parse_order(orjson.dumps(moved_order)), event=event)


def refunded(order: dict[str, Any], version: int, amounts: list[int]) -> Order:
    refunds = [
        {"id": f"{order['id']}-r{i + 1}", "amount": a, "reference": "x", "at_ms": 1}
        for i, a in enumerate(amounts)
    ]
    status = "refunded" if sum(amounts) == order["total"] else "confirmed"
    return moved(
        order,
        version,
        "order.refunded",
        status=status,
        refunds=refunds,
        refunded_total=sum(amounts),
    )


async def test_an_entry_applied_twice_or_out_of_order_reverses_once(
    settings: Settings, redis: Redis
) -> None:
    node = await bare_runtime(settings, redis)
    order = make_order(lines=[("p1", 3, 1000, 1000)])  # total 3000, commission 300
    confirmed = parse_order(orjson.dumps(order))
    first = refunded(order, 2, [1001])
    second = refunded(order, 3, [1001, 1001])
    rest = refunded(order, 4, [1001, 1001, 998])

    # A refund read before its confirmation (a dead node's entry reclaimed late) credits
    # the order first; the confirmation then changes nothing.
    await project_orders(node, [first])
    await asyncio.gather(*(project_orders(node, [first]) for _ in range(5)))
    await project_orders(node, [confirmed, first])
    assert await redis.hgetall(keys.creator_earnings("c1")) == {
        "EUR": "300",
        "reversed:EUR": "100",
    }
    # The third refund before the second: the second then finds nothing left to take.
    await project_orders(node, [rest])
    await project_orders(node, [second, rest, first, second])
    assert await redis.hgetall(keys.creator_earnings("c1")) == {
        "EUR": "300",
        "reversed:EUR": "300",
    }
    entries = await ledger(redis)
    assert [(e["version"], e["amount"]) for e in reversals(entries, order["id"])] == [
        (2, 100),
        (4, 200),
    ]
    assert await redis.zcard(keys.creator_ledger_by_time("c1")) == 3


async def test_a_cancel_delivered_twice_reverses_once(settings: Settings, redis: Redis) -> None:
    node = await bare_runtime(settings, redis)
    order = make_order()  # commission 384
    cancelled = moved(order, 2, "order.cancelled", status="cancelled")
    await asyncio.gather(*(project_orders(node, [cancelled]) for _ in range(4)))
    await project_orders(node, [parse_order(orjson.dumps(order)), cancelled])
    assert await redis.hgetall(keys.creator_earnings("c1")) == {
        "EUR": "384",
        "reversed:EUR": "384",
    }
    assert await redis.hlen(keys.creator_ledger("c1")) == 3  # credit, reversal, counter


async def test_an_order_nobody_brought_or_without_commission_has_no_reversal(
    settings: Settings, redis: Redis
) -> None:
    node = await bare_runtime(settings, redis)
    await seed_parties(redis)
    nobodys = make_order(creator=None)
    free = make_order(lines=[("p1", 2, 2400, 0)])  # commission 0
    for order in (nobodys, free):
        await project_orders(node, [parse_order(orjson.dumps(order))])
    await project_orders(node, [moved(nobodys, 2, "order.cancelled", status="cancelled")])
    await project_orders(node, [refunded(free, 2, [100]), refunded(free, 3, [100, 4700])])

    assert list(await redis.hkeys(keys.creator_ledger("c1"))) == [free["id"]]
    assert await redis.hgetall(keys.creator_earnings("c1")) == {"EUR": "0"}
    earnings = await creator_earnings(redis, "c1", ALL)
    assert earnings["totals"] == {"EUR": 0} and earnings["reversed"] == {"EUR": 0}
    items = orjson.loads(orjson.dumps(earnings["items"]))
    assert [e["kind"] for e in items] == ["commission"]
