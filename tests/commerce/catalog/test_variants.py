"""Products sold by variants (sizes, colours): the validator refuses each bad shape by
the field at fault and stores nothing; a variant SKU names one product catalog-wide,
kept so by the index written in the same transaction as the product."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from livecart.commerce.catalog.products import (
    Brand,
    Product,
    create_brand,
    create_product,
    delete_product,
    get_product,
    get_sellable,
    put_products_checked,
    replace_product,
)
from livecart.config import Settings
from livecart.errors import Conflict, InvalidInput, NotFound
from livecart.store import keys
from tests.helpers import STRONG_ADMIN_KEY, LiveServer
from tests.keyspace import differences, snapshot


def tee(sku: str = "tee", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sku": sku,
        "brand": "b1",
        "title": "Tee",
        "price": 2500,
        "currency": "EUR",
        "image_url": "https://img.example.com/tee.jpg",
        "options": ["Size", "Colour"],
        "variants": [
            {"sku": f"{sku}-s-red", "values": ["S", "Red"], "price": 2700, "image_url": ""},
            {"sku": f"{sku}-m-red", "values": ["M", "Red"]},
            {
                "sku": f"{sku}-m-blue",
                "values": ["M", "Blue"],
                "image_url": "https://img.example.com/blue.jpg",
            },
        ],
    }
    body.update(changes)
    return body


def variant(sku: str, *values: str, **more: Any) -> dict[str, Any]:
    return {"sku": sku, "values": list(values), **more}


async def owners(redis: Redis) -> dict[str, str]:
    """The whole variant index: variant SKU -> owning product."""
    found: dict[str, str] = {}
    async for key in redis.scan_iter(match=f"{keys.CATALOG}:variant:*"):
        found[key.rsplit(":", 1)[1]] = await redis.get(key)
    return found


# --- the shape -------------------------------------------------------------------------


def test_a_product_with_variants_reads_back_as_written_and_sells_each_variant() -> None:
    product = Product.from_dict(tee())
    assert product.options == ("Size", "Colour")
    assert Product.from_dict(product.to_dict()) == product
    assert product.to_dict()["variants"][1] == {
        "sku": "tee-m-red",
        "values": ["M", "Red"],
        "price": None,  # the product's
        "image_url": "",
    }
    units = product.sellable()
    assert [u.sku for u in units] == ["tee-s-red", "tee-m-red", "tee-m-blue"]
    assert [u.price for u in units] == [2700, 2500, 2500]
    assert [u.image_url for u in units] == [
        "https://img.example.com/tee.jpg",
        "https://img.example.com/tee.jpg",
        "https://img.example.com/blue.jpg",
    ]
    assert units[2].values == {"Size": "M", "Colour": "Blue"}


def test_a_product_without_options_is_sold_as_itself_and_answers_as_before() -> None:
    body = tee(options=[], variants=[])
    product = Product.from_dict(body)
    assert product.sellable()[0].sku == "tee" and product.sellable()[0].variant is None
    assert "options" not in product.to_dict() and "variants" not in product.to_dict()
    assert Product.from_dict({k: v for k, v in body.items() if k not in ("options", "variants")})


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("options not a list", tee(options="Size"), "options"),
    ("four options", tee(options=["A", "B", "C", "D"]), "options"),
    ("empty option name", tee(options=["Size", " "]), "options[1]"),
    ("option name too long", tee(options=["Size", "x" * 41]), "options[1]"),
    ("option name two lines", tee(options=["Size", "Col\nour"]), "options[1]"),
    ("option name not text", tee(options=[3, "Colour"]), "options[0]"),
    ("option named twice", tee(options=["Size", "Size"]), "options[1]"),
    ("options without variants", tee(variants=[]), "variants"),
    ("variants without options", tee(options=[]), "variants"),
    ("variants not a list", tee(variants={"sku": "x"}), "variants"),
    (
        "101 variants",
        tee(options=["N"], variants=[variant(f"v{i}", str(i)) for i in range(101)]),
        "variants",
    ),
    ("variant not an object", tee(variants=["tee-s"]), "variants[0]"),
    (
        "variant unknown field",
        tee(variants=[variant("a", "S", "Red", colour="x")]),
        "variants[0].colour",
    ),
    ("variant sku missing", tee(variants=[{"values": ["S", "Red"]}]), "variants[0].sku"),
    ("variant sku malformed", tee(variants=[variant("a b", "S", "Red")]), "variants[0].sku"),
    ("variant sku is the product's", tee(variants=[variant("tee", "S", "Red")]), "variants[0].sku"),
    (
        "variant sku twice",
        tee(variants=[variant("a", "S", "Red"), variant("a", "M", "Red")]),
        "variants[1].sku",
    ),
    ("values missing", tee(variants=[{"sku": "a"}]), "variants[0].values"),
    ("one value too few", tee(variants=[variant("a", "S")]), "variants[0].values"),
    (
        "one value too many",
        tee(variants=[variant("a", "S", "Red", "Cotton")]),
        "variants[0].values",
    ),
    ("value empty", tee(variants=[variant("a", "S", "")]), "variants[0].values[1]"),
    ("value too long", tee(variants=[variant("a", "S", "R" * 41)]), "variants[0].values[1]"),
    ("value not text", tee(variants=[variant("a", "S", 7)]), "variants[0].values[1]"),  # type: ignore[arg-type]
    (
        "combination twice",
        tee(
            variants=[variant("a", "S", "Red"), variant("b", "M", "Red"), variant("c", "S", "Red")]
        ),
        "variants[2].values",
    ),
    ("price zero", tee(variants=[variant("a", "S", "Red", price=0)]), "variants[0].price"),
    ("price a float", tee(variants=[variant("a", "S", "Red", price=9.5)]), "variants[0].price"),
    (
        "price too large",
        tee(variants=[variant("a", "S", "Red", price=10**12)]),
        "variants[0].price",
    ),
    (
        "image not a url",
        tee(variants=[variant("a", "S", "Red", image_url="ftp://x")]),
        "variants[0].image_url",
    ),
]


@pytest.mark.parametrize(("body", "field"), [(b, f) for _, b, f in BAD], ids=[n for n, _, _ in BAD])
def test_a_bad_variant_shape_is_refused_by_its_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        Product.from_dict(body)
    assert refused.value.field == field, refused.value.message


@pytest.fixture
async def http(server: LiveServer, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    await create_brand(redis, Brand("b1", "Brand One"))
    await create_product(redis, Product.from_dict(tee("shirt")))
    async with httpx.AsyncClient(
        base_url=server.url, headers={"X-API-Key": STRONG_ADMIN_KEY}, timeout=30
    ) as client:
        yield client


async def test_the_api_refuses_each_bad_shape_or_clash_by_field_and_stores_nothing(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    clashes = [
        (tee(variants=[variant("shirt-s-red", "S", "Red")]), "variants[0].sku"),  # a variant
        (tee(variants=[variant("shirt", "S", "Red")]), "variants[0].sku"),  # a product
        (tee(sku="shirt-m-red", options=[], variants=[]), "sku"),  # a variant's sku
    ]
    raw = Redis.from_url(settings.redis.url)
    try:
        before = await snapshot(raw)
        sent = [("POST", body, field) for body, field in [*((b, f) for _, b, f in BAD), *clashes]]
        sent += [("PUT", body, field) for _, body, field in BAD]  # checked before the lookup
        for method, body, field in sent:
            path = "/api/products" if method == "POST" else f"/api/products/{body['sku']}"
            answer = await http.request(method, path, json=body)
            assert answer.status_code in (400, 409), answer.text
            assert answer.json()["field"] == field, (method, answer.text)
        assert differences(before, await snapshot(raw)) == []
    finally:
        await raw.aclose()


async def test_the_api_answers_a_product_with_its_options_and_variants(
    http: httpx.AsyncClient,
) -> None:
    created = await http.post("/api/products", json=tee())
    assert created.status_code == 201, created.text
    read = (await http.get("/api/products/tee")).json()
    assert read["options"] == ["Size", "Colour"]
    assert read["variants"][0] == {
        "sku": "tee-s-red",
        "values": ["S", "Red"],
        "price": 2700,
        "image_url": "",
    }
    assert read == created.json()


# --- the catalog-wide index ------------------------------------------------------------


@pytest.fixture
async def brand(redis: Redis) -> None:
    await create_brand(redis, Brand("b1", "Brand One"))


async def test_create_update_and_delete_keep_the_variant_index_exact(
    redis: Redis, brand: None
) -> None:
    await create_product(redis, Product.from_dict(tee()))
    assert await owners(redis) == {"tee-s-red": "tee", "tee-m-red": "tee", "tee-m-blue": "tee"}

    # Drop one variant, add another: the dropped SKU is free again, the new one indexed.
    changed = tee(variants=[variant("tee-s-red", "S", "Red"), variant("tee-l-red", "L", "Red")])
    await replace_product(redis, Product.from_dict(changed))
    assert await owners(redis) == {"tee-s-red": "tee", "tee-l-red": "tee"}
    await create_product(redis, Product.from_dict(tee("tee-m-red", options=[], variants=[])))

    # The product loses its options: all its variant SKUs are free.
    await replace_product(redis, Product.from_dict(tee(options=[], variants=[])))
    assert await owners(redis) == {}

    await replace_product(redis, Product.from_dict(changed))
    await delete_product(redis, "tee")
    assert await owners(redis) == {}
    assert await get_product(redis, "tee") is None


async def test_a_variant_sku_names_one_product_across_the_catalog(
    redis: Redis, brand: None
) -> None:
    await create_product(redis, Product.from_dict(tee()))
    await create_product(redis, Product.from_dict(tee("plain", options=[], variants=[])))
    refused = [
        (tee("hat", variants=[variant("tee-s-red", "S", "Red")]), "variants[0].sku"),
        (tee("hat", variants=[variant("plain", "S", "Red")]), "variants[0].sku"),
        (tee("tee-m-red", options=[], variants=[]), "sku"),
        (tee("tee-m-blue"), "sku"),
    ]
    for body, field in refused:
        with pytest.raises(Conflict) as clash:
            await create_product(redis, Product.from_dict(body))
        assert clash.value.field == field, clash.value.message
    # Replacing the product itself with the same variants is no clash.
    await replace_product(redis, Product.from_dict(tee(title="Tee v2")))
    # Another product may not take over a variant by a replace either.
    with pytest.raises(Conflict):
        await replace_product(
            redis, Product.from_dict(tee("plain", variants=[variant("tee-m-red", "M", "Red")]))
        )
    assert await owners(redis) == {"tee-s-red": "tee", "tee-m-red": "tee", "tee-m-blue": "tee"}


async def test_a_batch_refuses_skus_that_clash_with_the_catalog_or_within_the_batch(
    redis: Redis, brand: None
) -> None:
    await create_product(redis, Product.from_dict(tee()))
    batch = [
        Product.from_dict(tee("a", variants=[variant("a-1", "S", "Red")])),
        Product.from_dict(tee("b", variants=[variant("a-1", "M", "Red")])),  # a's variant
        Product.from_dict(tee("c", variants=[variant("tee-m-red", "M", "Red")])),  # catalog
        Product.from_dict(tee("d", variants=[variant("a", "M", "Red")])),  # a product
        Product.from_dict(tee("e", options=[], variants=[], brand="nope")),
    ]
    refused = {r.product.sku: r.error.field for r in await put_products_checked(redis, batch)}
    assert refused == {
        "b": "variants[0].sku",
        "c": "variants[0].sku",
        "d": "variants[0].sku",
        "e": "brand",
    }
    assert await owners(redis) == {
        "tee-s-red": "tee",
        "tee-m-red": "tee",
        "tee-m-blue": "tee",
        "a-1": "a",
    }
    assert [await get_product(redis, s) is None for s in "abcde"] == [
        False,
        True,
        True,
        True,
        True,
    ]


async def test_racing_creates_of_one_variant_sku_leave_exactly_one_owner(
    redis: Redis, brand: None
) -> None:
    """Many products race to claim the same variant SKU: the transaction lets one win,
    and the index names that winner, whose stored product has the variant."""

    async def claim(n: int) -> str | None:
        body = tee(f"p{n}", variants=[variant("shared", "S", "Red")])
        with contextlib.suppress(Conflict):
            await create_product(redis, Product.from_dict(body))
            return f"p{n}"
        return None

    won = [w for w in await asyncio.gather(*(claim(n) for n in range(12))) if w]
    assert len(won) == 1
    assert await owners(redis) == {"shared": won[0]}


async def test_a_show_resolves_a_variant_sku_and_refuses_a_product_sold_by_variants(
    redis: Redis, brand: None
) -> None:
    await create_product(redis, Product.from_dict(tee()))
    found = await get_sellable(redis, "tee-m-blue")
    assert found.product.sku == "tee" and found.values == {"Size": "M", "Colour": "Blue"}
    with pytest.raises(InvalidInput) as whole:
        await get_sellable(redis, "tee", field="lineup[0].sku")
    assert whole.value.field == "lineup[0].sku"
    assert "tee-s-red, tee-m-red, tee-m-blue" in whole.value.message
    with pytest.raises(NotFound):
        await get_sellable(redis, "tee-xl-red")
