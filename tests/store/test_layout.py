"""Data an older livecart wrote under the catalog's old key names is found after an
upgrade: moved once, never over a key this version wrote."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from livecart.commerce.catalog.products import brand_page
from livecart.config import Settings
from livecart.runtime import running
from livecart.store import keys
from livecart.store.layout import LAYOUT_VERSION, layout_marker, migrate_catalog_layout
from tests.conftest import CLUSTER

pytestmark = pytest.mark.skipif(bool(CLUSTER), reason="a Cluster never held the old names")

OLD = {
    "lc:brand:b1": "brand",
    "lc:brand:b1:products": "products",
    "lc:brand:b1:shows": "shows",
    "lc:product:p1": "product",
    "lc:variant:p1-red": "owner",
    "lc:creator:maya": "creator",
    "lc:creator:maya:showcase": "showcase",
    "lc:brands": "brands",
    "lc:creators": "creators",
}


async def test_old_catalog_keys_move_to_their_new_names_once(redis: Redis) -> None:
    for name, value in OLD.items():
        await redis.set(name, value)
    # What else is there stays where it is: a show's keys, a creator's ledger, an order.
    untouched = {"lc:{s:s1}:show": "show", "lc:{c:maya}:ledger": "ledger", "lc:order:o1": "o"}
    for name, value in untouched.items():
        await redis.set(name, value)
    # A key this version wrote already wins over its old copy.
    await redis.set(keys.brand("b1"), "new brand")

    assert await migrate_catalog_layout(redis) == len(OLD) - 1

    assert await redis.get(keys.brand("b1")) == "new brand"
    assert await redis.get("lc:brand:b1") == "brand"  # left, not lost
    assert await redis.get(keys.brand_products("b1")) == "products"
    assert await redis.get(keys.brand_shows("b1")) == "shows"
    assert await redis.get(keys.product("p1")) == "product"
    assert await redis.get(keys.variant_owner("p1-red")) == "owner"
    assert await redis.get(keys.creator("maya")) == "creator"
    assert await redis.get(keys.creator_showcase("maya")) == "showcase"
    assert await redis.get(keys.brands_index()) == "brands"
    assert await redis.get(keys.creators_index()) == "creators"
    for name, value in untouched.items():
        assert await redis.get(name) == value
    assert await redis.get(layout_marker()) == LAYOUT_VERSION

    # Done once: a later start does not scan again.
    await redis.set("lc:product:late", "x")
    assert await migrate_catalog_layout(redis) == 0
    assert await redis.get("lc:product:late") == "x"


async def test_a_node_starting_on_old_data_serves_it_under_the_new_names(
    settings: Settings, redis: Redis
) -> None:
    await redis.set("lc:brand:b1", '{"id": "b1", "name": "Old Brand"}')
    await redis.zadd("lc:brands", {"b1": 0})
    async with running(settings) as runtime:
        page = await brand_page(runtime.redis)
    assert [b.name for b in page.items] == ["Old Brand"]
