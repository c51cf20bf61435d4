"""The outbox consumers: every order reaches both groups, a malformed entry never wedges
a stream, outboxes stay bounded, and ended shows are let go once nothing can follow."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from redis.asyncio import Redis

from livecart.commerce.orders.outbox import GROUPS, retire_grace_ms
from livecart.commerce.orders.webhooks import put_endpoint
from livecart.config import Settings
from livecart.runtime import Runtime
from livecart.store import keys
from tests.commerce.order_fixtures import (
    FAST_WEBHOOKS,
    make_order,
    mark_show,
    metric,
    projected,
    record_confirmed_order,
    seed_parties,
    start_show_outbox,
    wait_for,
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides(FAST_WEBHOOKS)


async def _settled(redis: Redis, show: str) -> bool:
    """Both groups have read and acknowledged everything in the show's outbox."""
    stream = keys.show_outbox(show)
    groups = {g["name"]: g for g in await redis.xinfo_groups(stream)}
    if set(groups) != set(GROUPS) or any(g["pending"] for g in groups.values()):
        return False
    newest = await redis.xrevrange(stream, count=1)
    return not newest or all(
        _id(g["last-delivered-id"]) >= _id(newest[0][0]) for g in groups.values()
    )


def _id(stream_id: str) -> tuple[int, int]:
    ms, seq = stream_id.split("-")
    return int(ms), int(seq)


async def test_every_order_reaches_both_groups_and_the_outbox_is_trimmed_to_nothing(
    runtime: Runtime, redis: Redis
) -> None:
    await seed_parties(redis)
    await put_endpoint(redis, "b1", "http://127.0.0.1:9/unused", rotate_secret=False)
    await start_show_outbox(redis, "s1")
    orders = [make_order(buyer=f"u{i}") for i in range(30)]
    for order in orders:
        await record_confirmed_order(redis, order)

    await wait_for(lambda: projected(redis, 30), what="30 orders projected")
    await wait_for(lambda: _settled(redis, "s1"), what="both groups done")
    await wait_for(lambda: _xlen_is(redis, "s1", 0), what="the outbox trimmed")
    for order in orders:
        assert await redis.exists(keys.webhook(f"msg_{order['id']}"))
    assert await redis.sismember(keys.outbox_shows(), "s1")  # not ended: still read


async def _xlen_is(redis: Redis, show: str, length: int) -> bool:
    return int(await redis.xlen(keys.show_outbox(show))) == length


BAD_ENTRIES = [
    {"type": "order.confirmed"},
    {"type": "order.confirmed", "order": "{not json"},
    {"type": "order.confirmed", "order": orjson.dumps(make_order(order_id="o{1}")).decode()},
    {"type": "order.confirmed", "order": orjson.dumps(make_order(show="s2")).decode()},
    {"type": "order.refunded", "order": orjson.dumps(make_order()).decode()},
    {"type": "order.confirmed", "order": orjson.dumps({**make_order(), "total": -5}).decode()},
    {"type": "order.confirmed", "order": orjson.dumps({**make_order(), "lines": []}).decode()},
]


async def test_malformed_entries_are_dead_lettered_and_the_orders_behind_them_still_flow(
    runtime: Runtime, redis: Redis
) -> None:
    await seed_parties(redis)
    await start_show_outbox(redis, "s1")
    for fields in BAD_ENTRIES:
        await redis.xadd(keys.show_outbox("s1"), fields)
    good = make_order()
    await record_confirmed_order(redis, good)

    await wait_for(lambda: projected(redis, 1), what="the good order projected")
    await wait_for(lambda: _settled(redis, "s1"), what="every entry acknowledged")
    await wait_for(lambda: _xlen_is(redis, "s1", 0), what="the outbox trimmed")
    assert await redis.zrange(keys.orders_index(), 0, -1) == [good["id"]]
    assert await redis.hgetall(keys.creator_earnings("c1")) == {"EUR": "384"}
    dead = await redis.zrange(keys.webhooks_dead(), 0, -1)
    assert len(dead) == len(BAD_ENTRIES)
    errors = [orjson.loads(await redis.get(keys.webhook(i)))["last_error"] for i in dead]
    assert all(e.startswith("malformed outbox entry ") for e in errors)
    joined = " ".join(errors)
    for hint in ("no order field", "not valid JSON", "order.id", "order.show", "order.refunded"):
        assert hint in joined
    assert metric(runtime, "livecart_webhook_deliveries_total", outcome="dead") == len(BAD_ENTRIES)


async def test_the_outbox_keeps_every_entry_a_group_has_not_acknowledged(
    runtime: Runtime, redis: Redis
) -> None:
    await seed_parties(redis)
    stream = keys.show_outbox("s1")
    for group in GROUPS:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    first = await record_confirmed_order(redis, make_order())
    # A slow (alive) node holds the first entry in the webhooks group, not yet acked.
    await redis.xreadgroup("webhooks", "slow-node", {stream: ">"}, count=1)
    later = [await record_confirmed_order(redis, make_order()) for _ in range(3)]
    await start_show_outbox(redis, "s1")

    await wait_for(lambda: projected(redis, 4), what="4 orders projected")
    await asyncio.sleep(0.2)  # passes enough to have trimmed whatever they would
    assert [entry_id for entry_id, _ in await redis.xrange(stream)] == [first, *later]

    await redis.xack(stream, "webhooks", first)
    await record_confirmed_order(redis, make_order())  # the next ack trims again
    await wait_for(lambda: _xlen_is(redis, "s1", 0), what="the outbox trimmed")


async def test_an_ended_show_is_let_go_once_drained_and_a_live_or_just_ended_one_is_kept(
    runtime: Runtime, redis: Redis
) -> None:
    await seed_parties(redis)
    now_ms = int(time.time() * 1000)
    await mark_show(redis, "s-old", "ended", ended_at=now_ms - retire_grace_ms(runtime) - 1000)
    await mark_show(redis, "s-new", "ended", ended_at=now_ms)
    await mark_show(redis, "s-live", "live")
    for show in ("s-old", "s-new", "s-live"):
        await start_show_outbox(redis, show)
        await record_confirmed_order(redis, make_order(show=show))

    await wait_for(lambda: projected(redis, 3), what="3 orders projected")

    async def old_let_go() -> bool:
        return not await redis.sismember(keys.outbox_shows(), "s-old")

    await wait_for(old_let_go, what="s-old removed from outbox_shows")
    await asyncio.sleep(0.2)
    assert await redis.smembers(keys.outbox_shows()) == {"s-new", "s-live"}

    # A hold taken before the end may still be confirmed within the grace: still read.
    await record_confirmed_order(redis, make_order(show="s-new"))
    await wait_for(lambda: projected(redis, 4), what="the late order projected")


async def test_an_ended_show_with_orders_left_to_read_is_kept_until_they_are_read(
    runtime: Runtime, redis: Redis
) -> None:
    await seed_parties(redis)
    stream = keys.show_outbox("s1")
    for group in GROUPS:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    await record_confirmed_order(redis, make_order())
    await redis.xreadgroup("projections", "slow-node", {stream: ">"}, count=1)
    await mark_show(redis, "s1", "ended", ended_at=1)
    await start_show_outbox(redis, "s1")
    await asyncio.sleep(0.3)
    assert await redis.sismember(keys.outbox_shows(), "s1")  # slow-node has not acked

    pending = await redis.xpending_range(stream, "projections", "-", "+", 10)
    await redis.xack(stream, "projections", *[p["message_id"] for p in pending])

    async def let_go() -> bool:
        return not await redis.sismember(keys.outbox_shows(), "s1")

    await wait_for(let_go, what="s1 let go")


async def test_an_outbox_deleted_under_the_consumers_is_made_again_and_read(
    runtime: Runtime, redis: Redis
) -> None:
    await seed_parties(redis)
    await start_show_outbox(redis, "s1")
    await record_confirmed_order(redis, make_order())
    await wait_for(lambda: projected(redis, 1), what="the first order")
    await wait_for(lambda: _settled(redis, "s1"), what="the first order acknowledged")
    await redis.delete(keys.show_outbox("s1"))
    await record_confirmed_order(redis, make_order())
    await wait_for(lambda: projected(redis, 2), what="the order in the new stream")


async def test_a_started_show_without_orders_gets_no_outbox_written_and_is_let_go_when_ended(
    runtime: Runtime, redis: Redis
) -> None:
    await mark_show(redis, "s1", "live")
    await start_show_outbox(redis, "s1")
    await asyncio.sleep(0.2)
    assert not await redis.exists(keys.show_outbox("s1"))
    assert await redis.sismember(keys.outbox_shows(), "s1")

    await mark_show(redis, "s1", "ended", ended_at=1)

    async def let_go() -> bool:
        return not await redis.sismember(keys.outbox_shows(), "s1")

    await wait_for(let_go, what="s1 let go")
    assert not await redis.exists(keys.show_outbox("s1"))
