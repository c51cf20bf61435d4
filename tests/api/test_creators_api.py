"""Creators over HTTP: the merchant adds creators and sets showcases with the API key;
anyone reads a creator, a showcase, or gets a share link to a show."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from redis.asyncio import Redis

from livecart.commerce.accounts.creators import MAX_SHOWCASE
from livecart.commerce.catalog.products import Brand, Product, save_brand, save_product
from livecart.demo import seed_demo
from livecart.store import keys
from tests.api.test_catalog_api import KEY, NOT_THE_KEY, VIEWER_TOKEN, refusal, store_snapshot
from tests.helpers import LiveServer


@pytest.fixture
async def http(server: LiveServer, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    """A client with no credentials, on a store with the demo's creator, show and products."""
    await seed_demo(server.runtime)
    await save_brand(redis, Brand("b2", "Other brand"))
    await save_product(redis, Product(sku="x1", brand="b2", title="X", price=5, currency="USD"))
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        yield client


async def test_a_creator_is_created_with_the_key_and_read_by_anyone(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    created = await http.post("/api/creators", headers=KEY, json={"id": "ana", "name": "Ana"})
    assert created.status_code == 201 and created.json() == {"id": "ana", "name": "Ana"}
    public = await http.get("/api/creators/ana")
    assert public.status_code == 200 and public.json() == {"id": "ana", "name": "Ana"}
    assert "ana" in await redis.zrange(keys.creators_index(), 0, -1)


async def test_an_existing_creator_id_is_a_conflict_and_changes_nothing(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    before = await store_snapshot(redis)
    response = await http.post("/api/creators", headers=KEY, json={"id": "maya", "name": "Other"})
    refusal(response, 409, "conflict", "id")
    assert await store_snapshot(redis) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"", "body"),
        (b"[]", "body"),
        (b'{"name": "A"}', "id"),
        (b'{"id": "a{1}", "name": "A"}', "id"),
        (b'{"id": "a:1", "name": "A"}', "id"),
        (b'{"id": "a*", "name": "A"}', "id"),
        (b'{"id": 12, "name": "A"}', "id"),
        (b'{"id": "a"}', "name"),
        (b'{"id": "a", "name": ""}', "name"),
        (b'{"id": "a", "name": false}', "name"),
        (b'{"id": "a", "name": "A", "rate": 5}', "rate"),
    ],
)
async def test_a_bad_new_creator_names_the_field_and_changes_nothing(
    http: httpx.AsyncClient, redis: Redis, body: bytes, field: str
) -> None:
    before = await store_snapshot(redis)
    response = await http.post("/api/creators", headers=KEY, content=body)
    refusal(response, 400, "invalid", field)
    assert await store_snapshot(redis) == before


async def test_creators_are_listed_in_id_order_a_page_at_a_time(
    http: httpx.AsyncClient,
) -> None:
    for creator_id in ("zoe", "ana", "bo", "cy"):
        created = await http.post(
            "/api/creators", headers=KEY, json={"id": creator_id, "name": creator_id.title()}
        )
        assert created.status_code == 201
    ids: list[str] = []
    after = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2, **({"after": after} if after else {})}
        page = (await http.get("/api/creators", params=params, headers=KEY)).json()
        ids += [c["id"] for c in page["items"]]
        pages += 1
        after = page["next"]
        if after is None:
            break
    assert ids == ["ana", "bo", "cy", "maya", "zoe"] and pages == 3
    whole = (await http.get("/api/creators", headers=KEY)).json()
    assert whole["next"] is None
    assert whole["items"][3] == {"id": "maya", "name": "Maya Lindqvist"}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=", "limit"),
        ("limit=1.5", "limit"),
        ("limit=2&limit=3", "limit"),
        ("after=a:b", "after"),
        ("after=%7Bx%7D", "after"),
        ("after=a&after=b", "after"),
    ],
)
async def test_a_bad_creator_listing_query_names_the_parameter_and_changes_nothing(
    http: httpx.AsyncClient, redis: Redis, query: str, field: str
) -> None:
    before = await store_snapshot(redis)
    refusal(await http.get(f"/api/creators?{query}", headers=KEY), 400, "invalid", field)
    assert await store_snapshot(redis) == before


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("/api/creators/nobody", 404, "creator"),
        ("/api/creators/a:b", 400, "creator"),
        ("/api/creators/a*", 400, "creator"),
        ("/api/creators/%7Ba%7D", 400, "creator"),
        ("/api/creators/nobody/showcase", 404, "creator"),
        ("/api/creators/a:b/showcase", 400, "creator"),
    ],
)
async def test_public_reads_of_unknown_or_malformed_creators_are_refused_by_field(
    http: httpx.AsyncClient, path: str, status: int, field: str
) -> None:
    refusal(await http.get(path), status, "invalid" if status == 400 else "not_found", field)


# --- showcases ------------------------------------------------------------------------


async def test_a_showcase_is_set_with_the_key_and_shown_to_anyone_in_order(
    http: httpx.AsyncClient,
) -> None:
    skus = ["nw-beanie", "x1", "nw-headlamp"]
    response = await http.put("/api/creators/maya/showcase", headers=KEY, json={"skus": skus})
    assert response.status_code == 200 and response.json() == {"creator": "maya", "skus": skus}
    shown = (await http.get("/api/creators/maya/showcase")).json()
    assert shown["creator"] == "maya"
    assert [p["sku"] for p in shown["items"]] == skus
    assert shown["items"][1] == {
        "sku": "x1",
        "brand": "b2",
        "title": "X",
        "price": 5,
        "currency": "USD",
        "description": "",
        "image_url": "",
        "commission_bps": 0,
        "per_user_limit": 0,
    }
    replaced = await http.put("/api/creators/maya/showcase", headers=KEY, json={"skus": ["x1"]})
    assert replaced.status_code == 200
    shown = (await http.get("/api/creators/maya/showcase")).json()
    assert [p["sku"] for p in shown["items"]] == ["x1"]


async def test_products_deleted_since_are_left_out_of_a_showcase(
    http: httpx.AsyncClient,
) -> None:
    skus = ["nw-beanie", "x1", "nw-headlamp"]
    await http.put("/api/creators/maya/showcase", headers=KEY, json={"skus": skus})
    assert (await http.delete("/api/products/x1", headers=KEY)).status_code == 204
    shown = (await http.get("/api/creators/maya/showcase")).json()
    assert [p["sku"] for p in shown["items"]] == ["nw-beanie", "nw-headlamp"]


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/api/creators/maya/showcase", {}, 400, "skus"),
        ("/api/creators/maya/showcase", {"skus": "x1"}, 400, "skus"),
        ("/api/creators/maya/showcase", {"skus": None}, 400, "skus"),
        ("/api/creators/maya/showcase", {"skus": [1]}, 400, "skus[0]"),
        ("/api/creators/maya/showcase", {"skus": ["x1", "x{1}"]}, 400, "skus[1]"),
        ("/api/creators/maya/showcase", {"skus": ["x1", "a:b"]}, 400, "skus[1]"),
        ("/api/creators/maya/showcase", {"skus": ["x1", "x*"]}, 400, "skus[1]"),
        ("/api/creators/maya/showcase", {"skus": ["x1", "nw-beanie", "x1"]}, 400, "skus[2]"),
        (
            "/api/creators/maya/showcase",
            {"skus": [f"s{i}" for i in range(MAX_SHOWCASE + 1)]},
            400,
            "skus",
        ),
        ("/api/creators/maya/showcase", {"skus": ["x1", "ghost"]}, 404, "skus[1]"),
        ("/api/creators/maya/showcase", {"skus": [], "pinned": "x1"}, 400, "pinned"),
        ("/api/creators/maya/showcase", ["x1"], 400, "body"),
        ("/api/creators/nobody/showcase", {"skus": ["x1"]}, 404, "creator"),
        ("/api/creators/no:body/showcase", {"skus": ["x1"]}, 400, "creator"),
        ("/api/creators/%7Bx%7D/showcase", {"skus": ["x1"]}, 400, "creator"),
    ],
)
async def test_a_bad_showcase_names_the_field_and_changes_nothing(
    http: httpx.AsyncClient, redis: Redis, path: str, body: Any, status: int, field: str
) -> None:
    await http.put("/api/creators/maya/showcase", headers=KEY, json={"skus": ["nw-beanie"]})
    before = await store_snapshot(redis)
    response = await http.put(path, headers=KEY, content=orjson.dumps(body))
    refusal(response, status, "invalid" if status == 400 else "not_found", field)
    assert await store_snapshot(redis) == before


async def test_a_full_showcase_is_accepted(http: httpx.AsyncClient, redis: Redis) -> None:
    skus = [f"s{i:03d}" for i in range(MAX_SHOWCASE)]
    for sku in skus:
        await save_product(redis, Product(sku=sku, brand="b2", title=sku, price=1, currency="USD"))
    reversed_skus = list(reversed(skus))
    response = await http.put(
        "/api/creators/maya/showcase", headers=KEY, json={"skus": reversed_skus}
    )
    assert response.status_code == 200
    shown = (await http.get("/api/creators/maya/showcase")).json()
    assert [p["sku"] for p in shown["items"]] == reversed_skus


# --- share links ----------------------------------------------------------------------


async def test_anyone_gets_a_share_link_that_credits_the_creator(
    http: httpx.AsyncClient, server: LiveServer
) -> None:
    for headers in ({}, {"Authorization": f"Bearer {VIEWER_TOKEN}"}):
        response = await http.get(
            "/api/creators/maya/share-link", params={"show": "demo-show"}, headers=headers
        )
        assert response.status_code == 200
        base = server.runtime.settings.base_url
        assert response.json() == {
            "url": f"{base}/shows/demo-show?ref=maya",
            "ref": "maya",
            "show": "demo-show",
        }


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("/api/creators/maya/share-link", 400, "show"),
        ("/api/creators/maya/share-link?show=", 400, "show"),
        ("/api/creators/maya/share-link?show=a:b", 400, "show"),
        ("/api/creators/maya/share-link?show=%7Bs%7D", 400, "show"),
        ("/api/creators/maya/share-link?show=a*", 400, "show"),
        ("/api/creators/maya/share-link?show=demo-show&show=x", 400, "show"),
        ("/api/creators/maya/share-link?show=ghost", 404, "show"),
        ("/api/creators/nobody/share-link?show=demo-show", 404, "creator"),
        ("/api/creators/no:body/share-link?show=demo-show", 400, "creator"),
    ],
)
async def test_a_share_link_needs_a_real_creator_and_show(
    http: httpx.AsyncClient, path: str, status: int, field: str
) -> None:
    refusal(await http.get(path), status, "invalid" if status == 400 else "not_found", field)


# --- who may call ---------------------------------------------------------------------

MERCHANT_CALLS: list[tuple[str, str, Any]] = [
    ("POST", "/api/creators", {"id": "ana", "name": "Ana"}),
    ("GET", "/api/creators", None),
    ("PUT", "/api/creators/maya/showcase", {"skus": ["x1"]}),
]


@pytest.mark.parametrize(("method", "path", "body"), MERCHANT_CALLS)
async def test_creator_writes_and_the_listing_need_the_api_key_and_change_nothing_without_it(
    http: httpx.AsyncClient, redis: Redis, method: str, path: str, body: Any
) -> None:
    before = await store_snapshot(redis)
    for name, credentials in NOT_THE_KEY.items():
        response = await http.request(method, path, json=body, headers=credentials)
        assert response.status_code == 401, name
        refusal(response, 401, "api_key_invalid", None)
        assert await store_snapshot(redis) == before, name
