"""Creators, their showcases and share links."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from redis.asyncio import Redis

from livecart.commerce.accounts.creators import (
    MAX_SHOWCASE,
    Creator,
    create_creator,
    get_creator,
    get_showcase,
    save_creator,
    set_showcase,
    share_link,
    share_url,
    showcase_from_dict,
)
from livecart.commerce.catalog.products import (
    Brand,
    Product,
    create_brand,
    create_product,
    delete_product,
)
from livecart.errors import Conflict, InvalidInput, NotFound
from livecart.store import keys


async def seed(redis: Redis, skus: tuple[str, ...] = ("p1", "p2", "p3")) -> None:
    await create_brand(redis, Brand("b1", "One"))
    await create_creator(redis, Creator("maya", "Maya"))
    for sku in skus:
        await create_product(
            redis, Product(sku=sku, brand="b1", title=sku, price=100, currency="EUR")
        )


async def test_a_creator_id_is_taken_once_and_indexed(redis: Redis) -> None:
    await create_creator(redis, Creator("maya", "Maya"))
    with pytest.raises(Conflict) as refused:
        await create_creator(redis, Creator("maya", "Someone else"))
    assert refused.value.field == "id"
    assert await get_creator(redis, "maya") == Creator("maya", "Maya")
    assert await redis.zrange(keys.creators_index(), 0, -1) == ["maya"]
    await save_creator(redis, Creator("ana", "Ana"))
    assert await redis.zrange(keys.creators_index(), 0, -1) == ["ana", "maya"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x"}, "id"),
        ({"id": "a:b", "name": "x"}, "id"),
        ({"id": "a*", "name": "x"}, "id"),
        ({"id": 5, "name": "x"}, "id"),
        ({"id": "a"}, "name"),
        ({"id": "a", "name": ""}, "name"),
        ({"id": "a", "name": "x", "email": "a@b"}, "email"),
    ],
)
def test_a_bad_creator_is_refused_by_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        Creator.from_dict(body)
    assert refused.value.field == field


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "skus"),
        ({"skus": "p1"}, "skus"),
        ({"skus": {"p1": 1}}, "skus"),
        ({"skus": [f"p{i}" for i in range(MAX_SHOWCASE + 1)]}, "skus"),
        ({"skus": ["p1", 2]}, "skus[1]"),
        ({"skus": ["p1", "p{2}"]}, "skus[1]"),
        ({"skus": ["p1", "p2", "p1"]}, "skus[2]"),
        ({"skus": [], "order": "asc"}, "order"),
    ],
)
def test_a_bad_showcase_is_refused_by_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        showcase_from_dict(body)
    assert refused.value.field == field


async def test_a_showcase_keeps_the_creators_order_and_is_replaced_whole(redis: Redis) -> None:
    await seed(redis)
    await set_showcase(redis, "maya", ("p3", "p1", "p2"))
    assert [p.sku for p in await get_showcase(redis, "maya")] == ["p3", "p1", "p2"]
    await set_showcase(redis, "maya", ("p2",))
    assert [p.sku for p in await get_showcase(redis, "maya")] == ["p2"]
    await set_showcase(redis, "maya", ())
    assert await get_showcase(redis, "maya") == []
    assert not await redis.exists(keys.creator_showcase("maya"))


async def test_a_showcase_naming_an_unknown_product_is_refused_and_changes_nothing(
    redis: Redis,
) -> None:
    await seed(redis)
    await set_showcase(redis, "maya", ("p1",))
    with pytest.raises(NotFound) as refused:
        await set_showcase(redis, "maya", ("p2", "ghost", "p3"))
    assert refused.value.field == "skus[1]"
    assert [p.sku for p in await get_showcase(redis, "maya")] == ["p1"]
    with pytest.raises(NotFound) as no_creator:
        await set_showcase(redis, "nobody", ("p1",))
    assert no_creator.value.field == "creator"
    assert not await redis.exists(keys.creator_showcase("nobody"))


async def test_products_deleted_since_are_left_out_of_the_showcase(redis: Redis) -> None:
    await seed(redis)
    await set_showcase(redis, "maya", ("p1", "p2", "p3"))
    await delete_product(redis, "p2")
    assert [p.sku for p in await get_showcase(redis, "maya")] == ["p1", "p3"]


async def test_the_showcase_of_an_unknown_creator_is_not_found(redis: Redis) -> None:
    with pytest.raises(NotFound) as refused:
        await get_showcase(redis, "nobody")
    assert refused.value.field == "creator"


def test_a_share_url_escapes_what_a_query_would_misread() -> None:
    url = share_url("https://shop.example.com", "ana+promo@x.io", "show.1")
    assert url == "https://shop.example.com/shows/show.1?ref=ana%2Bpromo%40x.io"
    assert parse_qs(urlsplit(url).query) == {"ref": ["ana+promo@x.io"]}


async def test_a_share_link_needs_the_creator_and_the_show(redis: Redis) -> None:
    await create_creator(redis, Creator("maya", "Maya"))
    with pytest.raises(NotFound) as no_show:
        await share_link(redis, "http://x", "maya", "s1")
    assert no_show.value.field == "show"
    await redis.hset(keys.show("s1"), mapping={"id": "s1"})
    with pytest.raises(NotFound) as no_creator:
        await share_link(redis, "http://x", "nobody", "s1")
    assert no_creator.value.field == "creator"
    link = await share_link(redis, "http://x", "maya", "s1")
    assert link.to_dict() == {"url": "http://x/shows/s1?ref=maya", "ref": "maya", "show": "s1"}
