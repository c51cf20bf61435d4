"""Projections: every order lands once in its creator's ledger and earnings, and in the
order indexes, however often it is delivered and however many nodes consume."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict

import orjson
import pytest
from redis.asyncio import Redis

from livecart.app import NODE_WORKERS
from livecart.commerce.orders.outbox import GROUPS
from livecart.commerce.orders.projections import project_orders
from livecart.commerce.orders.records import parse_order
from livecart.config import Settings
from livecart.runtime import Runtime, running
from livecart.store import keys
from tests.commerce.order_fixtures import (
    FAST_WEBHOOKS,
    bare_runtime,
    make_order,
    metric,
    projected,
    record_confirmed_order,
    seed_parties,
    start_show_outbox,
    wait_for,
)

PROJECTED = "livecart_orders_projected_total"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides(FAST_WEBHOOKS)


async def test_an_order_applied_many_times_at_once_is_credited_once(
    settings: Settings, redis: Redis
) -> None:
    node = await bare_runtime(settings, redis)
    order = make_order(lines=[("p1", 2, 2400, 800), ("p2", 1, 999, 1000)])
    parsed = parse_order(orjson.dumps(order))

    applied = await asyncio.gather(*(project_orders(node, [parsed]) for _ in range(8)))
    applied.append(await project_orders(node, [parsed]))

    assert sum(applied) == 1 and metric(node, PROJECTED) == 1
    assert await redis.hgetall(keys.creator_earnings("c1")) == {"EUR": str(384 + 99)}
    entry = orjson.loads(await redis.hget(keys.creator_ledger("c1"), order["id"]))
    assert entry["commission"] == 483 and entry["source"] == "show"
    assert [line["commission"] for line in entry["lines"]] == [384, 99]
    assert await redis.hlen(keys.creator_ledger("c1")) == 1
    assert (
        await redis.zscore(keys.creator_ledger_by_time("c1"), order["id"])
        == order["confirmed_at_ms"]
    )
    assert orjson.loads(await redis.get(keys.order(order["id"]))) == order
    assert await redis.zscore(keys.orders_index(), order["id"]) == order["confirmed_at_ms"]
    assert await redis.zscore(keys.buyer_orders("ana"), order["id"]) == order["confirmed_at_ms"]


async def test_an_order_nobody_brought_is_indexed_but_credited_to_no_one(
    settings: Settings, redis: Redis
) -> None:
    node = await bare_runtime(settings, redis)
    order = make_order(creator=None)
    assert await project_orders(node, [parse_order(orjson.dumps(order))]) == 1
    assert await redis.keys("lc:{c:*") == []
    assert await redis.zcard(keys.orders_index()) == 1


async def test_a_crash_between_the_ledger_and_the_indexes_is_completed_and_counted_once(
    settings: Settings, redis: Redis
) -> None:
    node = await bare_runtime(settings, redis)
    order = make_order()
    parsed = parse_order(orjson.dumps(order))
    # As if a node ran only the ledger script before it died.
    await node.scripts["apply_commission"](
        keys=[
            keys.creator_ledger("c1"),
            keys.creator_earnings("c1"),
            keys.creator_ledger_by_time("c1"),
        ],
        args=[order["id"], "{}", "EUR", 384, order["confirmed_at_ms"]],
    )
    assert await project_orders(node, [parsed]) == 1
    assert await project_orders(node, [parsed]) == 0
    assert await redis.hgetall(keys.creator_earnings("c1")) == {"EUR": "384"}
    assert await redis.zcard(keys.orders_index()) == 1


async def _dead_node_reads(redis: Redis, show: str, *, idle_ms: int = 60_000) -> list[str]:
    """A consumer "dead-node" reads every outbox entry in both groups and never acks;
    its entries are then made to look idle for ``idle_ms``, as after a crash."""
    stream = keys.show_outbox(show)
    ids: list[str] = []
    for group in GROUPS:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    for group in GROUPS:
        reply = await redis.xreadgroup(group, "dead-node", {stream: ">"}, count=1000)
        ids = [entry_id for entry_id, _ in reply[0][1]]
        await redis.xclaim(stream, group, "dead-node", 0, ids, idle=idle_ms, justid=True)
    return ids


async def _nothing_pending(redis: Redis, show: str) -> bool:
    for group in GROUPS:
        if (await redis.xpending(keys.show_outbox(show), group))["pending"]:
            return False
    return True


async def test_an_order_a_dead_node_applied_but_never_acked_is_reclaimed_and_counted_once(
    settings: Settings, redis: Redis
) -> None:
    await seed_parties(redis)
    order = make_order()
    await record_confirmed_order(redis, order)
    await _dead_node_reads(redis, "s1")
    dead = await bare_runtime(settings, redis)
    assert await project_orders(dead, [parse_order(orjson.dumps(order))]) == 1

    async with running(settings, workers=NODE_WORKERS) as live:
        await start_show_outbox(redis, "s1")
        await wait_for(lambda: _nothing_pending(redis, "s1"), what="the reclaim")
        assert metric(live, PROJECTED) == 0  # already applied by the dead node: not again

    assert await redis.hgetall(keys.creator_earnings("c1")) == {"EUR": "384"}
    assert await redis.hlen(keys.creator_ledger("c1")) == 1
    assert await redis.zcard(keys.orders_index()) == 1
    consumers = await redis.xinfo_consumers(keys.show_outbox("s1"), "projections")
    assert {c["name"]: c["pending"] for c in consumers}["dead-node"] == 0


async def test_an_order_a_dead_node_read_but_never_applied_is_still_projected_once(
    settings: Settings, redis: Redis
) -> None:
    await seed_parties(redis)
    orders = [make_order(buyer=f"b{i}") for i in range(5)]
    for order in orders:
        await record_confirmed_order(redis, order)
    await _dead_node_reads(redis, "s1")

    async with running(settings, workers=NODE_WORKERS) as live:
        await start_show_outbox(redis, "s1")
        await wait_for(lambda: projected(redis, 5), what="5 orders projected")
        await wait_for(lambda: _nothing_pending(redis, "s1"), what="the acks")
        assert metric(live, PROJECTED) == 5

    assert await redis.hgetall(keys.creator_earnings("c1")) == {"EUR": str(5 * 384)}


async def test_entries_pending_for_less_than_the_reclaim_time_are_left_to_their_node(
    settings: Settings, redis: Redis
) -> None:
    await seed_parties(redis)
    order = make_order()
    await record_confirmed_order(redis, order)
    await _dead_node_reads(redis, "s1", idle_ms=0)

    async with running(settings, workers=NODE_WORKERS):
        await start_show_outbox(redis, "s1")
        await asyncio.sleep(0.3)  # many passes of the consumers (poll_interval_ms = 20)

    assert await redis.zcard(keys.orders_index()) == 0
    assert not await _nothing_pending(redis, "s1")


async def test_two_nodes_consuming_at_once_never_double_count(
    settings: Settings, redis: Redis, runtime: Runtime
) -> None:
    await seed_parties(redis)
    shows = ["s1", "s2", "s3"]
    for show in shows:
        await start_show_outbox(redis, show)
    rng = random.Random(7)
    base_ms = 1_795_553_000_000
    orders = []
    for i in range(240):
        creator = rng.choice(["c1", "c2", None])
        orders.append(
            make_order(
                show=rng.choice(shows),
                buyer=f"buyer{i % 17}",
                creator=creator,
                source=rng.choice(["show", "link"]),
                currency=rng.choice(["EUR", "USD"]),
                lines=[
                    ("p1", rng.randint(1, 3), rng.randint(100, 9000), rng.choice([0, 500, 800]))
                ],
                confirmed_at_ms=base_ms + i // 4,  # four orders share each millisecond
            )
        )

    async with running(settings, workers=NODE_WORKERS) as second:

        async def record(batch: list[dict[str, object]]) -> None:
            for order in batch:
                await record_confirmed_order(redis, order)
                await asyncio.sleep(0)

        await asyncio.gather(*(record(orders[i::8]) for i in range(8)))
        await wait_for(lambda: projected(redis, len(orders)), within=30, what="all orders")
        for show in shows:
            await wait_for(lambda show=show: _nothing_pending(redis, show), what="the acks")
            await wait_for(
                lambda show=show: _outbox_empty(redis, show), what=f"the outbox of {show} trimmed"
            )
            for group in GROUPS:
                names = {
                    c["name"] for c in await redis.xinfo_consumers(keys.show_outbox(show), group)
                }
                assert len(names) == 2, names  # one consumer per node process
        projected_total = metric(runtime, PROJECTED) + metric(second, PROJECTED)

    assert projected_total == len(orders)
    expected: dict[str, Counter[str]] = defaultdict(Counter)
    entries: Counter[str] = Counter()
    for order in orders:
        attribution = order["attribution"]
        if attribution is not None:
            creator = attribution["creator"]  # type: ignore[index]
            expected[creator][order["currency"]] += order["commission_total"]  # type: ignore[index]
            entries[creator] += 1
    for creator in ("c1", "c2"):
        totals = await redis.hgetall(keys.creator_earnings(creator))
        assert {c: int(n) for c, n in totals.items()} == dict(expected[creator])
        assert await redis.hlen(keys.creator_ledger(creator)) == entries[creator]
        assert await redis.zcard(keys.creator_ledger_by_time(creator)) == entries[creator]
    buyers = Counter(str(order["buyer"]) for order in orders)
    for buyer, count in buyers.items():
        assert await redis.zcard(keys.buyer_orders(buyer)) == count


async def _outbox_empty(redis: Redis, show: str) -> bool:
    return int(await redis.xlen(keys.show_outbox(show))) == 0
