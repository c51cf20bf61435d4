"""A brand's shipping fee: flat per order, free from a threshold of the items; copied
into each order with its total broken down, authorised and refundable with the items,
never earning commission. Real Redis and scripts; the test payment provider."""

from __future__ import annotations

import pytest

from livecart.commerce.orders.export import export_orders
from livecart.commerce.orders.lifecycle import RefundRequest, refund_order
from livecart.commerce.payments.providers import ScriptedForTests
from livecart.commerce.sales import checkout
from livecart.commerce.sales.checkout import BuyRequest, CartAdd
from livecart.commerce.sales.shipping import FREE, ShippingRule, get_rule, put_rule
from livecart.errors import InvalidInput, LivecartError
from livecart.runtime import Runtime
from livecart.store import keys
from tests.commerce.conftest import SHOW
from tests.commerce.order_fixtures import wait_for


def test_the_fee_is_flat_until_the_items_reach_the_threshold() -> None:
    rule = ShippingRule(flat=490, free_over=5000)
    assert [rule.fee(t) for t in (1, 4999, 5000, 90_000)] == [490, 490, 0, 0]
    assert ShippingRule(flat=490).fee(10**9) == 490
    assert FREE.fee(1) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "flat"),
        ({"flat": -1}, "flat"),
        ({"flat": 4.9}, "flat"),
        ({"flat": "490"}, "flat"),
        ({"flat": True}, "flat"),
        ({"flat": 10**11 + 1}, "flat"),
        ({"flat": 490, "free_over": 0}, "free_over"),
        ({"flat": 490, "free_over": "5000"}, "free_over"),
        ({"flat": 490, "per_item": 100}, "per_item"),
    ],
)
def test_a_bad_rule_is_refused_by_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        ShippingRule.from_dict(body)
    assert refused.value.field == field


def tap(key: str, quantity: int = 1) -> BuyRequest:
    return BuyRequest(sku="p-plain", quantity=quantity, idempotency_key=key)


async def test_an_order_pays_the_fee_and_carries_its_breakdown(runtime: Runtime, show: str) -> None:
    await put_rule(runtime.redis, "b1", ShippingRule(flat=490, free_over=5000))
    small = await checkout.buy(runtime, SHOW, "ana", tap("k1", 2))
    assert small.result == "confirmed" and small.order is not None
    order = small.order
    assert (order["items_total"], order["shipping"], order["total"]) == (2000, 490, 2490)
    assert order["commission_total"] == 200  # 10 % of the items, none of the shipping
    provider = runtime.payments
    assert isinstance(provider, ScriptedForTests)
    assert provider.authorised[-1][1] == 2490  # the card is asked for the whole total

    large = await checkout.buy(runtime, SHOW, "ben", tap("k2", 5))
    assert large.order is not None
    assert (large.order["items_total"], large.order["shipping"], large.order["total"]) == (
        5000,
        0,
        5000,
    )


async def test_a_cart_is_one_order_with_one_fee(runtime: Runtime, show: str) -> None:
    await put_rule(runtime.redis, "b1", ShippingRule(flat=300))
    await checkout.cart_add(runtime, SHOW, "ana", CartAdd(sku="p-plain", quantity=1))
    await checkout.cart_add(runtime, SHOW, "ana", CartAdd(sku="p-scarce", quantity=2))
    outcome = await checkout.checkout_cart(runtime, SHOW, "ana", "cart-1")
    assert outcome.result == "confirmed" and outcome.order is not None
    assert (outcome.order["items_total"], outcome.order["shipping"]) == (2000, 300)
    assert outcome.order["total"] == 2300


async def test_without_a_rule_orders_ship_free(runtime: Runtime, show: str) -> None:
    assert await get_rule(runtime.redis, "b1") == FREE
    outcome = await checkout.buy(runtime, SHOW, "ana", tap("k1"))
    assert outcome.order is not None
    assert (outcome.order["items_total"], outcome.order["shipping"]) == (1000, 0)
    assert outcome.order["total"] == 1000


async def test_a_change_of_rule_leaves_placed_orders_as_they_were(
    runtime: Runtime, show: str
) -> None:
    await put_rule(runtime.redis, "b1", ShippingRule(flat=490))
    first = await checkout.buy(runtime, SHOW, "ana", tap("k1"))
    await put_rule(runtime.redis, "b1", ShippingRule(flat=990))
    second = await checkout.buy(runtime, SHOW, "ben", tap("k2"))
    assert first.order is not None and second.order is not None
    assert (first.order["shipping"], second.order["shipping"]) == (490, 990)
    csv_text, _ = await export_orders(
        runtime.redis, show=SHOW, status=None, since_ms=None, until_ms=None, after=None
    )
    header, *rows = [line.split(",") for line in csv_text.strip().split("\r\n")]
    shipping, total = header.index("shipping"), header.index("order_total")
    assert sorted((r[shipping], r[total]) for r in rows) == [("490", "1490"), ("990", "1990")]


async def test_the_shipping_is_refundable_with_the_items_and_no_more(
    runtime: Runtime, show: str
) -> None:
    await put_rule(runtime.redis, "b1", ShippingRule(flat=490))
    outcome = await checkout.buy(runtime, SHOW, "ana", tap("k1"))
    assert outcome.order is not None
    order_id = outcome.order["id"]

    async def projected() -> bool:
        return bool(await runtime.redis.exists(keys.order(order_id)))

    await wait_for(projected, what="the order's cross-show copy")
    with pytest.raises(LivecartError):
        await refund_order(runtime, order_id, RefundRequest(amount=1491, reason=""))
    refunded = await refund_order(runtime, order_id, RefundRequest(amount=1490, reason=""))
    assert refunded["status"] == "refunded" and refunded["refunded_total"] == 1490
