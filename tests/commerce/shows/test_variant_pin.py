"""Pinning a product sold by variants: the product is pinned whole, and the pinned event
and the snapshot carry its variants in the product's order with their live stock; a
plain product's pin is as it always was."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from livecart.commerce.sales import checkout
from livecart.commerce.sales.checkout import BuyRequest
from livecart.commerce.shows import control as show_control
from livecart.commerce.shows.records import show_snapshot
from livecart.errors import NotFound
from livecart.runtime import Runtime
from livecart.store import keys
from tests.commerce.sales.test_variants import SHOW, seed


async def pinned_events(runtime: Runtime) -> list[dict[str, Any]]:
    found = await runtime.redis.xrange(keys.show_events(SHOW))
    return [orjson.loads(f["data"]) for _, f in found if f["type"] in ("pinned", "unpinned")]


async def test_pinning_a_product_sold_by_variants_carries_each_variant_with_live_stock(
    runtime: Runtime,
) -> None:
    await seed(runtime, {"tee-m-blue": 4, "tee-s-red": 2, "mug": 3})  # M / Red not in it
    sold = await checkout.buy(
        runtime, SHOW, "ana", BuyRequest(sku="tee-s-red", quantity=1, idempotency_key="k1")
    )
    assert sold.result == "confirmed"

    assert await show_control.pin_product(runtime, SHOW, "tee")
    (event,) = await pinned_events(runtime)
    assert event["sku"] == "tee"
    card = event["product"]
    assert card["sku"] == "tee" and card["product"] == "tee" and card["title"] == "Tee"
    assert card["stock"] == 1 + 4 and "variant" not in card and "position" not in card
    assert card["variants"] == [  # the product's order: S / Red comes first
        {
            "sku": "tee-s-red",
            "variant": {"Size": "S", "Colour": "Red"},
            "price": 2700,
            "image_url": "https://img.example.com/tee.jpg",
            "stock": 1,
        },
        {
            "sku": "tee-m-blue",
            "variant": {"Size": "M", "Colour": "Blue"},
            "price": 2500,
            "image_url": "https://img.example.com/b.jpg",
            "stock": 4,
        },
    ]
    snapshot = await show_snapshot(runtime.redis, SHOW)
    assert snapshot["pinned"] == "tee"
    assert snapshot["pinned_product"] == card  # the snapshot and the event agree
    assert sorted(p["sku"] for p in snapshot["lineup"]) == ["mug", "tee-m-blue", "tee-s-red"]

    # Naming a variant of the pinned product changes nothing: the product is pinned,
    # and the answer names it (what the API's `pinned` says).
    assert await show_control.pin(runtime, SHOW, "tee-m-blue") == show_control.Pinned(
        changed=False, sku="tee"
    )
    # Stock moves on: the snapshot's pinned product follows it.
    await show_control.adjust_stock(runtime, SHOW, "tee-m-blue", -3)
    snapshot = await show_snapshot(runtime.redis, SHOW)
    assert [v["stock"] for v in snapshot["pinned_product"]["variants"]] == [1, 1]


async def test_a_plain_product_pins_as_before_and_unpin_names_what_was_pinned(
    runtime: Runtime,
) -> None:
    await seed(runtime)
    assert await show_control.pin_product(runtime, SHOW, "tee-s-red")  # a variant: its product
    assert await show_control.pin_product(runtime, SHOW, "mug")
    assert await show_control.pin_product(runtime, SHOW, None)
    assert not await show_control.pin_product(runtime, SHOW, None)
    first, mug, unpinned = await pinned_events(runtime)
    assert first["sku"] == "tee" and len(first["product"]["variants"]) == 3
    assert mug["sku"] == "mug" and "variants" not in mug["product"]
    assert mug["product"] | {"stock": 0} == {
        "sku": "mug",
        "brand": "b1",
        "title": "Mug",
        "price": 900,
        "currency": "EUR",
        "description": "",
        "image_url": "",
        "commission_bps": 0,
        "per_user_limit": 0,
        "product": "mug",
        "variant": {},
        "stock": 0,
    }
    assert mug["product"]["stock"] == 10
    assert unpinned == {"sku": "mug"}
    assert (await show_snapshot(runtime.redis, SHOW))["pinned_product"] is None
    with pytest.raises(NotFound) as missing:
        await show_control.pin_product(runtime, SHOW, "hat")
    assert missing.value.code == "not_in_lineup"


async def test_a_variant_added_to_a_running_show_is_pinned_with_its_siblings(
    runtime: Runtime,
) -> None:
    await seed(runtime, {"tee-m-red": 2})
    await show_control.add_to_lineup(runtime, SHOW, "tee-s-red", 7)
    found = await runtime.redis.xrange(keys.show_events(SHOW))
    (added,) = [orjson.loads(f["data"]) for _, f in found if f["type"] == "lineup_added"]
    assert added["sku"] == "tee-s-red" and added["product"]["variant"] == {
        "Size": "S",
        "Colour": "Red",
    }
    assert added["product"]["stock"] == 7 and added["product"]["options"] == ["Size", "Colour"]
    assert await show_control.pin_product(runtime, SHOW, "tee")
    (event,) = await pinned_events(runtime)
    assert [(v["sku"], v["stock"]) for v in event["product"]["variants"]] == [
        ("tee-s-red", 7),
        ("tee-m-red", 2),
    ]
