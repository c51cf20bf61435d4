"""Webhooks: signed as Standard Webhooks says, retried with the same id until a 2xx,
dead-lettered after max_attempts, redelivered on request, never sent twice at once."""

from __future__ import annotations

import asyncio
import base64
import random
import time
from datetime import UTC, datetime

import orjson
import pytest
from redis.asyncio import Redis
from standardwebhooks.webhooks import Webhook

from livecart.app import NODE_WORKERS
from livecart.commerce.orders import webhooks as webhooks_module
from livecart.commerce.orders.records import PageRequest, delivery_id_for, parse_order
from livecart.commerce.orders.webhooks import (
    DEAD,
    DEAD_RETENTION_S,
    DELIVERED,
    PENDING,
    claim_due,
    delete_endpoint,
    enqueue_deliveries,
    get_delivery,
    lease_ms,
    list_dead,
    new_secret,
    put_endpoint,
    redeliver,
    retry_delay_s,
    sign,
)
from livecart.config import Settings, WebhookSettings
from livecart.errors import Conflict, NotFound
from livecart.runtime import Runtime, running
from livecart.store import keys
from tests.commerce.order_fixtures import (
    FAST_WEBHOOKS,
    Receiver,
    bare_runtime,
    make_order,
    metric,
    record_confirmed_order,
    seed_parties,
    serving,
    start_show_outbox,
    wait_for,
)

DELIVERIES = "livecart_webhook_deliveries_total"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides(FAST_WEBHOOKS)


async def _status(redis: Redis, delivery_id: str, status: str) -> bool:
    raw = await redis.get(keys.webhook(delivery_id))
    return raw is not None and orjson.loads(raw)["status"] == status


async def _send_order(redis: Redis, url: str, **order_changes: object) -> tuple[dict, str]:
    """An order of brand b1 (whose endpoint is ``url``) through the outbox; the order
    and the brand's secret."""
    await seed_parties(redis)
    endpoint, _ = await put_endpoint(redis, "b1", url, rotate_secret=False)
    await start_show_outbox(redis, "s1")
    order = make_order(**order_changes)  # type: ignore[arg-type]
    await record_confirmed_order(redis, order)
    return order, endpoint.secret


# --- pure parts -------------------------------------------------------------------------


def test_signatures_are_the_ones_the_standard_webhooks_library_makes() -> None:
    secret = new_secret()
    body = b'{"type":"order.confirmed","data":{"id":"o_1","title":"caf\xc3\xa9"}}'
    ts = 1_795_553_006
    reference = Webhook(secret).sign("msg_o_1", datetime.fromtimestamp(ts, tz=UTC), body.decode())
    assert sign(secret, "msg_o_1", ts, body) == reference


def test_new_secrets_are_whsec_and_24_random_bytes_in_base64() -> None:
    secrets = {new_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 24


def test_retry_delays_double_up_to_the_cap_with_jitter_that_only_shortens() -> None:
    settings = WebhookSettings(backoff_base_s=1.0, backoff_max_s=60.0)
    rng = random.Random(1)
    for attempts, full in [(1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0), (7, 60.0), (100, 60.0)]:
        delays = [retry_delay_s(attempts, settings, rng) for _ in range(200)]
        assert all(0.8 * full <= d <= full for d in delays), (attempts, min(delays), max(delays))
        assert max(delays) - min(delays) > 0.1 * full  # jittered, not constant


def test_the_delivery_id_is_derived_from_the_order_id_alone() -> None:
    assert delivery_id_for("o_0123456789abcdef0123") == "msg_o_0123456789abcdef0123"
    long_id = "o" * 64
    assert delivery_id_for(long_id) == delivery_id_for(long_id)
    assert len(delivery_id_for(long_id)) <= 64


# --- delivering -------------------------------------------------------------------------


async def test_a_failing_receiver_gets_the_same_signed_message_until_it_answers_2xx(
    runtime: Runtime, redis: Redis
) -> None:
    async with serving(Receiver(fail_first=2)) as receiver:
        order, secret = await _send_order(redis, receiver.url)
        delivery_id = f"msg_{order['id']}"
        await wait_for(lambda: _status(redis, delivery_id, DELIVERED), what="delivered")

    payloads = receiver.verified(secret)
    assert len(payloads) == 3 and receiver.ids() == [delivery_id] * 3
    assert {r.body for r in receiver.requests} == {receiver.requests[0].body}
    assert payloads[0]["type"] == "order.confirmed" and payloads[0]["data"] == order
    assert payloads[0]["timestamp"].endswith("Z")
    assert all(r.headers["content-type"] == "application/json" for r in receiver.requests)
    gaps = [b.at - a.at for a, b in zip(receiver.requests, receiver.requests[1:], strict=False)]
    assert gaps[0] >= 0.05 * 0.8 and gaps[1] >= 0.1 * 0.8  # backoff doubled

    record = await get_delivery(redis, delivery_id)
    assert record.attempts == 3 and record.last_status == 204 and record.delivered_at_ms
    assert await redis.zscore(keys.webhooks_due(), delivery_id) is None
    assert 0 < await redis.ttl(keys.webhook(delivery_id)) <= 7 * 86400
    assert metric(runtime, DELIVERIES, outcome="failed") == 2
    assert metric(runtime, DELIVERIES, outcome="delivered") == 1


async def test_a_receiver_that_hangs_past_the_timeout_is_tried_again(
    runtime: Runtime, redis: Redis
) -> None:
    async with serving(Receiver(hang_first=1, hang_s=1.5)) as receiver:
        order, secret = await _send_order(redis, receiver.url)
        delivery_id = f"msg_{order['id']}"
        await wait_for(lambda: _status(redis, delivery_id, DELIVERED), what="delivered")
        record = await get_delivery(redis, delivery_id)

    assert len(receiver.verified(secret)) == 2 and set(receiver.ids()) == {delivery_id}
    assert record.attempts == 2
    assert metric(runtime, DELIVERIES, outcome="failed") == 1


async def test_after_max_attempts_a_delivery_is_dead_lettered_and_redeliver_sends_it_again(
    runtime: Runtime, redis: Redis
) -> None:
    async with serving(Receiver(failing=True, fail_status=503)) as receiver:
        order, secret = await _send_order(redis, receiver.url)
        delivery_id = f"msg_{order['id']}"
        await wait_for(lambda: _status(redis, delivery_id, DEAD), what="dead-lettered")
        await asyncio.sleep(0.2)  # no further attempt comes
        assert len(receiver.requests) == 3

        dead = await list_dead(redis, PageRequest())
        assert dead["items"] == [
            {
                "id": delivery_id,
                "brand": "b1",
                "order": order["id"],
                "show": "s1",
                "attempts": 3,
                "last_error": "HTTP 503",
                "last_status": 503,
                "dead_at_ms": dead["items"][0]["dead_at_ms"],
            }
        ]
        assert await redis.zscore(keys.webhooks_due(), delivery_id) is None

        async def gauge_is(n: int) -> bool:
            return metric(runtime, "livecart_webhooks_dead") == n

        await wait_for(lambda: gauge_is(1), what="the dead gauge at 1")
        assert metric(runtime, DELIVERIES, outcome="dead") == 1

        receiver.failing = False
        revived = await redeliver(redis, delivery_id)
        assert revived.status == PENDING and revived.attempts == 0
        await wait_for(lambda: _status(redis, delivery_id, DELIVERED), what="redelivered")
        await wait_for(lambda: gauge_is(0), what="the dead gauge at 0")

    assert len(receiver.verified(secret)) == 4 and set(receiver.ids()) == {delivery_id}
    assert (await list_dead(redis, PageRequest()))["items"] == []
    with pytest.raises(Conflict):
        await redeliver(redis, delivery_id)  # delivered, not dead
    with pytest.raises(NotFound):
        await redeliver(redis, "msg_o_nothing")


async def test_a_brand_whose_endpoint_was_removed_has_its_delivery_dead_lettered(
    settings: Settings, redis: Redis
) -> None:
    node = await bare_runtime(settings, redis)  # no workers: the record is made by hand
    await seed_parties(redis)
    await put_endpoint(redis, "b1", "http://127.0.0.1:9/hook", rotate_secret=False)
    order = parse_order(orjson.dumps(make_order()))
    assert await enqueue_deliveries(node.redis, [order], now_ms=1) == 1
    await delete_endpoint(redis, "b1")

    async with running(settings, workers=NODE_WORKERS):
        await wait_for(lambda: _status(redis, order.delivery_id, DEAD), what="dead")
    record = await get_delivery(redis, order.delivery_id)
    assert record.attempts == 3 and "has no webhook endpoint" in (record.last_error or "")


async def test_orders_of_brands_without_an_endpoint_make_no_delivery(
    runtime: Runtime, redis: Redis
) -> None:
    await seed_parties(redis)
    await start_show_outbox(redis, "s1")
    await record_confirmed_order(redis, make_order())

    async def acked() -> bool:
        groups = {g["name"]: g for g in await redis.xinfo_groups(keys.show_outbox("s1"))}
        return "webhooks" in groups and await redis.xlen(keys.show_outbox("s1")) == 0

    await wait_for(acked, what="the webhooks group done")
    assert await redis.keys("lc:webhook*") == []


async def test_reading_an_order_again_creates_no_second_delivery_and_never_requeues_a_sent_one(
    settings: Settings, redis: Redis
) -> None:
    node = await bare_runtime(settings, redis)
    await seed_parties(redis)
    await put_endpoint(redis, "b1", "http://127.0.0.1:9/hook", rotate_secret=False)
    order = parse_order(orjson.dumps(make_order()))
    assert await enqueue_deliveries(node.redis, [order], now_ms=1000) == 1
    first = await redis.get(keys.webhook(order.delivery_id))
    assert await enqueue_deliveries(node.redis, [order, order], now_ms=2000) == 0
    assert await redis.get(keys.webhook(order.delivery_id)) == first
    assert await redis.zscore(keys.webhooks_due(), order.delivery_id) == 1000

    # Left out of the due set (a crash after the record was made): put back once.
    await redis.zrem(keys.webhooks_due(), order.delivery_id)
    await enqueue_deliveries(node.redis, [order], now_ms=3000)
    assert await redis.zscore(keys.webhooks_due(), order.delivery_id) == 3000

    # Delivered: a late re-read must not make it due again.
    record = orjson.loads(first)  # type: ignore[arg-type]
    record["status"] = DELIVERED
    await redis.set(keys.webhook(order.delivery_id), orjson.dumps(record))
    await redis.zrem(keys.webhooks_due(), order.delivery_id)
    await enqueue_deliveries(node.redis, [order], now_ms=4000)
    assert await redis.zscore(keys.webhooks_due(), order.delivery_id) is None


async def test_each_delivery_is_listed_once_under_its_brand_at_its_creation_time(
    settings: Settings, redis: Redis
) -> None:
    node = await bare_runtime(settings, redis)
    await seed_parties(redis)
    await put_endpoint(redis, "b1", "http://127.0.0.1:9/hook", rotate_secret=False)
    order = parse_order(orjson.dumps(make_order()))
    await enqueue_deliveries(node.redis, [order], now_ms=1000)
    index = keys.brand_webhook_deliveries("b1")
    assert await redis.zrange(index, 0, -1, withscores=True) == [(order.delivery_id, 1000)]

    # Read again later: never moved. Left out by a crash: put back at its creation time.
    await enqueue_deliveries(node.redis, [order], now_ms=2000)
    await redis.zrem(index, order.delivery_id)
    await enqueue_deliveries(node.redis, [order], now_ms=3000)
    assert await redis.zrange(index, 0, -1, withscores=True) == [(order.delivery_id, 1000)]


async def test_a_brands_delivery_listing_is_capped_and_forgets_what_outlived_its_records(
    settings: Settings, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks_module, "MAX_LISTED_DELIVERIES", 3)
    node = await bare_runtime(settings, redis)
    await seed_parties(redis)
    await put_endpoint(redis, "b1", "http://127.0.0.1:9/hook", rotate_secret=False)
    index = keys.brand_webhook_deliveries("b1")
    now = DEAD_RETENTION_S * 1000 + 10_000
    await redis.zadd(index, {"msg_ancient": now - DEAD_RETENTION_S * 1000 - 1})
    orders = [parse_order(orjson.dumps(make_order())) for _ in range(5)]
    await enqueue_deliveries(node.redis, orders[:1], now_ms=now)
    assert await redis.zrange(index, 0, -1) == [orders[0].delivery_id]
    for i, order in enumerate(orders[1:], start=1):
        await enqueue_deliveries(node.redis, [order], now_ms=now + i)
    assert await redis.zrange(index, 0, -1) == [o.delivery_id for o in orders[2:]]


async def test_two_nodes_deliver_each_webhook_once_when_nothing_fails(
    settings: Settings, redis: Redis, runtime: Runtime
) -> None:
    async with serving(Receiver()) as receiver, running(settings, workers=NODE_WORKERS) as second:
        await seed_parties(redis)
        endpoint, _ = await put_endpoint(redis, "b1", receiver.url, rotate_secret=False)
        await start_show_outbox(redis, "s1")
        orders = [make_order(buyer=f"u{i}") for i in range(60)]
        for order in orders:
            await record_confirmed_order(redis, order)

        async def all_received() -> bool:
            return len(receiver.requests) >= len(orders)

        await wait_for(all_received, within=20, what="60 webhooks")
        await asyncio.sleep(0.3)  # time for any duplicate to arrive
        delivered = metric(runtime, DELIVERIES, outcome="delivered") + metric(
            second, DELIVERIES, outcome="delivered"
        )

    assert sorted(receiver.ids()) == sorted(f"msg_{o['id']}" for o in orders)
    assert len(receiver.verified(endpoint.secret)) == len(orders)
    assert delivered == len(orders)


async def test_a_delivery_claimed_by_a_node_that_died_is_sent_when_its_lease_runs_out(
    settings: Settings, redis: Redis
) -> None:
    dead_node = await bare_runtime(settings, redis)
    async with serving(Receiver()) as receiver:
        await seed_parties(redis)
        endpoint, _ = await put_endpoint(redis, "b1", receiver.url, rotate_secret=False)
        order = parse_order(orjson.dumps(make_order()))
        seconds, micros = await redis.time()
        await enqueue_deliveries(redis, [order], now_ms=seconds * 1000 + micros // 1000)
        _, claimed = await claim_due(dead_node, 10)  # ...and then it died
        claimed_at = time.monotonic()
        assert claimed == [order.delivery_id]

        async with running(settings, workers=NODE_WORKERS):
            await wait_for(
                lambda: _status(redis, order.delivery_id, DELIVERED),
                within=lease_ms(settings.webhooks) / 1000 + 5,
                what="delivered after the lease",
            )
    assert len(receiver.verified(endpoint.secret)) == 1
    assert receiver.requests[0].at - claimed_at >= lease_ms(settings.webhooks) / 1000 - 0.1
