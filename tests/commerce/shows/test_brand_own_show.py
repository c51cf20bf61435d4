"""A brand's own show (no creator), end to end over real HTTP: created with the creator
left out or null, run by its staff's per-show tokens, selling, its orders confirmed,
exported and sent to the brand signed, with no commission credited to anyone unless a
creator's share link brought the buyer."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from livecart.commerce.accounts.creators import Creator, save_creator
from livecart.commerce.catalog.products import Brand, Product, save_brand, save_product
from livecart.config import Settings
from livecart.store import keys
from tests.api.test_catalog_api import KEY, refusal, store_snapshot
from tests.commerce.order_fixtures import FAST_WEBHOOKS, Receiver, serving, wait_for
from tests.helpers import LiveServer, bearer

SHOW = "own"
NEW_SHOW: dict[str, Any] = {
    "id": SHOW,
    "title": "Northwind live",
    "brand": "b1",
    "lineup": [{"sku": "p-plain", "quantity": 10}],
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides(FAST_WEBHOOKS)


@pytest.fixture
async def http(server: LiveServer, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    """Brand b1 with one product at 10% commission, and creator c1 (who streams nothing)."""
    await save_brand(redis, Brand(id="b1", name="Northwind"))
    await save_creator(redis, Creator(id="c1", name="Maya"))
    await save_product(
        redis,
        Product(
            sku="p-plain",
            brand="b1",
            title="Beanie",
            price=1000,
            currency="EUR",
            commission_bps=1000,
            per_user_limit=0,
        ),
    )
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


async def order_copy(http: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    """The merchant's view of the order, once the projection has made it."""

    async def projected() -> bool:
        return (await http.get(f"/api/orders/{order_id}", headers=KEY)).status_code == 200

    await wait_for(projected, what=f"order {order_id} projected")
    body: dict[str, Any] = (await http.get(f"/api/orders/{order_id}", headers=KEY)).json()
    return body


@pytest.mark.parametrize("creator", ["absent", None], ids=["left-out", "null"])
async def test_a_brands_own_show_runs_sells_and_credits_nobody(
    http: httpx.AsyncClient, redis: Redis, creator: str | None
) -> None:
    body = dict(NEW_SHOW) if creator == "absent" else {**NEW_SHOW, "creator": creator}
    async with serving(Receiver()) as receiver:
        hook = await http.put("/api/brands/b1/webhook", json={"url": receiver.url}, headers=KEY)
        secret = hook.json()["secret"]
        created = await http.post("/api/shows", json=body, headers=KEY)
        assert created.status_code == 201, created.text
        assert created.json()["creator"] is None and created.json()["brand"] == "b1"

        # Staff tokens are per show, not per creator: the brand's host and moderator act.
        host, moderator = bearer("host", "streamer", SHOW), bearer("mo", "moderator", SHOW)
        started = await http.post(f"/api/shows/{SHOW}/start", headers=host)
        assert started.status_code == 200, started.text
        pinned = await http.put(f"/api/shows/{SHOW}/pin", json={"sku": "p-plain"}, headers=host)
        assert pinned.status_code == 200, pinned.text
        paused = await http.post(
            f"/api/shows/{SHOW}/sales", json={"state": "paused"}, headers=moderator
        )
        assert paused.status_code == 200, paused.text
        reopened = await http.post(
            f"/api/shows/{SHOW}/sales", json={"state": "open"}, headers=moderator
        )
        assert reopened.status_code == 200, reopened.text

        tap = {"sku": "p-plain", "quantity": 2, "idempotency_key": "tap-1"}
        bought = await http.post(f"/api/shows/{SHOW}/buy", json=tap, headers=bearer("ana"))
        assert bought.status_code == 201 and bought.json()["result"] == "confirmed", bought.text
        order = bought.json()["order"]
        assert order["attribution"] is None and order["total"] == 2000

        copy = await order_copy(http, order["id"])
        assert copy["status"] == "confirmed" and copy["attribution"] is None

        async def hooked() -> bool:
            return len(receiver.requests) >= 1

        await wait_for(hooked, what="the order's webhook")
        (payload,) = receiver.verified(secret)
    assert payload["type"] == "order.confirmed"
    assert payload["data"]["id"] == order["id"] and payload["data"]["attribution"] is None

    assert await redis.keys("lc:{c:*") == []  # no ledger, no earnings: nobody is credited
    earnings = await http.get("/api/creators/c1/earnings", headers=KEY)
    assert earnings.status_code == 200 and earnings.json()["items"] == []

    export = await http.get("/api/orders.csv", params={"show": SHOW}, headers=KEY)
    assert export.status_code == 200, export.text
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [(r["order"], r["show"], r["sku"], r["quantity"]) for r in rows] == [
        (order["id"], SHOW, "p-plain", "2")
    ]

    listed = (await http.get("/api/shows", params={"brand": "b1", "state": "live"})).json()
    assert [(s["id"], s["creator"], s["creator_name"]) for s in listed["items"]] == [
        (SHOW, None, None)
    ]
    snapshot = (await http.get(f"/api/shows/{SHOW}")).json()
    assert snapshot["creator"] is None and snapshot["pinned"] == "p-plain"


async def test_a_share_link_still_credits_the_creator_who_brought_the_buyer(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    """No creator streams a brand's own show, but any creator may share any show: a buyer
    their link brought is theirs, as in every show (docs/api-shows.md)."""
    assert (await http.post("/api/shows", json=NEW_SHOW, headers=KEY)).status_code == 201
    assert (await http.post(f"/api/shows/{SHOW}/start", headers=KEY)).status_code == 200
    tap = {"sku": "p-plain", "quantity": 1, "idempotency_key": "tap-1", "ref": "c1"}
    bought = await http.post(f"/api/shows/{SHOW}/buy", json=tap, headers=bearer("ana"))
    assert bought.status_code == 201, bought.text
    order = bought.json()["order"]
    assert order["attribution"] == {"creator": "c1", "source": "link"}

    async def credited() -> bool:
        return bool(await redis.hexists(keys.creator_ledger("c1"), order["id"]))

    await wait_for(credited, what="the link's creator credited")
    assert await redis.hgetall(keys.creator_earnings("c1")) == {"EUR": "100"}


@pytest.mark.parametrize(
    ("creator", "status", "field"),
    [
        ("", 400, "creator"),
        ("c{1}", 400, "creator"),
        (7, 400, "creator"),
        ("zz-nobody", 404, "creator"),
    ],
)
async def test_a_creator_that_is_not_one_is_refused_and_nothing_is_made(
    http: httpx.AsyncClient, redis: Redis, creator: object, status: int, field: str
) -> None:
    before = await store_snapshot(redis)
    made = await http.post("/api/shows", json={**NEW_SHOW, "creator": creator}, headers=KEY)
    refusal(made, status, "invalid" if status == 400 else "not_found", field)
    assert await store_snapshot(redis) == before
