"""The audit's findings on the HTTP edge, one test each: every one answered otherwise
before the shared edge (livecart.api.endpoint) existed. Real server, real Redis; every
refusal is checked to have changed nothing in the keyspace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from livecart.config import Settings
from tests.api.test_catalog_api import store_snapshot
from tests.commerce.conftest import SHOW, seed_show
from tests.helpers import STRONG_ADMIN_KEY, LiveServer, bearer, serve_app

KEY = {"X-API-Key": STRONG_ADMIN_KEY}
STAFF = bearer(sub="sam", role="streamer", show=SHOW)


@pytest.fixture
async def live(settings: Settings, redis: Redis) -> AsyncIterator[LiveServer]:
    async with serve_app(settings.with_overrides({"checkout": {"payment_provider": "test"}})) as s:
        await seed_show(s.runtime)
        yield s


@pytest.fixture
async def http(live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.url) as client:
        yield client


def refused(response: httpx.Response, status: int, error: str, field: str | None) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == error, body
    assert body.get("field") == field, body
    message: str = body["message"]
    return message


# Each endpoint the audit found taking a misspelt field, with the misspelling it sent.
TYPOS: list[tuple[str, str, dict[str, str], dict[str, Any], str]] = [
    ("POST", "/api/tokens", KEY, {"sub": "x", "ttl": 60}, "ttl"),
    (
        "POST",
        f"/api/shows/{SHOW}/buy",
        bearer(),
        {"sku": "p-plain", "qty": 3, "idempotency_key": "k1"},
        "qty",
    ),
    ("POST", f"/api/shows/{SHOW}/cart", bearer(), {"sku": "p-plain", "quantiy": 2}, "quantiy"),
    ("POST", f"/api/shows/{SHOW}/cart/checkout", bearer(), {"idempotency_key": "k", "x": 1}, "x"),
    (
        "POST",
        "/api/shows",
        KEY,
        {"id": "s9", "title": "T", "creator": "c1", "brand": "b1", "lineup": [], "sheduled": 1},
        "sheduled",
    ),
    (
        "PUT",
        "/api/brands/b1/webhook",
        KEY,
        {"url": "https://example.com/h", "rotate": True},
        "rotate",
    ),
    ("POST", f"/api/shows/{SHOW}/lineup", KEY, {"sku": "p-plain", "quantity": 1, "q": 2}, "q"),
    ("POST", f"/api/shows/{SHOW}/stock/p-plain", KEY, {"delta": 1, "reason": "x"}, "reason"),
    ("PUT", f"/api/shows/{SHOW}/pin", STAFF, {"sku": "p-plain", "at": 5}, "at"),
    (
        "POST",
        f"/api/shows/{SHOW}/flash",
        STAFF,
        {"sku": "p-plain", "price": 500, "quantity": 5, "duration_s": 30, "per_buyer_limt": 1},
        "per_buyer_limt",
    ),
    ("POST", f"/api/shows/{SHOW}/sales", STAFF, {"state": "paused", "reson": "x"}, "reson"),
]


@pytest.mark.parametrize(("method", "path", "headers", "body", "typo"), TYPOS)
async def test_a_misspelt_field_is_refused_by_name_and_changes_nothing(
    http: httpx.AsyncClient,
    redis: Redis,
    method: str,
    path: str,
    headers: dict[str, str],
    body: dict[str, Any],
    typo: str,
) -> None:
    before = await store_snapshot(redis)
    response = await http.request(method, path, json=body, headers=headers)
    assert repr(typo) in refused(response, 400, "invalid", typo)
    assert await store_snapshot(redis) == before


async def test_a_nested_lineup_entry_refuses_unknown_fields_too(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    before = await store_snapshot(redis)
    body = {"id": "s9", "title": "T", "creator": "c1", "brand": "b1"}
    body["lineup"] = [{"sku": "p-plain", "quantity": 1, "price": 5}]  # type: ignore[assignment]
    response = await http.post("/api/shows", json=body, headers=KEY)
    refused(response, 400, "invalid", "lineup[0].price")
    assert await store_snapshot(redis) == before


@pytest.mark.parametrize("title", ["a\nb", "a\u007fb", "a\tb", "a\u0085b", "a\x00b"])
async def test_control_characters_in_a_product_title_are_refused_everywhere(
    http: httpx.AsyncClient, redis: Redis, title: str
) -> None:
    before = await store_snapshot(redis)
    product = {"sku": "p-new", "brand": "b1", "title": title, "price": 100, "currency": "EUR"}
    created = await http.post("/api/products", json=product, headers=KEY)
    assert "control character" in refused(created, 400, "invalid", "title")
    replaced = await http.put(
        "/api/products/p-plain", json=product | {"sku": "p-plain"}, headers=KEY
    )
    refused(replaced, 400, "invalid", "title")
    imported = await http.post("/api/catalog/import", json=[product], headers=KEY)
    assert imported.status_code == 200, imported.text
    report = imported.json()
    assert report["imported"] == 0 and report["rejected"][0]["field"] == "title"
    assert await store_snapshot(redis) == before


async def test_a_description_keeps_its_line_breaks(http: httpx.AsyncClient) -> None:
    product = {
        "sku": "p-lines",
        "brand": "b1",
        "title": "Lines",
        "price": 100,
        "currency": "EUR",
        "description": "one\ntwo\tthree",
    }
    response = await http.post("/api/products", json=product, headers=KEY)
    assert response.status_code == 201, response.text
    bad = await http.post(
        "/api/products", json=product | {"sku": "p-bell", "description": "a\u0007b"}, headers=KEY
    )
    refused(bad, 400, "invalid", "description")


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("DELETE", "/api/shows/nope/flash", STAFF | bearer(sub="sam", role="admin")),
        ("GET", "/api/shows/nope/cart", bearer()),
        ("DELETE", "/api/shows/nope/cart/p1", bearer()),
        ("POST", "/api/shows/nope/start", bearer(sub="root", role="admin")),
        ("GET", "/api/shows/nope/stock", KEY),
        ("DELETE", "/api/shows/nope/pin", bearer(sub="root", role="admin")),
    ],
)
async def test_a_well_formed_show_id_that_names_no_show_is_404(
    http: httpx.AsyncClient, redis: Redis, method: str, path: str, headers: dict[str, str]
) -> None:
    before = await store_snapshot(redis)
    response = await http.request(method, path, headers=headers)
    assert "'nope'" in refused(response, 404, "not_found", "show")
    assert await store_snapshot(redis) == before


async def test_the_show_filter_of_the_order_listing_is_checked(http: httpx.AsyncClient) -> None:
    twice = await http.get("/api/orders", params=[("show", SHOW), ("show", "s2")], headers=KEY)
    refused(twice, 400, "invalid", "show")
    empty = await http.get("/api/orders?show=", headers=KEY)
    refused(empty, 400, "invalid", "show")
    unknown = await http.get("/api/orders?show=nope", headers=KEY)
    refused(unknown, 404, "not_found", "show")
    typo = await http.get("/api/orders?shwo=s1", headers=KEY)
    refused(typo, 400, "invalid", "shwo")
    good = await http.get(f"/api/orders?show={SHOW}", headers=KEY)
    assert good.status_code == 200


async def test_unknown_paths_and_wrong_methods_answer_json(http: httpx.AsyncClient) -> None:
    missing = await http.get("/api/nope")
    assert "/api/nope" in refused(missing, 404, "not_found", None)
    wrong = await http.patch(f"/api/shows/{SHOW}/buy")
    assert "PATCH" in refused(wrong, 405, "method_not_allowed", None)
    assert wrong.headers["allow"] == "POST"
    api_looking = await http.get("/nope", headers={"Accept": "application/json"})
    refused(api_looking, 404, "not_found", None)
    page = await http.get("/nope", headers={"Accept": "text/html"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")


async def test_a_body_sent_as_another_type_is_415(http: httpx.AsyncClient, redis: Redis) -> None:
    before = await store_snapshot(redis)
    response = await http.post(
        "/api/tokens",
        content=b'{"sub": "x"}',
        headers=KEY | {"Content-Type": "text/plain"},
    )
    assert "application/json" in refused(response, 415, "unsupported_media_type", "content-type")
    curl_default = await http.post(
        "/api/tokens",
        content=b'{"sub": "x"}',
        headers=KEY | {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert curl_default.status_code == 201  # what `curl -d` sends: taken as JSON
    assert await store_snapshot(redis) == before


async def test_an_endpoint_without_a_body_refuses_one_with_fields(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    before = await store_snapshot(redis)
    admin = bearer(sub="root", role="admin")
    response = await http.post(f"/api/shows/{SHOW}/end", json={"reason": "bye"}, headers=admin)
    assert "takes no body" in refused(response, 400, "invalid", "body")
    assert await store_snapshot(redis) == before
    empty = await http.request("DELETE", f"/api/shows/{SHOW}/pin", json={}, headers=admin)
    assert empty.status_code == 200


async def test_unknown_query_parameters_are_refused_by_name(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/brands?limt=5", headers=KEY)
    assert "'limt'" in refused(response, 400, "invalid", "limt")
    viewer = await http.get(f"/api/shows/{SHOW}/cart?verbose=1", headers=bearer())
    refused(viewer, 400, "invalid", "verbose")


async def test_the_api_key_is_checked_before_anything_else(http: httpx.AsyncClient) -> None:
    """Without the key, a merchant endpoint says nothing about the request or the store."""
    response = await http.put("/api/brands/nope/webhook", json={"bogus": 1})
    assert response.status_code == 401 and response.json()["error"] == "api_key_invalid"
