"""Buying and running a show over real HTTP: outcomes, roles, and bad input refused
with nothing changed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from livecart.auth.tokens import issue_token
from livecart.config import Settings
from tests.commerce.conftest import SHOW, seed_show
from tests.helpers import STRONG_ADMIN_KEY, STRONG_SECRET, LiveServer, bearer, serve_app

KEY = {"X-API-Key": STRONG_ADMIN_KEY}


@pytest.fixture
async def live(settings: Settings, redis: object) -> Any:
    async with serve_app(settings.with_overrides({"checkout": {"payment_provider": "test"}})) as s:
        await seed_show(s.runtime)
        yield s


async def state(server: LiveServer) -> dict[str, Any]:
    redis = server.runtime.redis
    return {
        "stock": await redis.hgetall(f"lc:{{s:{SHOW}}}:stock"),
        "held": await redis.hgetall(f"lc:{{s:{SHOW}}}:held"),
        "show": await redis.hgetall(f"lc:{{s:{SHOW}}}:show"),
        "events": await redis.xlen(f"lc:{{s:{SHOW}}}:events"),
        "orders": await redis.zcard(f"lc:{{s:{SHOW}}}:orders"),
    }


async def test_a_viewer_buys_with_one_tap_and_a_retry_returns_the_same_order(
    live: LiveServer,
) -> None:
    body = {"sku": "p-plain", "quantity": 2, "idempotency_key": "tap-1"}
    async with httpx.AsyncClient(base_url=live.url, headers=bearer()) as http:
        first = await http.post(f"/api/shows/{SHOW}/buy", json=body)
        again = await http.post(f"/api/shows/{SHOW}/buy", json=body)
        declined = await http.post(
            f"/api/shows/{SHOW}/buy", json=body, headers=bearer(sub="decline-dan")
        )
        sold_out = await http.post(
            f"/api/shows/{SHOW}/buy",
            json={"sku": "p-scarce", "quantity": 4, "idempotency_key": "tap-2"},
        )
    assert first.status_code == 201 and first.json()["result"] == "confirmed"
    assert again.status_code == 201 and again.json()["replayed"]
    assert again.json()["order"]["id"] == first.json()["order"]["id"]
    assert declined.status_code == 402 and declined.json()["result"] == "payment_declined"
    assert sold_out.status_code == 409
    assert sold_out.json() == {"result": "sold_out", "replayed": False, "sku": "p-scarce"}


async def test_the_cart_over_http(live: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=live.url, headers=bearer()) as http:
        added = await http.post(f"/api/shows/{SHOW}/cart", json={"sku": "p-plain", "quantity": 3})
        assert added.status_code == 200 and added.json()["total"] == 3000
        removed = await http.delete(f"/api/shows/{SHOW}/cart/p-plain", params={"quantity": 1})
        assert [line["quantity"] for line in removed.json()["lines"]] == [2]
        refused = await http.post(
            f"/api/shows/{SHOW}/cart", json={"sku": "p-scarce", "quantity": 9}
        )
        assert refused.status_code == 409 and refused.json()["error"] == "sold_out"
        view = await http.get(f"/api/shows/{SHOW}/cart")
        assert view.json()["total"] == 2000
        done = await http.post(f"/api/shows/{SHOW}/cart/checkout", json={"idempotency_key": "c1"})
        assert done.status_code == 201 and done.json()["order"]["total"] == 2000
        assert (await http.get(f"/api/shows/{SHOW}/cart")).json()["lines"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "body"),
        (b"[]", "body"),
        (b'{"idempotency_key": "k"}', "sku"),
        (b'{"sku": "p-plain"}', "idempotency_key"),
        (b'{"sku": "p{plain}", "idempotency_key": "k"}', "sku"),
        (b'{"sku": "p:plain", "idempotency_key": "k"}', "sku"),
        (b'{"sku": "p*", "idempotency_key": "k"}', "sku"),
        (b'{"sku": "p-plain", "idempotency_key": "k", "quantity": 0}', "quantity"),
        (b'{"sku": "p-plain", "idempotency_key": "k", "quantity": -2}', "quantity"),
        (b'{"sku": "p-plain", "idempotency_key": "k", "quantity": 1000000000}', "quantity"),
        (b'{"sku": "p-plain", "idempotency_key": "k", "quantity": "2"}', "quantity"),
        (b'{"sku": "p-plain", "idempotency_key": "k", "quantity": 2.5}', "quantity"),
        (b'{"sku": "p-plain", "idempotency_key": "k", "price": "cheap"}', "price"),
    ],
)
async def test_bad_buy_bodies_are_refused_naming_the_field_and_change_nothing(
    live: LiveServer, body: bytes, field: str | None
) -> None:
    before = await state(live)
    async with httpx.AsyncClient(base_url=live.url, headers=bearer()) as http:
        response = await http.post(f"/api/shows/{SHOW}/buy", content=body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid" and response.json().get("field") == field
    assert await state(live) == before


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/api/shows/nope/buy", {"sku": "p-plain", "idempotency_key": "k"}, 404, "not_found"),
        ("/api/shows/s:1/buy", {"sku": "p-plain", "idempotency_key": "k"}, 400, "invalid"),
        (f"/api/shows/{SHOW}/buy", {"sku": "p-ghost", "idempotency_key": "k"}, 409, None),
    ],
)
async def test_unknown_or_malformed_shows_and_products(
    live: LiveServer, path: str, body: dict[str, Any], status: int, error: str | None
) -> None:
    before = await state(live)
    async with httpx.AsyncClient(base_url=live.url, headers=bearer()) as http:
        response = await http.post(path, json=body)
    assert response.status_code == status
    if error:
        assert response.json()["error"] == error
    else:
        assert response.json()["result"] == "not_in_lineup"
    assert await state(live) == before


@pytest.mark.parametrize(
    ("headers", "status", "error"),
    [
        ({}, 401, "token_missing"),
        ({"Authorization": "Basic abc"}, 401, "token_invalid"),
        ({"Authorization": "Bearer not.a.token"}, 401, "token_invalid"),
        (bearer(sub="ana", show="other-show"), 403, "forbidden"),
        (bearer(role="moderator", sub="mod", show="other-show"), 403, "forbidden"),
    ],
)
async def test_buying_needs_a_valid_token_for_this_show(
    live: LiveServer, headers: dict[str, str], status: int, error: str
) -> None:
    before = await state(live)
    async with httpx.AsyncClient(base_url=live.url) as http:
        response = await http.post(
            f"/api/shows/{SHOW}/buy",
            headers=headers,
            json={"sku": "p-plain", "idempotency_key": "k"},
        )
    assert response.status_code == status and response.json()["error"] == error
    assert await state(live) == before


async def test_an_expired_or_forged_token_is_refused(live: LiveServer) -> None:
    expired = issue_token(STRONG_SECRET, sub="ana", role="viewer", ttl_s=1, now=1000)
    forged = issue_token(
        "another-secret-that-is-long-enough-xxxxx", sub="ana", role="admin", ttl_s=600
    )
    async with httpx.AsyncClient(base_url=live.url) as http:
        for token, error in ((expired, "token_expired"), (forged, "token_invalid")):
            response = await http.post(
                f"/api/shows/{SHOW}/sales",
                headers={"Authorization": f"Bearer {token}"},
                json={"state": "paused"},
            )
            assert response.status_code == 401 and response.json()["error"] == error


# --- show control -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "start", None),
        ("POST", "end", None),
        ("PUT", "pin", {"sku": "p-plain"}),
        ("DELETE", "pin", None),
        ("POST", "flash", {"sku": "p-plain", "price": 1, "quantity": 1, "duration_s": 9}),
        ("DELETE", "flash", None),
        ("POST", "sales", {"state": "paused"}),
    ],
)
async def test_a_viewer_can_never_do_a_staff_action(
    live: LiveServer, method: str, path: str, body: dict[str, Any] | None
) -> None:
    before = await state(live)
    async with httpx.AsyncClient(base_url=live.url) as http:
        for headers in (bearer(), bearer(show=SHOW), {}):
            response = await http.request(
                method, f"/api/shows/{SHOW}/{path}", json=body, headers=headers
            )
            assert response.status_code in (401, 403), (headers, response.text)
    assert await state(live) == before


async def test_a_moderator_pauses_but_cannot_pin_and_is_a_stranger_on_another_show(
    live: LiveServer,
) -> None:
    moderator = bearer(role="moderator", sub="mod", show=SHOW)
    other_show_mod = bearer(role="moderator", sub="mod2", show="other-show")
    async with httpx.AsyncClient(base_url=live.url) as http:
        pin = await http.put(f"/api/shows/{SHOW}/pin", json={"sku": "p-plain"}, headers=moderator)
        assert pin.status_code == 403
        foreign = await http.post(
            f"/api/shows/{SHOW}/sales", json={"state": "paused"}, headers=other_show_mod
        )
        assert foreign.status_code == 403
        assert (await state(live))["show"]["sales"] == "open"
        paused = await http.post(
            f"/api/shows/{SHOW}/sales",
            json={"state": "paused", "reason": "spam"},
            headers=moderator,
        )
        assert paused.json() == {"sales": "paused", "changed": True}
        buy = await http.post(
            f"/api/shows/{SHOW}/buy",
            json={"sku": "p-plain", "idempotency_key": "k"},
            headers=bearer(),
        )
        assert buy.json()["result"] == "sales_paused"


async def test_the_streamer_runs_the_show_and_the_merchant_manages_stock(live: LiveServer) -> None:
    streamer = bearer(role="streamer", sub="c1", show=SHOW)
    async with httpx.AsyncClient(base_url=live.url) as http:
        assert (
            await http.put(f"/api/shows/{SHOW}/pin", json={"sku": "p-scarce"}, headers=streamer)
        ).json() == {"pinned": "p-scarce", "changed": True}
        flash = await http.post(
            f"/api/shows/{SHOW}/flash",
            headers=streamer,
            json={"sku": "p-plain", "price": 800, "quantity": 5, "duration_s": 60},
        )
        assert flash.status_code == 201 and flash.json()["price"] == 800
        restock = await http.post(
            f"/api/shows/{SHOW}/stock/p-scarce", json={"delta": 4}, headers=KEY
        )
        assert restock.json() == {"sku": "p-scarce", "stock": 7, "allocated": 7}
        refused = await http.post(
            f"/api/shows/{SHOW}/stock/p-scarce", json={"delta": -8}, headers=KEY
        )
        assert refused.status_code == 409 and refused.json()["error"] == "not_enough_stock"
        report = await http.get(f"/api/shows/{SHOW}/stock", headers=KEY)
        assert {r["sku"]: r["stock"] for r in report.json()["stock"]}["p-scarce"] == 7
        viewer_report = await http.get(f"/api/shows/{SHOW}/stock", headers=bearer())
        assert viewer_report.status_code == 401
        snapshot = (await http.get(f"/api/shows/{SHOW}")).json()
        assert snapshot["pinned"] == "p-scarce" and snapshot["flash_sale"]["phase"] == "running"
        end = await http.post(f"/api/shows/{SHOW}/end", headers=streamer)
        assert end.json() == {"state": "ended", "changed": True}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("sales", {"state": "closed"}, "state"),
        ("sales", {"state": "paused", "reason": 5}, "reason"),
        ("sales", {"state": "paused", "reason": "x" * 201}, "reason"),
        ("stock/p-plain", {"delta": 0}, "delta"),
        ("stock/p-plain", {"delta": "5"}, "delta"),
        ("stock/p-plain", {"delta": 10**12}, "delta"),
        ("stock/p{x}", {"delta": 1}, "sku"),
        ("lineup", {"sku": "p-plain"}, "quantity"),
        ("lineup", {"sku": "p-plain", "quantity": -1}, "quantity"),
        ("flash", {"sku": "p-plain", "price": 1, "quantity": 1}, "duration_s"),
    ],
)
async def test_bad_control_bodies_are_refused_naming_the_field_and_change_nothing(
    live: LiveServer, path: str, body: dict[str, Any], field: str
) -> None:
    before = await state(live)
    async with httpx.AsyncClient(base_url=live.url, headers=KEY) as http:
        response = await http.post(f"/api/shows/{SHOW}/{path}", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert await state(live) == before


async def test_the_merchant_creates_a_show_over_http(live: LiveServer) -> None:
    body = {
        "id": "s2",
        "title": "Second",
        "creator": "c1",
        "brand": "b1",
        "lineup": [{"sku": "p-plain", "quantity": 3}],
    }
    async with httpx.AsyncClient(base_url=live.url) as http:
        no_key = await http.post("/api/shows", json=body, headers=bearer(role="admin"))
        assert no_key.status_code == 401
        created = await http.post("/api/shows", json=body, headers=KEY)
        assert created.status_code == 201 and created.json()["lineup"][0]["stock"] == 3
        again = await http.post("/api/shows", json=body, headers=KEY)
        assert again.status_code == 200
        bad = await http.post("/api/shows", json={**body, "id": "s*3"}, headers=KEY)
        assert bad.status_code == 400 and bad.json()["field"] == "id"
