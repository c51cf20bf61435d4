"""A brand's shipping rule over HTTP: read (free until set), replaced whole, refused by
field with nothing changed, and only with the API key."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from livecart.commerce.catalog.products import Brand, save_brand
from livecart.store import keys
from tests.helpers import STRONG_ADMIN_KEY, LiveServer

KEY = {"X-API-Key": STRONG_ADMIN_KEY}
RULE = "/api/brands/b1/shipping"


@pytest.fixture
async def http(server: LiveServer, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    await save_brand(redis, Brand(id="b1", name="Brand One"))
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


async def test_a_brand_ships_free_until_its_rule_is_set_then_the_rule_is_kept(
    http: httpx.AsyncClient,
) -> None:
    first = await http.get(RULE, headers=KEY)
    assert first.status_code == 200
    assert first.json() == {"brand": "b1", "flat": 0, "free_over": None}

    put = await http.put(RULE, json={"flat": 490, "free_over": 5000}, headers=KEY)
    assert put.status_code == 200, put.text
    assert (await http.get(RULE, headers=KEY)).json() == {
        "brand": "b1",
        "flat": 490,
        "free_over": 5000,
    }
    # Replaced whole: a rule without a threshold has none.
    await http.put(RULE, json={"flat": 300}, headers=KEY)
    assert (await http.get(RULE, headers=KEY)).json()["free_over"] is None


async def test_a_bad_rule_names_its_field_and_changes_nothing(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    await http.put(RULE, json={"flat": 490}, headers=KEY)
    before = await redis.get(keys.brand_shipping("b1"))
    for body, field in (({"flat": -5}, "flat"), ({"flat": 1, "free_over": 0}, "free_over")):
        refused = await http.put(RULE, json=body, headers=KEY)
        assert refused.status_code == 400 and refused.json()["field"] == field
    assert await redis.get(keys.brand_shipping("b1")) == before


async def test_only_the_api_key_reads_or_sets_it_and_only_for_a_brand_that_exists(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    assert (await http.put(RULE, json={"flat": 1})).status_code == 401
    assert (await http.get(RULE)).status_code == 401
    missing = await http.put("/api/brands/nobody/shipping", json={"flat": 1}, headers=KEY)
    assert missing.status_code == 404 and missing.json()["field"] == "brand"
    assert await redis.get(keys.brand_shipping("nobody")) is None


async def test_deleting_the_brand_deletes_its_rule(http: httpx.AsyncClient, redis: Redis) -> None:
    await http.put(RULE, json={"flat": 490}, headers=KEY)
    assert (await http.delete("/api/brands/b1", headers=KEY)).status_code in (200, 204)
    assert await redis.get(keys.brand_shipping("b1")) is None
