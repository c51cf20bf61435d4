"""The show listing's ``creator`` filter: a creator's showcase page finds their live
show with ``GET /api/shows?creator=C&state=live``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from livecart.demo import seed_demo
from tests.api.test_catalog_api import KEY, refusal, store_snapshot
from tests.helpers import LiveServer


@pytest.fixture
async def http(server: LiveServer, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    """The demo's brand, products, creator ``maya`` and show, plus creator ``bo`` with
    two shows (one live) and a second show of maya's."""
    await seed_demo(server.runtime)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        created = await client.post("/api/creators", headers=KEY, json={"id": "bo", "name": "Bo"})
        assert created.status_code == 201
        for show, creator in (("bo-1", "bo"), ("bo-2", "bo"), ("maya-2", "maya")):
            body = {
                "id": show,
                "title": show,
                "creator": creator,
                "brand": "northwind",
                "lineup": [{"sku": "nw-beanie", "quantity": 5}],
            }
            assert (await client.post("/api/shows", headers=KEY, json=body)).status_code == 201
        assert (await client.post("/api/shows/bo-2/start", headers=KEY)).status_code == 200
        yield client


async def test_the_creator_filter_lists_only_that_creators_shows(http: httpx.AsyncClient) -> None:
    bo = (await http.get("/api/shows", params={"creator": "bo"})).json()
    assert [s["id"] for s in bo["items"]] == ["bo-1", "bo-2"] and bo["next"] is None
    assert {s["creator"] for s in bo["items"]} == {"bo"}
    maya = (await http.get("/api/shows", params={"creator": "maya"})).json()
    assert [s["id"] for s in maya["items"]] == ["demo-show", "maya-2"]


async def test_creator_and_state_together_find_the_creators_live_show(
    http: httpx.AsyncClient,
) -> None:
    live = (await http.get("/api/shows", params={"creator": "bo", "state": "live"})).json()
    assert [(s["id"], s["state"]) for s in live["items"]] == [("bo-2", "live")]
    none_live = (await http.get("/api/shows", params={"creator": "maya", "state": "live"})).json()
    assert none_live == {"items": [], "next": None}


async def test_a_filtered_listing_pages_with_a_cursor(http: httpx.AsyncClient) -> None:
    first = (await http.get("/api/shows", params={"creator": "bo", "limit": 1})).json()
    assert [s["id"] for s in first["items"]] == ["bo-1"] and first["next"] == "bo-1"
    params = {"creator": "bo", "limit": 1, "after": first["next"]}
    second = (await http.get("/api/shows", params=params)).json()
    assert [s["id"] for s in second["items"]] == ["bo-2"] and second["next"] is None


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("creator=", 400, "creator"),
        ("creator=a:b", 400, "creator"),
        ("creator=%7Bx%7D", 400, "creator"),
        ("creator=a*", 400, "creator"),
        ("creator=bo&creator=maya", 400, "creator"),
        ("creator=nobody", 404, "creator"),
        ("creator=bo&state=paused", 400, "state"),
        ("creator=bo&creater=bo", 400, "creater"),
    ],
)
async def test_a_bad_creator_filter_names_the_field_and_changes_nothing(
    http: httpx.AsyncClient, redis: Redis, query: str, status: int, field: str
) -> None:
    before = await store_snapshot(redis)
    response = await http.get(f"/api/shows?{query}")
    refusal(response, status, "invalid" if status == 400 else "not_found", field)
    assert await store_snapshot(redis) == before
