"""Buyers over real HTTP: signing up from a viewer page (strictly validated, limited per
client address, nothing created by a refusal), the profile behind GET / PUT /api/me,
and each order carrying the contact and ship-to of the buyer who placed it."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from redis.asyncio import Redis

from livecart.auth.tokens import verify_token
from livecart.config import Settings
from livecart.store import keys
from tests.api.test_catalog_api import refusal, store_snapshot
from tests.commerce.conftest import SHOW, seed_show
from tests.commerce.order_fixtures import FAST_WEBHOOKS, Receiver, serving, wait_for
from tests.helpers import STRONG_ADMIN_KEY, STRONG_SECRET, LiveServer, bearer

KEY = {"X-API-Key": STRONG_ADMIN_KEY}
MAYA = {
    "name": "Maya Lindqvist",
    "email": "maya@example.com",
    "address": {
        "line1": "Storgatan 1",
        "line2": "",
        "city": "Stockholm",
        "postal_code": "111 22",
        "region": "",
        "country": "SE",
    },
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides({"buyers": {"signups_per_ip": 3}, **FAST_WEBHOOKS})


@pytest.fixture
async def http(server: LiveServer, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


def with_changes(**changes: Any) -> dict[str, Any]:
    """MAYA with some fields replaced; ``address__city`` reaches into the address, and a
    value of ``...`` removes the field."""
    body = copy.deepcopy(MAYA)
    for name, value in changes.items():
        target, key = (body["address"], name[9:]) if name.startswith("address__") else (body, name)
        if value is ...:
            del target[key]
        else:
            target[key] = value
    return body


async def test_a_buyer_signs_up_and_reads_and_changes_their_profile_with_the_token(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    created = await http.post("/api/buyers", json=with_changes(name="  Maya Lindqvist "))
    assert created.status_code == 201, created.text
    body = created.json()
    buyer = body["buyer"]
    claims = verify_token(STRONG_SECRET, body["token"])
    assert claims.role == "viewer" and claims.show is None and claims.sub == buyer["id"]
    assert buyer["name"] == "Maya Lindqvist"  # trimmed
    assert buyer["email"] == MAYA["email"] and buyer["address"] == MAYA["address"]
    assert body["expires_at"] == claims.exp

    auth = {"Authorization": f"Bearer {body['token']}"}
    assert (await http.get("/api/me", headers=auth)).json() == buyer
    moved = with_changes(address__city="Göteborg", address__postal_code="411 01")
    changed = await http.put("/api/me", headers=auth, json=moved)
    assert changed.status_code == 200 and changed.json()["address"]["city"] == "Göteborg"
    again = (await http.get("/api/me", headers=auth)).json()
    assert again["address"] == moved["address"]
    assert again["created_at_ms"] == buyer["created_at_ms"]
    assert again["updated_at_ms"] >= buyer["updated_at_ms"]
    stored = orjson.loads(await redis.get(keys.buyer_profile(buyer["id"])))
    assert stored == again


async def test_any_users_token_may_keep_a_profile_made_with_put(
    http: httpx.AsyncClient,
) -> None:
    """An embedding site's user (a token from POST /api/tokens) has no profile until it
    sets one."""
    missing = await http.get("/api/me", headers=bearer("site-user-7"))
    refusal(missing, 404, "not_found", "profile")
    made = await http.put("/api/me", headers=bearer("site-user-7"), json=MAYA)
    assert made.status_code == 201 and made.json()["id"] == "site-user-7"
    assert (await http.get("/api/me", headers=bearer("site-user-7"))).json() == made.json()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (with_changes(name=""), "name"),
        (with_changes(name="   "), "name"),
        (with_changes(name=...), "name"),
        (with_changes(name=7), "name"),
        (with_changes(name="x" * 101), "name"),
        (with_changes(name="Maya\nLindqvist"), "name"),
        (with_changes(email="maya"), "email"),
        (with_changes(email="maya@example"), "email"),
        (with_changes(email="maya @example.com"), "email"),
        (with_changes(email="a@b@example.com"), "email"),
        (with_changes(email=...), "email"),
        (with_changes(address=...), "address"),
        (with_changes(address="Storgatan 1, Stockholm"), "address"),
        (with_changes(address__line1=""), "address.line1"),
        (with_changes(address__line1=...), "address.line1"),
        (with_changes(address__city=""), "address.city"),
        (with_changes(address__postal_code=""), "address.postal_code"),
        (with_changes(address__postal_code="111/22"), "address.postal_code"),
        (with_changes(address__country="Sweden"), "address.country"),
        (with_changes(address__country="XX"), "address.country"),
        (with_changes(address__country="se"), "address.country"),
        (with_changes(address__line2=5), "address.line2"),
        (with_changes(address__floor="3"), "address.floor"),
        (with_changes(phone="+46 8 123"), "phone"),
        ([MAYA], "body"),
        ("Maya", "body"),
    ],
)
async def test_a_bad_sign_up_names_the_field_and_creates_nothing(
    http: httpx.AsyncClient, redis: Redis, body: Any, field: str
) -> None:
    before = await store_snapshot(redis)
    refused = await http.post("/api/buyers", json=body)
    refusal(refused, 400, "invalid", field)
    assert await store_snapshot(redis) == before


async def test_a_sign_up_with_several_bad_fields_names_them_all(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    before = await store_snapshot(redis)
    refused = await http.post(
        "/api/buyers",
        json={"name": "", "email": "nope", "address": {"line1": "", "country": "SE"}},
    )
    assert refused.status_code == 400
    named = [e["field"] for e in refused.json()["errors"]]
    assert named == ["name", "email", "address.line1", "address.city", "address.postal_code"]
    assert refused.json()["field"] == "name"
    assert await store_snapshot(redis) == before


async def test_a_body_that_is_not_json_is_refused(http: httpx.AsyncClient, redis: Redis) -> None:
    before = await store_snapshot(redis)
    refused = await http.post("/api/buyers", content=b"{name: maya}")
    refusal(refused, 400, "invalid", "body")
    too_big = await http.post("/api/buyers", json=with_changes(name="x" * 9000))
    refusal(too_big, 413, "too_large", "body")
    assert await store_snapshot(redis) == before


async def test_sign_ups_are_limited_per_client_address(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    for _ in range(3):
        assert (await http.post("/api/buyers", json=MAYA)).status_code == 201
    before = await store_snapshot(redis)
    limited = await http.post("/api/buyers", json=MAYA)
    refusal(limited, 429, "rate_limited", None)
    assert 0 < limited.json()["retry_after_ms"] <= 3600 * 1000
    assert await store_snapshot(redis) == before  # a refusal creates and counts nothing
    # Another address (through a proxy uvicorn trusts, as the node's own loopback is)
    # has its own allowance.
    elsewhere = await http.post(
        "/api/buyers", json=MAYA, headers={"X-Forwarded-For": "203.0.113.9"}
    )
    assert elsewhere.status_code == 201
    assert len(await redis.keys("lc:buyer:*:profile")) == 4


async def test_me_needs_a_users_token(http: httpx.AsyncClient, redis: Redis) -> None:
    refusal(await http.get("/api/me"), 401, "token_missing", None)
    refusal(await http.get("/api/me", headers=KEY), 401, "token_missing", None)
    refusal(
        await http.get("/api/me", headers={"Authorization": "Bearer nope"}),
        401,
        "token_invalid",
        None,
    )
    before = await store_snapshot(redis)
    refusal(await http.put("/api/me", json=MAYA), 401, "token_missing", None)
    bad = await http.put("/api/me", headers=bearer("ana"), json=with_changes(email="ana"))
    refusal(bad, 400, "invalid", "email")
    assert await store_snapshot(redis) == before


async def test_a_bad_profile_change_changes_nothing(http: httpx.AsyncClient, redis: Redis) -> None:
    created = (await http.post("/api/buyers", json=MAYA)).json()
    auth = {"Authorization": f"Bearer {created['token']}"}
    before = await store_snapshot(redis)
    refused = await http.put("/api/me", headers=auth, json=with_changes(address__country="ZZ"))
    refusal(refused, 400, "invalid", "address.country")
    assert await store_snapshot(redis) == before
    assert (await http.get("/api/me", headers=auth)).json() == created["buyer"]


async def test_each_order_carries_the_buyers_contact_and_ship_to(
    server: LiveServer, http: httpx.AsyncClient, redis: Redis
) -> None:
    await seed_show(server.runtime)
    async with serving(Receiver()) as receiver:
        hook = await http.put("/api/brands/b1/webhook", headers=KEY, json={"url": receiver.url})
        secret = hook.json()["secret"]
        created = (await http.post("/api/buyers", json=MAYA)).json()
        auth = {"Authorization": f"Bearer {created['token']}"}
        bought = await http.post(
            f"/api/shows/{SHOW}/buy",
            headers=auth,
            json={"sku": "p-plain", "idempotency_key": "tap-1"},
        )
        assert bought.status_code == 201, bought.text
        order = bought.json()["order"]
        assert order["contact"] == {"name": "Maya Lindqvist", "email": "maya@example.com"}
        assert order["ship_to"] == {"name": "Maya Lindqvist", **MAYA["address"]}

        # A later change of address does not move an order already placed.
        await http.put("/api/me", headers=auth, json=with_changes(address__city="Malmö"))
        await wait_for(lambda: _delivered(receiver), what="the order's webhook")
        delivered = receiver.verified(secret)[0]["data"]
        assert delivered["contact"] == order["contact"]
        assert delivered["ship_to"]["city"] == "Stockholm"
        listed = (await http.get(f"/api/orders?show={SHOW}", headers=KEY)).json()["items"]
        assert listed[0]["ship_to"] == order["ship_to"]

        # The show's ticker learns the first name only.
        events = await redis.xrange(keys.show_events(SHOW))
        sold = [orjson.loads(f["data"]) for _, f in events if f["type"] == "sold"]
        assert sold == [
            {
                "sku": "p-plain",
                "quantity": 1,
                "sold": 1,
                "order": order["id"],
                "unit_price": 1000,
                "currency": "EUR",
                "buyer_name": "Maya",
            }
        ]

        # A buyer with no profile (an embedding site's user) gets orders without them.
        other = await http.post(
            f"/api/shows/{SHOW}/buy",
            headers=bearer("site-user-7"),
            json={"sku": "p-plain", "idempotency_key": "tap-2"},
        )
        assert other.json()["order"]["contact"] is None
        assert other.json()["order"]["ship_to"] is None


async def _delivered(receiver: Receiver) -> bool:
    return len(receiver.requests) >= 1
