"""Show s1 of tests/commerce/conftest.py (live, brand b1), with brand b1 keeping
p-plain in inventory, and a second brand with a product of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from livecart.commerce.catalog.products import Brand, Product, save_brand, save_product
from livecart.commerce.inventory.moves import set_on_hand
from livecart.config import Settings
from livecart.runtime import Runtime, running
from livecart.store import keys
from tests.commerce.conftest import seed_show

ON_HAND = 100


@pytest.fixture
async def runtime(settings: Settings, redis: Redis) -> AsyncIterator[Runtime]:
    """A node without its background workers: each test runs the inventory sweep
    itself, when it means to, so the units it counts move only when it says."""
    async with running(settings) as started:
        yield started


@pytest.fixture
async def tracked(runtime: Runtime) -> AsyncIterator[str]:
    """Show s1 live, p-plain tracked with ON_HAND units on hand at brand b1 (and 50 in
    the show, allocated the old way before tracking began); b2 sells p-other."""
    show = await seed_show(runtime)
    await save_brand(runtime.redis, Brand(id="b2", name="Brand Two"))
    await save_product(
        runtime.redis,
        Product(sku="p-other", brand="b2", title="Other", price=100, currency="EUR"),
    )
    await set_on_hand(runtime, "b1", "p-plain", ON_HAND)
    yield show


@pytest.fixture
async def raw(settings: Settings, redis: Redis) -> AsyncIterator[Redis]:
    """A client that does not decode: tests/keyspace.py reads DUMP bytes."""
    client = Redis.from_url(settings.redis.url)
    yield client
    await client.aclose()


async def on_hand(redis: Redis, sku: str = "p-plain", brand: str = "b1") -> int:
    return int(await redis.hget(keys.brand_inventory(brand), sku) or 0)
