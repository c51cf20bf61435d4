"""A brand's inventory over HTTP (issue 11): units on hand per sku, a stock count that
sets them, moves to and from a show keyed by an id the server makes or the merchant
gives, and every refusal named and changing nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from livecart.commerce.catalog.products import Brand, Product, save_brand, save_product
from tests.api.test_catalog_api import KEY, refusal, store_snapshot
from tests.commerce.conftest import seed_show
from tests.helpers import LiveServer

SHOW = "s1"


@pytest.fixture
async def http(server: LiveServer, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    """Show s1 live (brand b1: p-plain 50 units, p-scarce 3, ...), brand b2 with p-other."""
    await seed_show(server.runtime, SHOW)
    await save_brand(redis, Brand(id="b2", name="Brand Two"))
    await save_product(
        redis, Product(sku="p-other", brand="b2", title="Other", price=100, currency="EUR")
    )
    async with httpx.AsyncClient(base_url=server.url, headers=KEY, timeout=10) as client:
        yield client


async def put_on_hand(http: httpx.AsyncClient, sku: str, units: int) -> httpx.Response:
    return await http.put(f"/api/brands/b1/inventory/{sku}", json={"units": units})


async def show_stock(http: httpx.AsyncClient, sku: str) -> dict[str, Any]:
    response = await http.get(f"/api/shows/{SHOW}/stock")
    row: dict[str, Any] = next(r for r in response.json()["stock"] if r["sku"] == sku)
    return row


async def inventory(http: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    response = await http.get("/api/brands/b1/inventory")
    assert response.status_code == 200, response.text
    return {row["sku"]: row for row in response.json()["inventory"]}


async def test_a_merchant_counts_stock_and_moves_units_to_a_show_and_back(
    http: httpx.AsyncClient,
) -> None:
    counted = await put_on_hand(http, "p-plain", 100)
    assert counted.status_code == 200
    assert counted.json() == {"brand": "b1", "sku": "p-plain", "on_hand": 100, "before": 0}
    assert (await inventory(http))["p-plain"] == {
        "sku": "p-plain",
        "on_hand": 100,
        "in_shows": 50,  # given to s1 before the sku was tracked
        "moving_to_shows": 0,
    }

    sent = await http.post(f"/api/shows/{SHOW}/allocations", json={"sku": "p-plain", "units": 30})
    assert sent.status_code == 201, sent.text
    move = sent.json()
    assert move["id"].startswith("mv-")  # made by the server, and answered
    assert (move["kind"], move["state"], move["units"], move["moved"]) == (
        "to_show",
        "applied",
        30,
        30,
    )
    assert await show_stock(http, "p-plain") == {
        "sku": "p-plain",
        "allocated": 80,
        "stock": 80,
        "held": 0,
        "sold": 0,
    }
    assert (await inventory(http))["p-plain"]["on_hand"] == 70

    back = await http.post(
        f"/api/shows/{SHOW}/allocations/return", json={"sku": "p-plain", "units": 5, "id": "r-5"}
    )
    assert back.status_code == 201, back.text
    assert (back.json()["id"], back.json()["state"], back.json()["moved"]) == ("r-5", "returned", 5)
    everything = await http.post(f"/api/shows/{SHOW}/allocations/return", json={"sku": "p-plain"})
    assert everything.status_code == 201
    assert everything.json()["units"] is None and everything.json()["moved"] == 75
    assert (await inventory(http))["p-plain"] == {
        "sku": "p-plain",
        "on_hand": 150,
        "in_shows": 0,
        "moving_to_shows": 0,
    }
    assert (await show_stock(http, "p-plain"))["allocated"] == 0


async def test_a_move_retried_with_its_id_is_answered_and_applied_once(
    http: httpx.AsyncClient,
) -> None:
    await put_on_hand(http, "p-plain", 100)
    body = {"sku": "p-plain", "units": 10, "id": "m-retry"}
    first = await http.post(f"/api/shows/{SHOW}/allocations", json=body)
    again = await http.post(f"/api/shows/{SHOW}/allocations", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert (await inventory(http))["p-plain"]["on_hand"] == 90
    assert (await show_stock(http, "p-plain"))["allocated"] == 60

    other = await http.post(f"/api/shows/{SHOW}/allocations", json={**body, "units": 11})
    refusal(other, 409, "conflict", "id")


async def test_a_move_the_brand_cannot_make_is_refused_by_name_and_changes_nothing(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    await put_on_hand(http, "p-plain", 10)
    before = await store_snapshot(redis)
    allocations = f"/api/shows/{SHOW}/allocations"
    cases: list[tuple[str, dict[str, Any], int, str, str | None]] = [
        (allocations, {"sku": "p-plain", "units": 11}, 409, "insufficient_inventory", "sku"),
        (allocations, {"sku": "p-nothing", "units": 1}, 404, "not_found", "sku"),
        (allocations, {"sku": "p-other", "units": 1}, 400, "invalid", "sku"),
        (allocations, {"sku": "p-scarce", "units": 1}, 409, "not_tracked", "sku"),
        (f"{allocations}/return", {"sku": "p-scarce"}, 409, "not_tracked", "sku"),
        (f"{allocations}/return", {"sku": "p-other"}, 400, "invalid", "sku"),
        ("/api/shows/nope/allocations", {"sku": "p-plain", "units": 1}, 404, "not_found", "show"),
    ]
    for path, body, status, code, field in cases:
        message = refusal(await http.post(path, json=body), status, code, field)
        if code == "insufficient_inventory":
            assert "10 units" in message
    assert await store_snapshot(redis) == before


async def test_an_ended_show_gives_its_unsold_units_back_and_takes_no_more(
    http: httpx.AsyncClient,
) -> None:
    """Ending is the show's script alone; the node's inventory sweep brings the stock of
    tracked skus back a moment later (p-scarce: 3 units, given before it was tracked)."""
    await put_on_hand(http, "p-scarce", 10)
    assert (await http.post(f"/api/shows/{SHOW}/end")).status_code == 200
    async with asyncio.timeout(15):
        while (await inventory(http))["p-scarce"]["on_hand"] != 13:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    assert (await show_stock(http, "p-scarce"))["allocated"] == 0
    assert (await show_stock(http, "p-plain"))["allocated"] == 50  # untracked: stays
    refused = await http.post(
        f"/api/shows/{SHOW}/allocations", json={"sku": "p-scarce", "units": 1}
    )
    refusal(refused, 409, "show_ended", None)
    assert (await inventory(http))["p-scarce"]["on_hand"] == 13


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/api/shows/s1/allocations", {"sku": "p-plain", "units": 0}, "units"),
        ("POST", "/api/shows/s1/allocations", {"sku": "p-plain", "units": "5"}, "units"),
        ("POST", "/api/shows/s1/allocations", {"sku": "p-plain"}, "units"),
        ("POST", "/api/shows/s1/allocations", {"sku": "p-plain", "unit": 5}, "unit"),
        ("POST", "/api/shows/s1/allocations", {"sku": "p-plain", "units": 1, "id": "a b"}, "id"),
        ("POST", "/api/shows/s1/allocations", {"sku": "p*", "units": 1}, "sku"),
        ("POST", "/api/shows/s1/allocations/return", {"sku": "p-plain", "units": -1}, "units"),
        ("POST", "/api/shows/s1/allocations/return", {"units": 1}, "sku"),
        ("PUT", "/api/brands/b1/inventory/p-plain", {"units": -1}, "units"),
        ("PUT", "/api/brands/b1/inventory/p-plain", {"units": 1.5}, "units"),
        ("PUT", "/api/brands/b1/inventory/p-plain", {"units": 1, "sku": "p-plain"}, "sku"),
        ("PUT", "/api/brands/b1/inventory/p-plain", [1], "body"),
    ],
)
async def test_bad_input_is_refused_by_field_and_changes_nothing(
    http: httpx.AsyncClient, redis: Redis, method: str, path: str, body: Any, field: str
) -> None:
    await put_on_hand(http, "p-plain", 10)
    before = await store_snapshot(redis)
    response = await http.request(method, path, json=body)
    refusal(response, 400, "invalid", field)
    assert await store_snapshot(redis) == before


async def test_a_stock_count_names_a_sellable_sku_of_the_brand(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    before = await store_snapshot(redis)
    refusal(await put_on_hand(http, "p-other", 1), 400, "invalid", "sku")
    refusal(await put_on_hand(http, "p-nothing", 1), 404, "not_found", "sku")
    refused = await http.put("/api/brands/nope/inventory/p-plain", json={"units": 1})
    refusal(refused, 404, "not_found", "brand")
    refusal(
        await http.get("/api/brands/b1/inventory", params={"limit": 1}), 400, "invalid", "limit"
    )
    assert await store_snapshot(redis) == before


async def test_inventory_needs_the_api_key(http: httpx.AsyncClient) -> None:
    no_key = {"X-API-Key": ""}
    for response in (
        await http.get("/api/brands/b1/inventory", headers=no_key),
        await http.put("/api/brands/b1/inventory/p-plain", json={"units": 1}, headers=no_key),
        await http.post(
            f"/api/shows/{SHOW}/allocations", json={"sku": "p-plain", "units": 1}, headers=no_key
        ),
    ):
        assert response.status_code == 401
        assert response.json()["error"] == "api_key_invalid"


# --- tracked skus in lineups, restocks and endings ------------------------------------


async def test_a_tracked_sku_joins_a_lineup_with_units_from_inventory(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    await save_product(
        redis, Product(sku="p-new", brand="b1", title="New", price=900, currency="EUR")
    )
    await put_on_hand(http, "p-new", 20)
    before = await store_snapshot(redis)
    too_many = await http.post(f"/api/shows/{SHOW}/lineup", json={"sku": "p-new", "quantity": 21})
    refusal(too_many, 409, "insufficient_inventory", "sku")
    assert await store_snapshot(redis) == before

    added = await http.post(f"/api/shows/{SHOW}/lineup", json={"sku": "p-new", "quantity": 5})
    assert added.status_code == 201, added.text
    card = next(c for c in added.json()["lineup"] if c["sku"] == "p-new")
    assert (card["stock"], card["allocated"]) == (5, 5)
    assert (await inventory(http))["p-new"]["on_hand"] == 15
    # The same request again (a retry after a lost reply) is answered, moves nothing.
    again = await http.post(f"/api/shows/{SHOW}/lineup", json={"sku": "p-new", "quantity": 5})
    assert again.status_code == 200, again.text
    assert (await inventory(http))["p-new"]["on_hand"] == 15
    assert (await show_stock(http, "p-new"))["allocated"] == 5


async def test_a_restock_of_a_tracked_sku_moves_units_from_and_to_inventory(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    await put_on_hand(http, "p-plain", 30)
    restock = await http.post(f"/api/shows/{SHOW}/stock/p-plain", json={"delta": 10})
    assert restock.status_code == 200, restock.text
    body = restock.json()
    assert (body["sku"], body["stock"], body["allocated"]) == ("p-plain", 60, 60)
    assert (body["move"]["kind"], body["move"]["moved"]) == ("to_show", 10)
    withdraw = await http.post(f"/api/shows/{SHOW}/stock/p-plain", json={"delta": -15})
    assert withdraw.status_code == 200, withdraw.text
    assert (withdraw.json()["stock"], withdraw.json()["move"]["moved"]) == (45, 15)
    assert (await inventory(http))["p-plain"]["on_hand"] == 35

    before = await store_snapshot(redis)
    refusal(
        await http.post(f"/api/shows/{SHOW}/stock/p-plain", json={"delta": 36}),
        409,
        "insufficient_inventory",
        "sku",
    )
    refusal(
        await http.post(f"/api/shows/{SHOW}/stock/p-plain", json={"delta": -46}),
        409,
        "not_enough_stock",
        None,
    )
    assert await store_snapshot(redis) == before


async def test_a_show_created_with_a_tracked_sku_takes_its_units_from_inventory(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    await put_on_hand(http, "p-plain", 30)
    new = {
        "id": "s-new",
        "title": "New",
        "creator": "c1",
        "brand": "b1",
        "lineup": [{"sku": "p-scarce", "quantity": 2}, {"sku": "p-plain", "quantity": 12}],
    }
    before = await store_snapshot(redis)
    too_many = {
        **new,
        "lineup": [{"sku": "p-scarce", "quantity": 2}, {"sku": "p-plain", "quantity": 31}],
    }
    refusal(
        await http.post("/api/shows", json=too_many), 409, "insufficient_inventory", "lineup[1].sku"
    )
    assert await store_snapshot(redis) == before

    created = await http.post("/api/shows", json=new)
    assert created.status_code == 201, created.text
    cards = {c["sku"]: c for c in created.json()["lineup"]}
    assert (cards["p-plain"]["stock"], cards["p-plain"]["allocated"]) == (12, 12)
    assert cards["p-scarce"]["allocated"] == 2  # untracked: made for the show, as before
    assert (await inventory(http))["p-plain"]["on_hand"] == 18
    again = await http.post("/api/shows", json=new)
    assert again.status_code == 200
    assert (await inventory(http))["p-plain"]["on_hand"] == 18


async def test_ending_a_show_returns_its_unsold_tracked_units_at_once(
    http: httpx.AsyncClient,
) -> None:
    await put_on_hand(http, "p-plain", 30)
    await http.post(f"/api/shows/{SHOW}/allocations", json={"sku": "p-plain", "units": 10})
    ended = await http.post(f"/api/shows/{SHOW}/end")
    assert ended.status_code == 200 and ended.json() == {"state": "ended", "changed": True}
    assert (await inventory(http))["p-plain"]["on_hand"] == 80  # 20 + the show's 60
    assert (await show_stock(http, "p-plain"))["allocated"] == 0
    assert (await show_stock(http, "p-scarce"))["allocated"] == 3  # untracked: stays
