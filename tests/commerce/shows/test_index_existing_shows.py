"""Shows stored by a livecart without the brand, creator and start indexes are put in
them once, by the node worker, so the listing's filters find them after an upgrade."""

from __future__ import annotations

from redis.asyncio import Redis

from livecart.commerce.shows.listing import index_existing_shows, show_page, start_entry
from livecart.runtime import Runtime
from livecart.store import keys
from tests.commerce.conftest import seed_show


async def _forget_new_indexes(redis: Redis, show_id: str) -> None:
    """What an older livecart left: the show in the id index only."""
    stored = await redis.hgetall(keys.show(show_id))
    await redis.zrem(keys.brand_shows(stored["brand"]), show_id)
    await redis.zrem(keys.creator_shows(stored["creator"]), show_id)
    await redis.zrem(keys.shows_by_start(), start_entry(stored))


async def test_an_older_show_is_indexed_once_and_then_found_by_brand(
    runtime: Runtime, redis: Redis
) -> None:
    await seed_show(runtime, start=False)
    show_id = (await redis.zrange(keys.shows_index(), 0, -1))[0]
    brand = await redis.hget(keys.show(show_id), "brand")
    await _forget_new_indexes(redis, show_id)
    before = await show_page(redis, state=None, brand=brand, after="", limit=10)
    assert before.items == []

    await index_existing_shows(runtime)

    after = await show_page(redis, state=None, brand=brand, after="", limit=10)
    assert [s["id"] for s in after.items] == [show_id]
    dated = await show_page(redis, state=None, from_ms=0, after="", limit=10)
    assert [s["id"] for s in dated.items] == [show_id]

    # On data already indexed it changes nothing.
    before = await indexes(redis, brand)
    await index_existing_shows(runtime)
    assert await indexes(redis, brand) == before


async def indexes(redis: Redis, brand: str) -> list[object]:
    names = (keys.shows_index(), keys.brand_shows(brand), keys.creator_shows("c1"))
    return [await redis.zrange(name, 0, -1, withscores=True) for name in names] + [
        await redis.zrange(keys.shows_by_start(), 0, -1, withscores=True)
    ]
