"""The catalog: one validator for products, transactions that keep the brand indexes
right, cursor pages, and shows that keep their own copies of product cards."""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

import pytest
from redis.asyncio import Redis

from livecart.commerce.accounts.creators import Creator, save_creator
from livecart.commerce.catalog import products as catalog
from livecart.commerce.catalog.products import (
    MAX_PRICE_MINOR,
    Brand,
    Product,
    brand_page,
    create_brand,
    create_product,
    delete_brand,
    delete_product,
    get_product,
    list_products,
    product_page,
    put_products,
    replace_product,
    save_brand,
    save_product,
    update_brand,
)
from livecart.commerce.shows.records import NewShow, create_show, show_snapshot
from livecart.errors import Conflict, InvalidInput, NotFound
from livecart.runtime import Runtime
from livecart.store import keys


def product_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sku": "p1",
        "brand": "b1",
        "title": "Trail jacket",
        "price": 12900,
        "currency": "EUR",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def product(sku: str = "p1", brand: str = "b1", **changes: Any) -> Product:
    return Product.from_dict(product_body(sku=sku, brand=brand, **changes))


async def brand_skus(redis: Redis, brand_id: str) -> list[str]:
    skus: list[str] = await redis.zrange(keys.brand_products(brand_id), 0, -1)  # type: ignore[assignment]
    return skus


# --- the validator --------------------------------------------------------------------


def test_a_full_product_body_is_read_with_defaults_for_what_is_left_out() -> None:
    p = Product.from_dict(product_body())
    assert (p.sku, p.brand, p.title, p.price, p.currency) == (
        "p1",
        "b1",
        "Trail jacket",
        12900,
        "EUR",
    )
    assert (p.description, p.image_url, p.commission_bps, p.per_user_limit) == ("", "", 0, 0)
    full = product_body(
        description="Waterproof.",
        image_url="https://img.example.com/p1.jpg",
        commission_bps=1000,
        per_user_limit=2,
    )
    assert Product.from_dict(full).to_dict() == full


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"sku": ...}, "sku"),
        ({"brand": ...}, "brand"),
        ({"title": ...}, "title"),
        ({"price": ...}, "price"),
        ({"currency": ...}, "currency"),
        ({"sku": 12}, "sku"),
        ({"sku": "a{b"}, "sku"),
        ({"sku": "a}b"}, "sku"),
        ({"sku": "a:b"}, "sku"),
        ({"sku": "a*"}, "sku"),
        ({"sku": "x" * 65}, "sku"),
        ({"brand": "b:1"}, "brand"),
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "bell\x07"}, "title"),
        ({"title": 5}, "title"),
        ({"price": "12900"}, "price"),
        ({"price": 129.0}, "price"),
        ({"price": 129.5}, "price"),
        ({"price": True}, "price"),
        ({"price": -1}, "price"),
        ({"price": 0}, "price"),
        ({"price": MAX_PRICE_MINOR + 1}, "price"),
        ({"price": 10**40}, "price"),
        ({"price": None}, "price"),
        ({"currency": "eur"}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": 978}, "currency"),
        ({"commission_bps": -1}, "commission_bps"),
        ({"commission_bps": 10_001}, "commission_bps"),
        ({"commission_bps": 10.5}, "commission_bps"),
        ({"commission_bps": False}, "commission_bps"),
        ({"per_user_limit": -1}, "per_user_limit"),
        ({"per_user_limit": 10**9}, "per_user_limit"),
        ({"per_user_limit": "2"}, "per_user_limit"),
        ({"image_url": "ftp://x/y.jpg"}, "image_url"),
        ({"image_url": "https://x/a b.jpg"}, "image_url"),
        ({"description": "x" * 5001}, "description"),
        ({"comission_bps": 500}, "comission_bps"),
    ],
)
def test_each_bad_field_is_refused_by_name(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        Product.from_dict(product_body(**changes))
    assert refused.value.field == field
    assert field in refused.value.message


def test_a_product_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidInput, match="JSON object"):
        Product.from_dict(["p1", "b1"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x"}, "id"),
        ({"id": "b{1}", "name": "x"}, "id"),
        ({"id": "b1"}, "name"),
        ({"id": "b1", "name": ""}, "name"),
        ({"id": "b1", "name": 7}, "name"),
        ({"id": "b1", "name": "x", "colour": "red"}, "colour"),
    ],
)
def test_a_bad_brand_is_refused_by_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        Brand.from_dict(body)
    assert refused.value.field == field


# --- brands ---------------------------------------------------------------------------


async def test_a_brand_id_is_taken_once(redis: Redis) -> None:
    await create_brand(redis, Brand("b1", "One"))
    with pytest.raises(Conflict) as refused:
        await create_brand(redis, Brand("b1", "Another"))
    assert refused.value.field == "id"
    assert (await catalog.get_brand(redis, "b1")) == Brand("b1", "One")


async def test_updating_an_unknown_brand_creates_nothing(redis: Redis) -> None:
    with pytest.raises(NotFound) as refused:
        await update_brand(redis, Brand("ghost", "Ghost"))
    assert refused.value.field == "brand"
    assert await redis.keys("*") == []


async def test_a_brand_with_products_cannot_be_deleted_and_an_empty_one_can(redis: Redis) -> None:
    await create_brand(redis, Brand("b1", "One"))
    await create_product(redis, product())
    with pytest.raises(Conflict, match="1 products"):
        await delete_brand(redis, "b1")
    assert await catalog.get_brand(redis, "b1") is not None
    await delete_product(redis, "p1")
    await delete_brand(redis, "b1")
    assert await redis.keys("*") == []


async def test_brands_page_through_in_id_order(redis: Redis) -> None:
    for i in range(7):
        await create_brand(redis, Brand(f"b{i}", f"Brand {i}"))
    seen: list[str] = []
    after = ""
    while True:
        page = await brand_page(redis, after=after, limit=3)
        seen += [b.id for b in page.items]
        if page.next is None:
            break
        after = page.next
    assert seen == [f"b{i}" for i in range(7)]
    assert (await brand_page(redis, limit=7)).next is None


# --- products -------------------------------------------------------------------------


async def test_a_product_needs_its_brand_and_a_new_sku(redis: Redis) -> None:
    with pytest.raises(NotFound) as no_brand:
        await create_product(redis, product())
    assert no_brand.value.field == "brand"
    assert await redis.keys("*") == []
    await create_brand(redis, Brand("b1", "One"))
    await create_product(redis, product())
    with pytest.raises(Conflict) as taken:
        await create_product(redis, product(title="Other"))
    assert taken.value.field == "sku"
    assert (await get_product(redis, "p1")) == product()


async def test_moving_a_product_to_another_brand_moves_it_between_brand_indexes(
    redis: Redis,
) -> None:
    await create_brand(redis, Brand("b1", "One"))
    await create_brand(redis, Brand("b2", "Two"))
    await create_product(redis, product())
    old = await replace_product(redis, product(brand="b2", price=500))
    assert old.brand == "b1"
    assert await brand_skus(redis, "b1") == []
    assert await brand_skus(redis, "b2") == ["p1"]
    assert (await get_product(redis, "p1")) == product(brand="b2", price=500)
    with pytest.raises(NotFound) as no_brand:
        await replace_product(redis, product(brand="nope"))
    assert no_brand.value.field == "brand"
    with pytest.raises(NotFound) as no_product:
        await replace_product(redis, product(sku="ghost", brand="b2"))
    assert no_product.value.field == "sku"
    assert await brand_skus(redis, "b2") == ["p1"]


async def test_save_product_keeps_the_brand_indexes_right_on_a_move(redis: Redis) -> None:
    await save_brand(redis, Brand("b1", "One"))
    await save_brand(redis, Brand("b2", "Two"))
    await save_product(redis, product())
    await save_product(redis, product(brand="b2"))
    assert (await brand_skus(redis, "b1"), await brand_skus(redis, "b2")) == ([], ["p1"])


async def test_deleting_a_product_takes_it_out_of_its_brand(redis: Redis) -> None:
    await create_brand(redis, Brand("b1", "One"))
    await create_product(redis, product())
    deleted = await delete_product(redis, "p1")
    assert deleted == product()
    assert await get_product(redis, "p1") is None
    assert await brand_skus(redis, "b1") == []
    with pytest.raises(NotFound):
        await delete_product(redis, "p1")


async def test_products_page_through_by_sku_with_a_cursor(redis: Redis) -> None:
    await create_brand(redis, Brand("b1", "One"))
    await create_brand(redis, Brand("b2", "Two"))
    skus = [f"sku-{i:02d}" for i in range(11)]
    for sku in reversed(skus):
        await create_product(redis, product(sku=sku))
    await create_product(redis, product(sku="elsewhere", brand="b2"))
    first = await product_page(redis, "b1", limit=5)
    assert [p.sku for p in first.items] == skus[:5] and first.next == "sku-04"
    second = await product_page(redis, "b1", after="sku-04", limit=5)
    assert [p.sku for p in second.items] == skus[5:10] and second.next == "sku-09"
    last = await product_page(redis, "b1", after="sku-09", limit=5)
    assert [p.sku for p in last.items] == ["sku-10"] and last.next is None
    exact = await product_page(redis, "b1", after="sku-05", limit=5)
    assert exact.next is None and len(exact.items) == 5
    assert [p.sku for p in await list_products(redis, "b1", limit=2)] == skus[:2]


async def test_put_products_writes_the_known_brands_rows_and_returns_the_others(
    redis: Redis,
) -> None:
    await create_brand(redis, Brand("b1", "One"))
    await create_brand(redis, Brand("b2", "Two"))
    await create_product(redis, product(sku="moves"))
    refused = await put_products(
        redis,
        [product(sku="new"), product(sku="moves", brand="b2"), product(sku="lost", brand="nope")],
    )
    assert [p.sku for p in refused] == ["lost"]
    assert await brand_skus(redis, "b1") == ["new"]
    assert await brand_skus(redis, "b2") == ["moves"]
    assert await get_product(redis, "lost") is None
    assert not await redis.exists(keys.brand_products("nope"))
    only_unknown = [product(sku="x", brand="nope")]
    assert await put_products(redis, only_unknown) == only_unknown
    assert await put_products(redis, []) == []
    assert await get_product(redis, "x") is None


async def test_concurrent_moves_and_brand_deletes_never_leave_a_product_without_its_brand(
    redis: Redis,
) -> None:
    """A storm of moves between brands and attempts to delete those brands: afterwards
    every product is indexed under exactly its own brand, and that brand exists."""
    brands = [f"b{i}" for i in range(4)]
    for b in brands:
        await create_brand(redis, Brand(b, b))
    for i in range(12):
        await create_product(redis, product(sku=f"p{i}", brand=brands[i % 4]))
    rng = random.Random(7)  # the client's pool gives each task its own connection

    async def mover(n: int) -> None:
        for _ in range(25):
            sku = f"p{rng.randrange(12)}"
            with contextlib.suppress(NotFound):  # the brand was deleted meanwhile
                await replace_product(redis, product(sku=sku, brand=rng.choice(brands)))
            await asyncio.sleep(0)

    async def deleter() -> None:
        for _ in range(40):
            with contextlib.suppress(Conflict, NotFound):  # products left, or gone already
                await delete_brand(redis, rng.choice(brands))
            await asyncio.sleep(0)

    await asyncio.gather(*(mover(n) for n in range(6)), deleter(), deleter())

    for i in range(12):
        p = await get_product(redis, f"p{i}")
        assert p is not None
        assert await catalog.get_brand(redis, p.brand) is not None
        holders = [b for b in brands if await redis.zscore(keys.brand_products(b), p.sku) == 0]
        assert holders == [p.brand]


# --- shows keep their copies --------------------------------------------------------


async def test_editing_or_deleting_a_catalog_product_never_changes_a_show(
    runtime: Runtime,
) -> None:
    redis = runtime.redis
    await create_brand(redis, Brand("b1", "One"))
    await save_creator(redis, Creator("c1", "Creator"))
    await create_product(redis, product(price=1000))
    await create_product(redis, product(sku="p2", price=2000))
    await create_show(
        redis,
        runtime.scripts,
        NewShow.from_dict(
            {
                "id": "s1",
                "title": "Drop",
                "creator": "c1",
                "brand": "b1",
                "lineup": [{"sku": "p1", "quantity": 5}, {"sku": "p2", "quantity": 5}],
            }
        ),
        stream_max_events=100,
    )
    before = await show_snapshot(redis, "s1")
    await replace_product(redis, product(price=9999, title="Renamed"))
    await delete_product(redis, "p2")
    after = await show_snapshot(redis, "s1")
    assert after["lineup"] == before["lineup"]
    assert [(p["sku"], p["price"], p["title"]) for p in after["lineup"]] == [
        ("p1", 1000, "Trail jacket"),
        ("p2", 2000, "Trail jacket"),
    ]
