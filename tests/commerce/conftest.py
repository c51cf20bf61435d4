"""A small live show on the session's Redis, with the test payment provider (which
declines buyers named decline*, stalls stall* and fails error*)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from livecart.commerce.accounts.creators import Creator, save_creator
from livecart.commerce.catalog.products import Brand, Product, save_brand, save_product
from livecart.commerce.shows.control import start_show
from livecart.commerce.shows.records import LineupEntry, NewShow, create_show
from livecart.config import Settings
from livecart.runtime import Runtime
from livecart.store import keys

SHOW = "s1"
# sku -> (price, units for the show, per-user limit, currency)
PRODUCTS = {
    "p-plain": (1000, 50, 0, "EUR"),
    "p-limited": (2500, 50, 2, "EUR"),
    "p-scarce": (500, 3, 0, "EUR"),
    "p-dollars": (700, 10, 0, "USD"),
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides({"checkout": {"payment_provider": "test"}})


async def seed_show(runtime: Runtime, show: str = SHOW, *, start: bool = True) -> str:
    redis = runtime.redis
    await save_brand(redis, Brand(id="b1", name="Brand One"))
    await save_creator(redis, Creator(id="c1", name="Creator One"))
    await save_creator(redis, Creator(id="c2", name="Creator Two"))
    for sku, (price, _, limit, currency) in PRODUCTS.items():
        await save_product(
            redis,
            Product(
                sku=sku,
                brand="b1",
                title=sku.title(),
                price=price,
                currency=currency,
                commission_bps=1000,
                per_user_limit=limit,
            ),
        )
    await create_show(
        redis,
        runtime.scripts,
        NewShow(
            id=show,
            title="Show",
            creator="c1",
            brand="b1",
            lineup=tuple(LineupEntry(sku, units) for sku, (_, units, _, _) in PRODUCTS.items()),
        ),
        stream_max_events=runtime.settings.hub.stream_max_events,
    )
    if start:
        await start_show(runtime, show)
    return show


@dataclass
class Units:
    stock: int
    held: int
    sold: int
    allocated: int


async def units(redis: Redis, sku: str, show: str = SHOW) -> Units:
    async with redis.pipeline(transaction=True) as pipe:
        for key in (keys.show_stock, keys.show_held, keys.show_sold, keys.show_allocated):
            pipe.hget(key(show), sku)
        stock, held, sold, allocated = await pipe.execute()
    return Units(int(stock or 0), int(held or 0), int(sold or 0), int(allocated or 0))


async def assert_units_add_up(redis: Redis, show: str = SHOW) -> None:
    """The invariant after any storm: stock + held + sold == allocated, stock >= 0."""
    for sku in await redis.hkeys(keys.show_allocated(show)):
        u = await units(redis, sku, show)
        assert u.stock >= 0 and u.held >= 0 and u.sold >= 0, (sku, u)
        assert u.stock + u.held + u.sold == u.allocated, (sku, u)


@pytest.fixture
async def show(runtime: Runtime) -> AsyncIterator[str]:
    yield await seed_show(runtime)
