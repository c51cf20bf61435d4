"""The cart (held units, all-or-nothing checkout, expiry) and flash sales (window by
Redis TIME, flash price, flash quantity and per-buyer limit)."""

from __future__ import annotations

import asyncio

import pytest

from livecart.commerce.sales import checkout
from livecart.commerce.sales.checkout import BuyRequest, CartAdd, CartRefused
from livecart.commerce.shows import control as show_control
from livecart.commerce.shows.records import show_snapshot
from livecart.errors import Conflict, InvalidInput, NotFound
from livecart.runtime import Runtime
from livecart.store import keys
from tests.commerce.conftest import SHOW, Units, assert_units_add_up, units


async def add(runtime: Runtime, sku: str, qty: int = 1, buyer: str = "ana", **kw: object) -> dict:
    return await checkout.cart_add(runtime, SHOW, buyer, CartAdd(sku=sku, quantity=qty, **kw))  # type: ignore[arg-type]


async def test_cart_items_are_held_and_checkout_confirms_them_all(
    runtime: Runtime, show: str
) -> None:
    await add(runtime, "p-plain", 2)
    cart = await add(runtime, "p-limited", 1)
    assert [(line["sku"], line["quantity"]) for line in cart["lines"]] == [
        ("p-plain", 2),
        ("p-limited", 1),
    ]
    assert cart["total"] == 2 * 1000 + 2500 and cart["currency"] == "EUR"
    assert await units(runtime.redis, "p-plain") == Units(48, 2, 0, 50)
    assert await checkout.view_cart(runtime, SHOW, "ana") == cart

    outcome = await checkout.checkout_cart(runtime, SHOW, "ana", "c1")
    assert outcome.result == "confirmed" and outcome.order is not None
    assert outcome.order["total"] == 4500 and len(outcome.order["lines"]) == 2
    assert await units(runtime.redis, "p-plain") == Units(48, 0, 2, 50)
    assert (await checkout.view_cart(runtime, SHOW, "ana"))["lines"] == []
    replay = await checkout.checkout_cart(runtime, SHOW, "ana", "c1")
    assert replay.replayed and replay.order == outcome.order


async def test_adding_more_of_a_product_grows_its_line_and_removing_gives_units_back(
    runtime: Runtime, show: str
) -> None:
    await add(runtime, "p-plain", 2)
    cart = await add(runtime, "p-plain", 3)
    assert [line["quantity"] for line in cart["lines"]] == [5]
    cart = await checkout.cart_remove(runtime, SHOW, "ana", "p-plain", 4)
    assert [line["quantity"] for line in cart["lines"]] == [1]
    assert await units(runtime.redis, "p-plain") == Units(49, 1, 0, 50)
    cart = await checkout.cart_remove(runtime, SHOW, "ana", "p-plain", 0)
    assert cart["lines"] == [] and await units(runtime.redis, "p-plain") == Units(50, 0, 0, 50)
    assert await runtime.redis.get(keys.show_cart(SHOW, "ana")) is None


async def test_cart_changes_are_refused_with_the_same_checks_as_a_buy(
    runtime: Runtime, show: str
) -> None:
    await add(runtime, "p-limited", 2)
    before = await units(runtime.redis, "p-limited")
    for sku, qty, code in [
        ("p-limited", 1, "limit_reached"),
        ("p-scarce", 4, "sold_out"),
        ("p-ghost", 1, "not_in_lineup"),
        ("p-dollars", 1, "currency_mismatch"),
    ]:
        with pytest.raises(CartRefused) as caught:
            await add(runtime, sku, qty)
        assert caught.value.code == code and caught.value.http_status == 409
    assert await units(runtime.redis, "p-limited") == before
    with pytest.raises(CartRefused) as caught:
        await checkout.cart_remove(runtime, SHOW, "ana", "p-plain", 1)
    assert caught.value.code == "not_in_cart"
    with pytest.raises(CartRefused) as caught:
        await checkout.cart_remove(runtime, SHOW, "bob", "p-plain", 1)
    assert caught.value.code == "cart_empty"


async def test_a_full_cart_refuses_another_line(runtime: Runtime, show: str) -> None:
    runtime.settings = runtime.settings.with_overrides({"checkout": {"max_cart_lines": 1}})
    await add(runtime, "p-plain")
    with pytest.raises(CartRefused) as caught:
        await add(runtime, "p-scarce")
    assert caught.value.code == "cart_full"


async def test_checkout_is_all_or_nothing_and_a_refusal_leaves_the_cart_as_it_was(
    runtime: Runtime, show: str
) -> None:
    await show_control.start_flash_sale(
        runtime, SHOW, show_control.FlashSale("p-plain", 600, 10, 0, 0, 1)
    )
    await add(runtime, "p-plain", 1)  # at the flash price
    await add(runtime, "p-scarce", 2)
    cart = await checkout.view_cart(runtime, SHOW, "ana")
    await asyncio.sleep(1.05)  # the flash sale's window closes
    outcome = await checkout.checkout_cart(runtime, SHOW, "ana", "c1")
    assert (outcome.result, outcome.sku) == ("flash_ended", "p-plain")
    assert await checkout.view_cart(runtime, SHOW, "ana") == cart
    assert await units(runtime.redis, "p-scarce") == Units(1, 2, 0, 3)
    await checkout.cart_remove(runtime, SHOW, "ana", "p-plain", 0)
    assert (await checkout.checkout_cart(runtime, SHOW, "ana", "c2")).result == "confirmed"
    await assert_units_add_up(runtime.redis)


async def test_checkout_of_an_empty_cart_or_a_paused_show_is_refused(
    runtime: Runtime, show: str
) -> None:
    assert (await checkout.checkout_cart(runtime, SHOW, "ana", "c1")).result == "cart_empty"
    await add(runtime, "p-plain")
    await show_control.set_sales(runtime, SHOW, show_control.SalesChange(True, ""), actor="m")
    assert (await checkout.checkout_cart(runtime, SHOW, "ana", "c2")).result == "sales_paused"
    with pytest.raises(CartRefused):
        await add(runtime, "p-plain")
    assert (await units(runtime.redis, "p-plain")).held == 1


async def test_an_abandoned_cart_returns_its_units_by_itself(runtime: Runtime, show: str) -> None:
    runtime.settings = runtime.settings.with_overrides({"checkout": {"cart_hold_seconds": 1}})
    await add(runtime, "p-plain", 4)
    assert (await units(runtime.redis, "p-plain")).held == 4
    for _ in range(100):
        if (await units(runtime.redis, "p-plain")).held == 0:
            break
        await asyncio.sleep(0.05)
    assert await units(runtime.redis, "p-plain") == Units(50, 0, 0, 50)
    assert await runtime.redis.get(keys.show_cart(SHOW, "ana")) is None


# --- flash sales ------------------------------------------------------------------------


def flash(**kw: int) -> show_control.FlashSale:
    values = {
        "price": 600,
        "quantity": 5,
        "per_buyer_limit": 2,
        "countdown_s": 0,
        "duration_s": 60,
    } | kw
    return show_control.FlashSale(sku="p-plain", **values)


def tap(key: str, qty: int = 1, price: int | None = None) -> BuyRequest:
    return BuyRequest(sku="p-plain", quantity=qty, idempotency_key=key, price=price)


async def test_during_a_flash_sale_the_product_sells_at_the_flash_price_up_to_its_limits(
    runtime: Runtime, show: str
) -> None:
    await show_control.start_flash_sale(runtime, SHOW, flash())
    first = await checkout.buy(runtime, SHOW, "ana", tap("a", 2, price=600))
    assert first.result == "confirmed"
    assert first.order["lines"][0]["unit_price"] == 600  # type: ignore[index]
    assert first.order["lines"][0]["flash_sale"].startswith("f_")  # type: ignore[index]
    over_limit = await checkout.buy(runtime, SHOW, "ana", tap("b", 1))
    assert over_limit.result == "limit_reached"
    assert (await checkout.buy(runtime, SHOW, "bob", tap("c", 2))).result == "confirmed"
    assert (await checkout.buy(runtime, SHOW, "cy", tap("d", 2))).result == "sold_out"
    assert (await checkout.buy(runtime, SHOW, "cy", tap("e", 1))).result == "confirmed"
    snapshot = await show_snapshot(runtime.redis, SHOW)
    assert snapshot["flash_sale"]["remaining"] == 0 and snapshot["flash_sale"]["phase"] == "running"
    assert (await units(runtime.redis, "p-plain")).sold == 5


async def test_flash_window_edges_follow_redis_time(runtime: Runtime, show: str) -> None:
    await show_control.start_flash_sale(runtime, SHOW, flash(countdown_s=1, duration_s=1))
    early = await checkout.buy(runtime, SHOW, "ana", tap("a", price=600))
    assert early.result == "flash_not_started"
    regular = await checkout.buy(runtime, SHOW, "ana", tap("b"))
    assert regular.result == "confirmed" and regular.order["lines"][0]["unit_price"] == 1000  # type: ignore[index]
    snapshot = await show_snapshot(runtime.redis, SHOW)
    assert snapshot["flash_sale"]["phase"] == "countdown"

    opens = snapshot["flash_sale"]["starts_ms"] - snapshot["server_time_ms"]
    await asyncio.sleep(opens / 1000 + 0.01)
    on_time = await checkout.buy(runtime, SHOW, "bob", tap("c", price=600))
    assert on_time.result == "confirmed" and on_time.order["lines"][0]["unit_price"] == 600  # type: ignore[index]
    assert (
        await checkout.buy(runtime, SHOW, "bob", tap("d", price=1000))
    ).result == "price_changed"

    await asyncio.sleep(1.0)
    late = await checkout.buy(runtime, SHOW, "cy", tap("e", price=600))
    assert late.result == "flash_ended"
    assert (await checkout.buy(runtime, SHOW, "cy", tap("f"))).order["lines"][0][
        "unit_price"
    ] == 1000  # type: ignore[index]


async def test_a_stopped_flash_sale_ends_at_once_and_says_so(runtime: Runtime, show: str) -> None:
    await show_control.start_flash_sale(runtime, SHOW, flash())
    assert await show_control.end_flash_sale(runtime, SHOW)
    assert not await show_control.end_flash_sale(runtime, SHOW)
    assert (await checkout.buy(runtime, SHOW, "ana", tap("a", price=600))).result == "flash_ended"
    events = await runtime.redis.xrange(keys.show_events(SHOW))
    assert [f["type"] for _, f in events].count("flash_ended") == 1


async def test_flash_sales_are_refused_when_they_cannot_run(runtime: Runtime, show: str) -> None:
    with pytest.raises(Conflict) as caught:
        await show_control.start_flash_sale(runtime, SHOW, flash(quantity=51))
    assert caught.value.code == "not_enough_stock"
    await show_control.start_flash_sale(runtime, SHOW, flash())
    with pytest.raises(Conflict) as caught:
        await show_control.start_flash_sale(runtime, SHOW, flash())
    assert caught.value.code == "flash_running"
    with pytest.raises(NotFound):
        await show_control.start_flash_sale(
            runtime, SHOW, show_control.FlashSale("p-ghost", 1, 1, 0, 0, 10)
        )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"price": 600, "quantity": 5, "duration_s": 60}, "sku"),
        ({"sku": "p-plain", "quantity": 5, "duration_s": 60}, "price"),
        ({"sku": "p-plain", "price": -1, "quantity": 5, "duration_s": 60}, "price"),
        ({"sku": "p-plain", "price": 600, "quantity": 0, "duration_s": 60}, "quantity"),
        ({"sku": "p-plain", "price": 600, "quantity": 5, "duration_s": 0}, "duration_s"),
        ({"sku": "p-plain", "price": 600, "quantity": 5, "duration_s": 10**7}, "duration_s"),
        (
            {"sku": "p-plain", "price": 600, "quantity": 5, "duration_s": 60, "countdown_s": -1},
            "countdown_s",
        ),
        ({"sku": "p{x}", "price": 600, "quantity": 5, "duration_s": 60}, "sku"),
    ],
)
def test_bad_flash_sales_are_refused_naming_the_field(body: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        show_control.FlashSale.from_dict(body, max_quantity=100)
    assert caught.value.field == field
