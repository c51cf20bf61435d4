"""Webhook endpoints and dead letters over HTTP: a brand's endpoint and secret, one
delivery's state, listing and redelivering dead letters, and clear errors that change
nothing."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from redis.asyncio import Redis

from livecart.commerce.catalog.products import Brand, save_brand
from livecart.config import Settings
from livecart.store import keys
from tests.api.test_orders_api import KEY, bearer
from tests.commerce.order_fixtures import (
    FAST_WEBHOOKS,
    Receiver,
    make_order,
    record_confirmed_order,
    seed_parties,
    serving,
    start_show_outbox,
    wait_for,
)
from tests.helpers import LiveServer

HOOK = "/api/brands/b1/webhook"
DELIVERIES = "/api/brands/b1/webhook/deliveries"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides(FAST_WEBHOOKS)


@pytest.fixture
async def http(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


async def test_a_brand_gets_a_secret_on_its_first_put_and_keeps_it_until_rotated(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    await seed_parties(redis)
    created = await http.put(HOOK, json={"url": "https://shop.example/hooks"}, headers=KEY)
    assert created.status_code == 201, created.text
    first = created.json()
    assert first["brand"] == "b1" and first["url"] == "https://shop.example/hooks"
    assert first["secret"].startswith("whsec_")
    assert len(base64.b64decode(first["secret"][6:])) == 24

    moved = await http.put(HOOK, json={"url": "https://shop.example/v2"}, headers=KEY)
    assert moved.status_code == 200
    assert moved.json()["secret"] == first["secret"] and moved.json()["url"].endswith("/v2")

    rotated = await http.put(
        HOOK, json={"url": "https://shop.example/v2", "rotate_secret": True}, headers=KEY
    )
    assert rotated.status_code == 200 and rotated.json()["secret"] != first["secret"]

    shown = (await http.get(HOOK, headers=KEY)).json()
    assert shown["url"] == "https://shop.example/v2"
    assert shown["secret"] == rotated.json()["secret"]

    assert (await http.delete(HOOK, headers=KEY)).status_code == 204
    gone = await http.get(HOOK, headers=KEY)
    assert gone.status_code == 404 and gone.json()["field"] == "webhook"
    again = await http.delete(HOOK, headers=KEY)
    assert again.status_code == 404 and again.json()["field"] == "webhook"
    assert await redis.get(keys.brand_webhook("b1")) is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "url"),
        ({"url": None}, "url"),
        ({"url": ""}, "url"),
        ({"url": 42}, "url"),
        ({"url": ["https://a.example"]}, "url"),
        ({"url": "ftp://files.example/hook"}, "url"),
        ({"url": "shop.example/hook"}, "url"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "https://shop example/hook"}, "url"),
        ({"url": "https://shop.example/a hook"}, "url"),
        ({"url": "https://"}, "url"),
        ({"url": "https://shop.example/" + "x" * 3000}, "url"),
        ({"url": "https://shop.example/\x00"}, "url"),
        ({"url": "https://shop.example/h", "rotate_secret": "yes"}, "rotate_secret"),
        ({"url": "https://shop.example/h", "rotate_secret": 1}, "rotate_secret"),
        ([], "body"),
        ("https://shop.example/h", "body"),
    ],
)
async def test_bad_endpoint_bodies_are_refused_naming_the_field_and_change_nothing(
    http: httpx.AsyncClient, redis: Redis, body: Any, field: str
) -> None:
    await seed_parties(redis)
    first = await http.put(HOOK, json={"url": "https://shop.example/ok"}, headers=KEY)
    stored = await redis.get(keys.brand_webhook("b1"))
    response = await http.put(HOOK, json=body, headers=KEY)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid" and response.json()["field"] == field
    assert await redis.get(keys.brand_webhook("b1")) == stored
    assert (await http.get(HOOK, headers=KEY)).json()["secret"] == first.json()["secret"]


async def test_a_body_that_is_not_json_is_refused(http: httpx.AsyncClient, redis: Redis) -> None:
    await seed_parties(redis)
    response = await http.put(HOOK, content=b"{url: nope", headers=KEY)
    assert response.status_code == 400 and response.json()["field"] == "body"
    assert await redis.get(keys.brand_webhook("b1")) is None


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "error", "field"),
    [
        ("PUT", HOOK, {}, 401, "api_key_invalid", None),
        ("PUT", HOOK, {"X-API-Key": "wrong-key-wrong-key"}, 401, "api_key_invalid", None),
        ("PUT", HOOK, bearer("ana"), 401, "api_key_invalid", None),
        ("PUT", HOOK, bearer("root", "admin"), 401, "api_key_invalid", None),
        ("GET", HOOK, {}, 401, "api_key_invalid", None),
        ("GET", HOOK, bearer("b1"), 401, "api_key_invalid", None),
        ("DELETE", HOOK, {}, 401, "api_key_invalid", None),
        ("DELETE", HOOK, bearer("ana"), 401, "api_key_invalid", None),
        ("PUT", "/api/brands/nobody/webhook", KEY, 404, "not_found", "brand"),
        ("GET", "/api/brands/nobody/webhook", KEY, 404, "not_found", "brand"),
        ("DELETE", "/api/brands/nobody/webhook", KEY, 404, "not_found", "brand"),
        ("PUT", "/api/brands/b%7B1%7D/webhook", KEY, 400, "invalid", "brand"),
        ("PUT", "/api/brands/b:1/webhook", KEY, 400, "invalid", "brand"),
        ("GET", "/api/brands/b*/webhook", KEY, 400, "invalid", "brand"),
        ("GET", "/api/webhooks/dead", {}, 401, "api_key_invalid", None),
        ("GET", "/api/webhooks/dead", bearer("ana"), 401, "api_key_invalid", None),
        ("GET", "/api/webhooks/dead?limit=0", KEY, 400, "invalid", "limit"),
        ("GET", "/api/webhooks/dead?limit=x", KEY, 400, "invalid", "limit"),
        ("GET", "/api/webhooks/dead?after=a%7Bb", KEY, 400, "invalid", "after"),
        ("GET", "/api/webhooks/dead?after=msg_unknown", KEY, 400, "invalid", "after"),
        ("POST", "/api/webhooks/dead/msg_o_1/redeliver", {}, 401, "api_key_invalid", None),
        (
            "POST",
            "/api/webhooks/dead/msg_o_1/redeliver",
            bearer("ana"),
            401,
            "api_key_invalid",
            None,
        ),
        ("POST", "/api/webhooks/dead/msg_unknown/redeliver", KEY, 404, "not_found", "webhook"),
        ("POST", "/api/webhooks/dead/msg%7B1/redeliver", KEY, 400, "invalid", "webhook"),
        ("POST", "/api/webhooks/dead/m:1/redeliver", KEY, 400, "invalid", "webhook"),
        ("GET", DELIVERIES, {}, 401, "api_key_invalid", None),
        ("GET", DELIVERIES, bearer("ana"), 401, "api_key_invalid", None),
        ("GET", "/api/brands/nobody/webhook/deliveries", KEY, 404, "not_found", "brand"),
        ("GET", "/api/brands/b:1/webhook/deliveries", KEY, 400, "invalid", "brand"),
        ("GET", f"{DELIVERIES}?limit=0", KEY, 400, "invalid", "limit"),
        ("GET", f"{DELIVERIES}?limit=201", KEY, 400, "invalid", "limit"),
        ("GET", f"{DELIVERIES}?limit=", KEY, 400, "invalid", "limit"),
        ("GET", f"{DELIVERIES}?limit=1&limit=2", KEY, 400, "invalid", "limit"),
        ("GET", f"{DELIVERIES}?after=a%7Bb", KEY, 400, "invalid", "after"),
        ("GET", f"{DELIVERIES}?after=msg_unknown", KEY, 400, "invalid", "after"),
        ("GET", "/api/webhooks/msg_o_1", {}, 401, "api_key_invalid", None),
        ("GET", "/api/webhooks/msg_unknown", KEY, 404, "not_found", "webhook"),
        ("GET", "/api/webhooks/msg*", KEY, 400, "invalid", "webhook"),
        ("GET", "/api/webhooks/msg%7D", KEY, 400, "invalid", "webhook"),
    ],
)
async def test_bad_or_unauthorised_requests_get_a_clear_error_and_change_nothing(
    http: httpx.AsyncClient,
    redis: Redis,
    method: str,
    path: str,
    headers: dict[str, str],
    status: int,
    error: str,
    field: str | None,
) -> None:
    await seed_parties(redis)
    await redis.set(
        keys.brand_webhook("b1"), orjson.dumps({"url": "https://a.example", "secret": "whsec_AAAA"})
    )
    before = {k: await redis.dump(k) for k in await redis.keys("*")}
    body = {"url": "https://shop.example/new"} if method == "PUT" else None
    response = await http.request(method, path, json=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["error"] == error and response.json().get("field") == field
    assert {k: await redis.dump(k) for k in await redis.keys("*")} == before


async def test_a_dead_letter_is_listed_shown_and_redelivered_over_http(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    await seed_parties(redis)
    async with serving(Receiver(failing=True)) as receiver:
        secret = (await http.put(HOOK, json={"url": receiver.url}, headers=KEY)).json()["secret"]
        await start_show_outbox(redis, "s1")
        order = make_order()
        await record_confirmed_order(redis, order)
        delivery_id = f"msg_{order['id']}"

        async def dead_listed() -> bool:
            listed = (await http.get("/api/webhooks/dead", headers=KEY)).json()["items"]
            return [d["id"] for d in listed] == [delivery_id]

        await wait_for(dead_listed, what="the dead letter listed")
        letter = (await http.get("/api/webhooks/dead", headers=KEY)).json()["items"][0]
        assert letter["brand"] == "b1" and letter["order"] == order["id"]
        assert letter["attempts"] == 3 and letter["last_error"] == "HTTP 500"
        assert isinstance(letter["dead_at_ms"], int)

        state = (await http.get(f"/api/webhooks/{delivery_id}", headers=KEY)).json()
        assert state["status"] == "dead" and state["attempts"] == 3
        assert state["payload"] == {
            "type": "order.confirmed",
            "timestamp": state["payload"]["timestamp"],
            "data": order,
        }

        receiver.failing = False
        redelivered = await http.post(f"/api/webhooks/dead/{delivery_id}/redeliver", headers=KEY)
        assert redelivered.status_code == 202, redelivered.text
        assert redelivered.json()["status"] == "pending" and redelivered.json()["attempts"] == 0

        async def delivered() -> bool:
            shown = (await http.get(f"/api/webhooks/{delivery_id}", headers=KEY)).json()
            return bool(shown["status"] == "delivered")

        await wait_for(delivered, what="delivered after redelivery")

    assert len(receiver.verified(secret)) == 4 and set(receiver.ids()) == {delivery_id}
    assert (await http.get("/api/webhooks/dead", headers=KEY)).json() == {
        "items": [],
        "next": None,
    }
    again = await http.post(f"/api/webhooks/dead/{delivery_id}/redeliver", headers=KEY)
    assert again.status_code == 409 and again.json()["field"] == "webhook"


async def test_dead_letters_are_paged_newest_first_and_malformed_ones_cannot_be_redelivered(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    await seed_parties(redis)
    await start_show_outbox(redis, "s1")
    for i in range(5):
        await redis.xadd(keys.show_outbox("s1"), {"type": "order.confirmed", "order": f"bad {i}"})

    async def five_dead() -> bool:
        return int(await redis.zcard(keys.webhooks_dead())) == 5

    await wait_for(five_dead, what="5 dead letters")
    ids: list[str] = []
    after = None
    while True:
        params = {"limit": 2, **({"after": after} if after else {})}
        page = (await http.get("/api/webhooks/dead", params=params, headers=KEY)).json()
        ids += [letter["id"] for letter in page["items"]]
        after = page["next"]
        if after is None:
            break
    scored = await redis.zrange(keys.webhooks_dead(), 0, -1, withscores=True)
    assert ids == [m for m, _ in sorted(scored, key=lambda p: (p[1], p[0]), reverse=True)]
    assert len(set(ids)) == 5

    refused = await http.post(f"/api/webhooks/dead/{ids[0]}/redeliver", headers=KEY)
    assert refused.status_code == 409 and "malformed" in refused.json()["message"]
    shown = (await http.get(f"/api/webhooks/{ids[0]}", headers=KEY)).json()
    assert shown["status"] == "dead" and shown["payload"] is None
    assert shown["entry"]["order"].startswith("bad ")


async def test_a_brands_deliveries_are_listed_newest_first_with_their_state(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    await seed_parties(redis)
    await save_brand(redis, Brand(id="b2", name="Brand Two"))
    async with serving(Receiver(fail_first=1)) as receiver, serving(Receiver()) as other:
        for brand, url in (("b1", receiver.url), ("b2", other.url)):
            put = await http.put(f"/api/brands/{brand}/webhook", json={"url": url}, headers=KEY)
            assert put.status_code == 201
        await start_show_outbox(redis, "s1")
        orders = [make_order() for _ in range(3)]
        for order in orders:
            await record_confirmed_order(redis, order)
        await record_confirmed_order(redis, make_order(brand="b2"))

        async def all_delivered() -> bool:
            items = (await http.get(DELIVERIES, headers=KEY)).json()["items"]
            theirs = await http.get("/api/brands/b2/webhook/deliveries", headers=KEY)
            return (
                len(items) == 3
                and all(d["status"] == "delivered" for d in items)
                and len(theirs.json()["items"]) == 1
            )

        await wait_for(all_delivered, what="every delivery delivered")

    ids: list[str] = []
    after = None
    while True:
        params = {"limit": 2, **({"after": after} if after else {})}
        page = (await http.get(DELIVERIES, params=params, headers=KEY)).json()
        ids += [d["id"] for d in page["items"]]
        after = page["next"]
        if after is None:
            break
    scored = await redis.zrange(keys.brand_webhook_deliveries("b1"), 0, -1, withscores=True)
    assert ids == [m for m, _ in sorted(scored, key=lambda p: (p[1], p[0]), reverse=True)]
    assert sorted(ids) == sorted(f"msg_{o['id']}" for o in orders)

    first = (await http.get(DELIVERIES, headers=KEY)).json()["items"]
    retried = [d for d in first if d["attempts"] == 2]
    assert len(retried) == 1 and retried[0]["last_error"] == "HTTP 500"
    for item in first:
        assert item["show"] == "s1" and item["brand"] == "b1" and item["last_status"] == 204
        assert "payload" not in item and "body" not in item
    other = (await http.get("/api/brands/b2/webhook/deliveries", headers=KEY)).json()
    assert [d["brand"] for d in other["items"]] == ["b2"]
