"""Selling variants in a show: each variant is its own sellable, with its own stock,
holds, sales, limits, flash sale and cart line, so buying one never touches another;
orders say which product and variant to ship."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from livecart.commerce.accounts.creators import Creator, save_creator
from livecart.commerce.catalog.products import Brand, Product, save_brand, save_product
from livecart.commerce.orders.records import parse_order
from livecart.commerce.sales import checkout
from livecart.commerce.sales.checkout import BuyRequest, CartAdd
from livecart.commerce.shows import control as show_control
from livecart.commerce.shows.records import LineupEntry, NewShow, create_show
from livecart.errors import InvalidInput
from livecart.runtime import Runtime
from livecart.store import keys
from tests.commerce.conftest import Units, assert_units_add_up, units

SHOW = "sv"
TEE = {
    "sku": "tee",
    "brand": "b1",
    "title": "Tee",
    "price": 2500,
    "currency": "EUR",
    "commission_bps": 1000,
    "image_url": "https://img.example.com/tee.jpg",
    "options": ["Size", "Colour"],
    "variants": [
        {"sku": "tee-s-red", "values": ["S", "Red"], "price": 2700},
        {"sku": "tee-m-red", "values": ["M", "Red"]},
        {
            "sku": "tee-m-blue",
            "values": ["M", "Blue"],
            "image_url": "https://img.example.com/b.jpg",
        },
    ],
}
ALLOCATED = {"tee-s-red": 5, "tee-m-red": 20, "tee-m-blue": 20, "mug": 10}


async def seed(runtime: Runtime, lineup: dict[str, int] = ALLOCATED) -> None:
    redis = runtime.redis
    await save_brand(redis, Brand("b1", "Brand One"))
    await save_creator(redis, Creator(id="c1", name="Creator One"))
    await save_product(redis, Product.from_dict(TEE))
    await save_product(
        redis, Product(sku="mug", brand="b1", title="Mug", price=900, currency="EUR")
    )
    await create_show(
        redis,
        runtime.scripts,
        NewShow(
            id=SHOW,
            title="Variants",
            creator="c1",
            brand="b1",
            lineup=tuple(LineupEntry(sku, n) for sku, n in lineup.items()),
        ),
        stream_max_events=runtime.settings.hub.stream_max_events,
    )
    await show_control.start_show(runtime, SHOW)


@pytest.fixture
async def show(runtime: Runtime) -> str:
    await seed(runtime)
    return SHOW


async def all_units(runtime: Runtime) -> dict[str, Units]:
    return {sku: await units(runtime.redis, sku, SHOW) for sku in ALLOCATED}


def tap(sku: str, key: str, **more: Any) -> BuyRequest:
    return BuyRequest(sku=sku, quantity=1, idempotency_key=key, **more)


async def events(runtime: Runtime, kind: str) -> list[dict[str, Any]]:
    found = await runtime.redis.xrange(keys.show_events(SHOW))
    return [orjson.loads(f["data"]) for _, f in found if f["type"] == kind]


async def test_a_lineup_names_variants_and_refuses_a_product_sold_by_variants(
    runtime: Runtime,
) -> None:
    with pytest.raises(InvalidInput) as whole:
        await seed(runtime, {"mug": 1, "tee": 5})
    assert whole.value.field == "lineup[1].sku"
    assert "tee-s-red, tee-m-red, tee-m-blue" in whole.value.message
    assert not await runtime.redis.exists(keys.show(SHOW))

    await seed(runtime)
    card = orjson.loads(await runtime.redis.hget(keys.show_lineup(SHOW), "tee-s-red"))
    assert card["sku"] == "tee-s-red" and card["product"] == "tee"
    assert card["variant"] == {"Size": "S", "Colour": "Red"}
    assert card["options"] == ["Size", "Colour"] and card["position"] == 0
    assert card["price"] == 2700 and card["image_url"] == "https://img.example.com/tee.jpg"
    assert "variants" not in card
    blue = orjson.loads(await runtime.redis.hget(keys.show_lineup(SHOW), "tee-m-blue"))
    assert (blue["price"], blue["image_url"]) == (2500, "https://img.example.com/b.jpg")
    mug = orjson.loads(await runtime.redis.hget(keys.show_lineup(SHOW), "mug"))
    assert mug["product"] == "mug" and mug["variant"] == {} and "options" not in mug


async def test_buying_one_variant_never_touches_another_variants_units(
    runtime: Runtime, show: str
) -> None:
    """A storm of taps on S / Red (5 units) from many buyers: exactly 5 orders, and every
    other variant's stock, held, sold and allocated are exactly as allocated."""
    taps = [checkout.buy(runtime, SHOW, f"buyer{i}", tap("tee-s-red", f"k{i}")) for i in range(30)]
    outcomes = await asyncio.gather(*taps)
    assert sorted(o.result for o in outcomes).count("confirmed") == 5
    assert {o.result for o in outcomes} == {"confirmed", "sold_out"}
    after = await all_units(runtime)
    assert after["tee-s-red"] == Units(0, 0, 5, 5)
    for sku in ("tee-m-red", "tee-m-blue", "mug"):
        assert after[sku] == Units(ALLOCATED[sku], 0, 0, ALLOCATED[sku]), sku
    await assert_units_add_up(runtime.redis, SHOW)
    stock_events = {e["sku"] for e in await events(runtime, "stock")}
    assert stock_events == {"tee-s-red"}

    order = next(o.order for o in outcomes if o.order is not None)
    line = order["lines"][0]
    assert (line["sku"], line["product"], line["unit_price"]) == ("tee-s-red", "tee", 2700)
    assert list(line["variant"].items()) == [("Size", "S"), ("Colour", "Red")]  # in order


async def test_a_flash_sale_on_one_variant_prices_only_that_variant(
    runtime: Runtime, show: str
) -> None:
    sale = show_control.FlashSale(
        sku="tee-m-blue", price=1500, quantity=3, per_buyer_limit=1, countdown_s=0, duration_s=60
    )
    await show_control.start_flash_sale(runtime, SHOW, sale)
    # The flash price buys the blue one, once per buyer, and not the red one of that size.
    red = await checkout.buy(runtime, SHOW, "ana", tap("tee-m-red", "r1", price=1500))
    assert red.result == "price_changed"
    blue = await checkout.buy(runtime, SHOW, "ana", tap("tee-m-blue", "b1", price=1500))
    assert blue.result == "confirmed" and blue.order is not None
    assert blue.order["lines"][0]["flash_sale"] == sale_id(await events(runtime, "flash_started"))
    again = await checkout.buy(runtime, SHOW, "ana", tap("tee-m-blue", "b2", price=1500))
    assert again.result == "limit_reached"
    red_full = await checkout.buy(runtime, SHOW, "ana", tap("tee-m-red", "r2", price=2500))
    assert red_full.result == "confirmed"
    flash = await runtime.redis.hgetall(keys.show_flash(SHOW))
    assert flash["sku"] == "tee-m-blue" and flash["remaining"] == "2"
    after = await all_units(runtime)
    assert after["tee-m-blue"] == Units(19, 0, 1, 20)
    assert after["tee-m-red"] == Units(19, 0, 1, 20)
    assert after["tee-s-red"] == Units(5, 0, 0, 5)
    # A flash sale names a sellable: the product sold by variants is refused by name.
    await show_control.end_flash_sale(runtime, SHOW)
    whole = show_control.FlashSale(
        sku="tee", price=1, quantity=1, per_buyer_limit=0, countdown_s=0, duration_s=60
    )
    with pytest.raises(InvalidInput) as refused:
        await show_control.start_flash_sale(runtime, SHOW, whole)
    assert refused.value.field == "sku" and "tee-m-blue" in refused.value.message


def sale_id(started: list[dict[str, Any]]) -> str:
    ident: str = started[-1]["id"]
    return ident


async def test_a_cart_holds_two_variants_of_one_product_as_two_lines(
    runtime: Runtime, show: str
) -> None:
    await checkout.cart_add(runtime, SHOW, "ana", CartAdd(sku="tee-s-red", quantity=2))
    cart = await checkout.cart_add(runtime, SHOW, "ana", CartAdd(sku="tee-m-blue", quantity=1))
    assert [(x["sku"], x["product"], x["variant"], x["quantity"]) for x in cart["lines"]] == [
        ("tee-s-red", "tee", {"Size": "S", "Colour": "Red"}, 2),
        ("tee-m-blue", "tee", {"Size": "M", "Colour": "Blue"}, 1),
    ]
    assert cart["total"] == 2 * 2700 + 2500
    held = await all_units(runtime)
    assert held["tee-s-red"] == Units(3, 2, 0, 5) and held["tee-m-blue"] == Units(19, 1, 0, 20)
    assert held["tee-m-red"] == Units(20, 0, 0, 20)

    outcome = await checkout.checkout_cart(runtime, SHOW, "ana", "c1")
    assert outcome.result == "confirmed" and outcome.order is not None
    lines = outcome.order["lines"]
    assert [(x["sku"], x["product"], x["variant"]["Colour"]) for x in lines] == [
        ("tee-s-red", "tee", "Red"),
        ("tee-m-blue", "tee", "Blue"),
    ]
    sold = await all_units(runtime)
    assert sold["tee-s-red"] == Units(3, 0, 2, 5) and sold["tee-m-blue"] == Units(19, 0, 1, 20)
    assert sold["tee-m-red"] == Units(20, 0, 0, 20)
    await assert_units_add_up(runtime.redis, SHOW)
    # The order as the outbox carries it, read by the consumers' parser.
    parsed = parse_order(await runtime.redis.get(keys.show_order(SHOW, outcome.order["id"])))
    assert [(x.product, x.variant) for x in parsed.lines] == [
        ("tee", (("Size", "S"), ("Colour", "Red"))),
        ("tee", (("Size", "M"), ("Colour", "Blue"))),
    ]


async def test_restock_and_lineup_add_name_a_variant_never_the_product(
    runtime: Runtime, show: str
) -> None:
    assert await show_control.adjust_stock(runtime, SHOW, "tee-m-red", 5) == {
        "stock": 25,
        "allocated": 25,
    }
    with pytest.raises(InvalidInput) as whole:
        await show_control.adjust_stock(runtime, SHOW, "tee", 5)
    assert whole.value.field == "sku"
    with pytest.raises(InvalidInput):
        await show_control.add_to_lineup(runtime, SHOW, "tee", 5)
    assert (await all_units(runtime))["tee-m-blue"] == Units(20, 0, 0, 20)
