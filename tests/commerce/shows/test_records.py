"""Creating a show: references checked first, one script, one event, nothing on refusal."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from livecart.commerce.accounts.creators import Creator, save_creator
from livecart.commerce.catalog.products import Brand, Product, save_brand, save_product
from livecart.commerce.shows.records import NewShow, create_show, show_snapshot
from livecart.errors import InvalidInput, LivecartError, NotFound
from livecart.runtime import Runtime
from livecart.store import keys


async def seed(redis: Redis) -> None:
    await save_brand(redis, Brand(id="b1", name="Brand One"))
    await save_brand(redis, Brand(id="b2", name="Brand Two"))
    await save_creator(redis, Creator(id="c1", name="Creator One"))
    for sku, brand in (("p1", "b1"), ("p2", "b1"), ("other", "b2")):
        await save_product(
            redis, Product(sku=sku, brand=brand, title=sku, price=1000, currency="EUR")
        )


def show_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "s1",
        "title": "Sunday drop",
        "creator": "c1",
        "brand": "b1",
        "lineup": [{"sku": "p1", "quantity": 50}, {"sku": "p2", "quantity": 5}],
    }
    body.update(changes)
    return body


async def test_a_new_show_has_its_lineup_stock_and_one_created_event(runtime: Runtime) -> None:
    await seed(runtime.redis)
    created = await create_show(
        runtime.redis, runtime.scripts, NewShow.from_dict(show_body()), stream_max_events=1000
    )
    assert created.created
    snapshot = await show_snapshot(runtime.redis, "s1")
    assert snapshot["state"] == "scheduled" and snapshot["epoch"] == created.epoch
    assert [(p["sku"], p["stock"], p["allocated"], p["price"]) for p in snapshot["lineup"]] == [
        ("p1", 50, 50, 1000),
        ("p2", 5, 5, 1000),
    ]
    events = await runtime.redis.xrange(keys.show_events("s1"))
    assert len(events) == 1
    event_id, fields = events[0]
    assert fields["type"] == "show_created" and snapshot["last_event_id"] == event_id
    assert orjson.loads(fields["data"])["lineup"] == ["p1", "p2"]
    assert await runtime.redis.zscore(keys.shows_index(), "s1") == 0


async def test_creating_the_same_show_twice_changes_nothing(runtime: Runtime) -> None:
    await seed(runtime.redis)
    first = await create_show(
        runtime.redis, runtime.scripts, NewShow.from_dict(show_body()), stream_max_events=1000
    )
    await runtime.redis.hset(keys.show_stock("s1"), "p1", 7)  # as if 43 were sold
    again = await create_show(
        runtime.redis,
        runtime.scripts,
        NewShow.from_dict(show_body(title="Other")),
        stream_max_events=1000,
    )
    assert not again.created and again.epoch == first.epoch
    snapshot = await show_snapshot(runtime.redis, "s1")
    assert snapshot["title"] == "Sunday drop" and snapshot["lineup"][0]["stock"] == 7
    assert await runtime.redis.xlen(keys.show_events("s1")) == 1


@pytest.mark.parametrize(
    ("body", "error", "field"),
    [
        (show_body(id="s:1"), InvalidInput, "id"),
        (show_body(id=None), InvalidInput, "id"),
        (show_body(title=""), InvalidInput, "title"),
        (show_body(title=5), InvalidInput, "title"),
        (show_body(creator="nobody"), NotFound, "creator"),
        (show_body(brand="nobody"), NotFound, "brand"),
        (show_body(lineup="p1"), InvalidInput, "lineup"),
        (show_body(lineup=[{"sku": "ghost", "quantity": 1}]), NotFound, "lineup[0].sku"),
        (show_body(lineup=[{"sku": "other", "quantity": 1}]), InvalidInput, "lineup[0].sku"),
        (show_body(lineup=[{"sku": "p1", "quantity": 0}]), InvalidInput, "lineup[0].quantity"),
        (show_body(lineup=[{"sku": "p1", "quantity": -3}]), InvalidInput, "lineup[0].quantity"),
        (show_body(lineup=[{"sku": "p1", "quantity": 10**9}]), InvalidInput, "lineup[0].quantity"),
        (show_body(lineup=[{"sku": "p1", "quantity": 2.5}]), InvalidInput, "lineup[0].quantity"),
        (show_body(lineup=[{"sku": "p1", "quantity": "2"}]), InvalidInput, "lineup[0].quantity"),
        (
            show_body(lineup=[{"sku": "p1", "quantity": 1}, {"sku": "p1", "quantity": 1}]),
            InvalidInput,
            "lineup[1].sku",
        ),
        (show_body(lineup=[{"sku": "p*", "quantity": 1}]), InvalidInput, "lineup[0].sku"),
        (show_body(scheduled_at_ms=-1), InvalidInput, "scheduled_at_ms"),
    ],
)
async def test_bad_shows_are_refused_naming_the_field_and_nothing_is_written(
    runtime: Runtime, body: dict[str, Any], error: type[LivecartError], field: str
) -> None:
    await seed(runtime.redis)
    before = sorted(await runtime.redis.keys("*"))
    with pytest.raises(error) as caught:
        await create_show(
            runtime.redis, runtime.scripts, NewShow.from_dict(body), stream_max_events=1000
        )
    assert caught.value.field == field
    assert sorted(await runtime.redis.keys("*")) == before


async def test_the_snapshot_of_an_unknown_show_is_not_found(runtime: Runtime) -> None:
    with pytest.raises(NotFound):
        await show_snapshot(runtime.redis, "nope")
