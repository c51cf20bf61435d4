"""The order lifecycle (livecart/commerce/lifecycle.py): every legal move with its
history, event and outbox entry; every illegal one refused with its code and nothing
changed; a cancellation's units back in stock; refunds in parts, through the provider."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from livecart.commerce.orders.lifecycle import (
    Cancellation,
    Fulfilment,
    InvalidTransition,
    PaymentFailed,
    RefundRequest,
    cancel_order,
    deliver_order,
    fulfil_order,
    refund_order,
)
from livecart.commerce.orders.projections import project_orders
from livecart.commerce.orders.records import parse_order
from livecart.commerce.payments.providers import ScriptedForTests
from livecart.commerce.sales import checkout
from livecart.commerce.sales.checkout import BuyRequest
from livecart.commerce.shows import control as show_control
from livecart.errors import Conflict, LivecartError, NotFound, Unprocessable
from livecart.runtime import Runtime, running
from livecart.store import keys
from tests.commerce.conftest import SHOW, assert_units_add_up, units
from tests.commerce.order_fixtures import make_order, record_confirmed_order, wait_for
from tests.helpers import raw_client
from tests.keyspace import differences, snapshot

TRACKING = Fulfilment(
    carrier="PostNord",
    tracking_number="00370712345",
    tracking_url="https://tracking.example/00370712345",
)


@pytest.fixture
async def raw_redis(runtime: Runtime) -> AsyncIterator[Redis]:
    """A client that does not decode (what tests/keyspace.py reads with)."""
    client = raw_client(runtime.settings)
    yield client
    await client.aclose()


async def bought(
    runtime: Runtime, show: str, buyer: str = "ana", sku: str = "p-plain", quantity: int = 2
) -> dict[str, Any]:
    """A confirmed order, its cross-show copy projected (the lifecycle finds it there)."""
    request = BuyRequest(sku=sku, quantity=quantity, idempotency_key=f"k-{buyer}-{sku}")
    outcome = await checkout.buy(runtime, show, buyer, request)
    assert outcome.result == "confirmed" and outcome.order is not None, outcome
    order = outcome.order

    async def copied() -> bool:
        return bool(await runtime.redis.exists(keys.order(order["id"])))

    await wait_for(copied, what="the order projected")
    return order


async def stored(runtime: Runtime, order_id: str) -> dict[str, Any]:
    raw = await runtime.redis.get(keys.show_order(SHOW, order_id))
    assert raw is not None
    found: dict[str, Any] = orjson.loads(raw)
    return found


async def events_of(runtime: Runtime, kind: str) -> list[dict[str, Any]]:
    entries = await runtime.redis.xrange(keys.show_events(SHOW))
    return [orjson.loads(f["data"]) for _, f in entries if f["type"] == kind]


async def test_fulfil_then_deliver_keeps_tracking_history_and_sends_only_id_and_status(
    runtime: Runtime, show: str
) -> None:
    order = await bought(runtime, show)
    fulfilled = await fulfil_order(runtime, order["id"], TRACKING)
    assert fulfilled["status"] == "fulfilled"
    assert fulfilled["version"] == 2
    assert fulfilled["fulfilment"] == TRACKING.to_dict()
    first, move = fulfilled["history"]
    assert first == {
        "at_ms": order["confirmed_at_ms"],
        "by": "buyer",
        "from": None,
        "to": "confirmed",
    }
    assert move["by"] == "merchant" and (move["from"], move["to"]) == ("confirmed", "fulfilled")
    assert move["details"] == TRACKING.to_dict()
    assert move["at_ms"] == fulfilled["updated_at_ms"] >= order["confirmed_at_ms"]
    assert await stored(runtime, order["id"]) == fulfilled

    delivered = await deliver_order(runtime, order["id"])
    assert delivered["status"] == "delivered" and delivered["version"] == 3
    assert [h["to"] for h in delivered["history"]] == ["confirmed", "fulfilled", "delivered"]
    assert delivered["fulfilment"] == TRACKING.to_dict()

    # The show's stream (staff pages read it) carries the id and the status, no more.
    assert await events_of(runtime, "order_status") == [
        {"order": order["id"], "status": "fulfilled"},
        {"order": order["id"], "status": "delivered"},
    ]

    async def copy_delivered() -> bool:
        raw = await runtime.redis.get(keys.order(order["id"]))
        return raw is not None and orjson.loads(raw)["status"] == "delivered"

    await wait_for(copy_delivered, what="the copy following the lifecycle")


async def test_the_copy_is_never_taken_back_to_an_older_version(
    runtime: Runtime, show: str
) -> None:
    order = await bought(runtime, show)
    fulfilled = await fulfil_order(runtime, order["id"], TRACKING)

    async def copy_fulfilled() -> bool:
        raw = await runtime.redis.get(keys.order(order["id"]))
        return raw is not None and orjson.loads(raw).get("version") == 2

    await wait_for(copy_fulfilled, what="the fulfilled copy")
    # The confirmation read again (a reclaim, a redelivery) changes nothing.
    assert await project_orders(runtime, [parse_order(orjson.dumps(order))]) == 0
    copy = orjson.loads(await runtime.redis.get(keys.order(order["id"])) or "null")
    assert copy == fulfilled


async def test_a_cancel_returns_the_units_to_stock_and_frees_the_buyers_limit(
    runtime: Runtime, show: str
) -> None:
    order = await bought(runtime, show, sku="p-limited", quantity=2)  # limit 2 per buyer
    assert (await units(runtime.redis, "p-limited")).stock == 48
    cancelled = await cancel_order(runtime, order["id"], Cancellation(reason="out of stock"))
    assert cancelled["status"] == "cancelled"
    assert cancelled["history"][-1]["details"] == {"reason": "out of stock"}
    after = await units(runtime.redis, "p-limited")
    assert (after.stock, after.sold, after.held) == (50, 0, 0)
    await assert_units_add_up(runtime.redis)
    assert (await events_of(runtime, "stock"))[-1] == {"sku": "p-limited", "stock": 50}
    assert isinstance(runtime.payments, ScriptedForTests)
    assert order["id"] in runtime.payments.voided
    # The limit counts what the buyer keeps: two more may be bought.
    again = await checkout.buy(
        runtime, show, "ana", BuyRequest(sku="p-limited", quantity=2, idempotency_key="k2")
    )
    assert again.result == "confirmed"


async def test_a_cancel_after_the_show_ended_puts_the_units_back_in_its_stock(
    runtime: Runtime, show: str
) -> None:
    order = await bought(runtime, show, quantity=3)
    await show_control.end_show(runtime, show)
    await cancel_order(runtime, order["id"], Cancellation(reason=""))
    after = await units(runtime.redis, "p-plain")
    assert (after.stock, after.sold) == (50, 0)
    await assert_units_add_up(runtime.redis)
    assert (await stored(runtime, order["id"]))["history"][-1]["details"] == {}


async def test_partial_refunds_then_the_rest_make_the_order_refunded(
    runtime: Runtime, show: str
) -> None:
    order = await bought(runtime, show)  # 2 x 1000
    first = await refund_order(runtime, order["id"], RefundRequest(amount=500, reason="scratch"))
    assert first["status"] == "confirmed" and first["refunded_total"] == 500
    assert [(r["id"], r["amount"]) for r in first["refunds"]] == [(f"{order['id']}-r1", 500)]
    assert first["refunds"][0]["reference"] == f"test_refund_{order['id']}-r1"
    assert first["history"][-1]["from"] == first["history"][-1]["to"] == "confirmed"
    fulfilled = await fulfil_order(runtime, order["id"], TRACKING)  # a partial refund ships
    assert fulfilled["refunded_total"] == 500
    second = await refund_order(runtime, order["id"], RefundRequest(amount=1500, reason=""))
    assert second["status"] == "refunded" and second["refunded_total"] == 2000
    assert [h["to"] for h in second["history"]] == [
        "confirmed",
        "confirmed",
        "fulfilled",
        "refunded",
    ]
    assert isinstance(runtime.payments, ScriptedForTests)
    assert runtime.payments.refunded == [(f"{order['id']}-r1", 500), (f"{order['id']}-r2", 1500)]
    assert await events_of(runtime, "order_status") == [
        {"order": order["id"], "status": "confirmed"},
        {"order": order["id"], "status": "fulfilled"},
        {"order": order["id"], "status": "refunded"},
    ]


Move = Callable[[Runtime, str], Awaitable[Any]]


def fulfil(runtime: Runtime, order_id: str) -> Awaitable[Any]:
    return fulfil_order(runtime, order_id, TRACKING)


def deliver(runtime: Runtime, order_id: str) -> Awaitable[Any]:
    return deliver_order(runtime, order_id)


def cancel(runtime: Runtime, order_id: str) -> Awaitable[Any]:
    return cancel_order(runtime, order_id, Cancellation(reason="late"))


def refund(amount: int) -> Move:
    def move(runtime: Runtime, order_id: str) -> Awaitable[Any]:
        return refund_order(runtime, order_id, RefundRequest(amount=amount, reason=""))

    return move


# (moves that succeed first, the refused move, its code, the status the refusal names)
ILLEGAL: list[tuple[str, list[Move], Move, str, str]] = [
    ("deliver before fulfil", [], deliver, "invalid_transition", "confirmed"),
    ("cancel after fulfil", [fulfil], cancel, "invalid_transition", "fulfilled"),
    ("fulfil twice", [fulfil], fulfil, "invalid_transition", "fulfilled"),
    ("fulfil a cancelled order", [cancel], fulfil, "invalid_transition", "cancelled"),
    ("deliver a cancelled order", [cancel], deliver, "invalid_transition", "cancelled"),
    ("cancel twice", [cancel], cancel, "invalid_transition", "cancelled"),
    ("cancel a delivered order", [fulfil, deliver], cancel, "invalid_transition", "delivered"),
    ("deliver twice", [fulfil, deliver], deliver, "invalid_transition", "delivered"),
    ("refund a cancelled order", [cancel], refund(1), "nothing_to_refund", "cancelled"),
    ("refund more than paid", [], refund(2001), "refund_exceeds_paid", "confirmed"),
    (
        "refund past earlier refunds",
        [refund(1500)],
        refund(501),
        "refund_exceeds_paid",
        "confirmed",
    ),
    ("refund a refunded order", [refund(2000)], refund(1), "nothing_to_refund", "refunded"),
    ("fulfil a refunded order", [refund(2000)], fulfil, "invalid_transition", "refunded"),
    ("cancel a refunded order", [refund(2000)], cancel, "invalid_transition", "refunded"),
]


@pytest.mark.parametrize(
    ("before", "move", "code", "status"),
    [pytest.param(b, m, c, s, id=name) for name, b, m, c, s in ILLEGAL],
)
async def test_an_illegal_move_is_refused_with_its_code_and_changes_nothing(
    runtime: Runtime,
    show: str,
    raw_redis: Redis,
    before: list[Move],
    move: Move,
    code: str,
    status: str,
) -> None:
    order = await bought(runtime, show)
    for step in before:
        await step(runtime, order["id"])
    state = await snapshot(raw_redis)
    with pytest.raises(LivecartError) as refused:
        await move(runtime, order["id"])
    assert refused.value.code == code
    assert refused.value.http_status == 409
    assert refused.value.extra["status"] == status
    if code == "invalid_transition":
        assert isinstance(refused.value, InvalidTransition)
    assert differences(state, await snapshot(raw_redis)) == []


async def test_an_unknown_order_is_not_found(runtime: Runtime, show: str) -> None:
    with pytest.raises(NotFound) as missing:
        await deliver_order(runtime, "o_nothing")
    assert missing.value.field == "order"


async def test_a_refund_the_provider_fails_records_nothing_and_can_be_tried_again(
    runtime: Runtime, show: str, raw_redis: Redis
) -> None:
    order = await bought(runtime, show, buyer="refunderror-1")
    state = await snapshot(raw_redis)
    for _ in range(2):  # the lock was freed: the retry meets the provider again
        with pytest.raises(PaymentFailed) as failed:
            await refund_order(runtime, order["id"], RefundRequest(amount=100, reason=""))
        assert failed.value.code == "payment_error" and failed.value.http_status == 502
    assert differences(state, await snapshot(raw_redis)) == []


async def test_a_refund_while_another_is_under_way_is_refused(runtime: Runtime, show: str) -> None:
    order = await bought(runtime, show)
    await runtime.redis.set(keys.show_order_refund_lock(SHOW, order["id"]), "other", px=5000)
    with pytest.raises(Conflict) as busy:
        await refund_order(runtime, order["id"], RefundRequest(amount=100, reason=""))
    assert busy.value.code == "refund_in_progress"
    assert (await stored(runtime, order["id"])).get("refunded_total") is None


async def test_a_move_on_a_show_whose_outbox_is_no_longer_read_is_read_again(
    runtime: Runtime, show: str
) -> None:
    order = await bought(runtime, show)
    await show_control.end_show(runtime, show)
    # What the consumers do once an ended show's outbox is drained (outbox.py).
    await runtime.redis.srem(keys.outbox_shows(), show)
    await fulfil_order(runtime, order["id"], TRACKING)
    assert await runtime.redis.sismember(keys.outbox_shows(), show)

    async def copy_fulfilled() -> bool:
        raw = await runtime.redis.get(keys.order(order["id"]))
        return raw is not None and orjson.loads(raw)["status"] == "fulfilled"

    await wait_for(copy_fulfilled, what="the move projected")


async def test_an_order_too_large_to_rewrite_exactly_is_refused_unchanged(
    runtime: Runtime, show: str, raw_redis: Redis
) -> None:
    huge = make_order(show=SHOW, brand="b1", lines=[("p-plain", 1000, 10**11, 0)])
    await record_confirmed_order(runtime.redis, huge)

    async def copied() -> bool:
        return bool(await runtime.redis.exists(keys.order(huge["id"])))

    await wait_for(copied, what="the order projected")
    state = await snapshot(raw_redis)
    for move in (fulfil, cancel, refund(1)):
        with pytest.raises(Unprocessable) as refused:
            await move(runtime, huge["id"])
        assert refused.value.code == "order_too_large"
    assert differences(state, await snapshot(raw_redis)) == []


async def test_an_order_paid_through_a_provider_the_node_no_longer_runs_is_not_refunded(
    runtime: Runtime, show: str, raw_redis: Redis
) -> None:
    order = await bought(runtime, show)  # paid through the test provider
    builtin = runtime.settings.with_overrides({"checkout": {"payment_provider": "builtin"}})
    async with running(builtin) as other:
        before = await snapshot(raw_redis)
        with pytest.raises(Conflict) as refused:
            await refund_order(other, order["id"], RefundRequest(amount=100, reason=""))
        assert refused.value.code == "provider_changed"
        assert "'test'" in refused.value.message
        assert differences(before, await snapshot(raw_redis)) == []


async def test_an_order_the_merchant_collected_is_refunded_and_cancelled_under_any_provider(
    runtime: Runtime, show: str
) -> None:
    builtin = runtime.settings.with_overrides({"checkout": {"payment_provider": "builtin"}})
    async with running(builtin) as other:
        first = await bought(other, show, buyer="ana")
        second = await bought(other, show, buyer="bo")
    provider = runtime.payments
    assert isinstance(provider, ScriptedForTests)
    refunded = await refund_order(runtime, first["id"], RefundRequest(amount=500, reason=""))
    assert refunded["refunds"][0]["reference"] == f"builtin_{first['id']}-r1"
    cancelled = await cancel_order(runtime, second["id"], Cancellation(reason=""))
    assert cancelled["status"] == "cancelled"
    assert provider.refunded == [] and provider.voided == []  # the test provider was not asked
