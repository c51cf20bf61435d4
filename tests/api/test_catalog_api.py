"""The merchant's catalog over HTTP: brands, products, bulk import. Every refusal names
the field and leaves the store exactly as it was."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from redis.asyncio import Redis

from livecart.auth.tokens import issue_token
from livecart.commerce.catalog.imports import MAX_IMPORT_BYTES
from livecart.commerce.catalog.products import Brand, Product, save_brand, save_product
from livecart.store import keys
from tests.helpers import STRONG_ADMIN_KEY, STRONG_SECRET, LiveServer

KEY = {"X-API-Key": STRONG_ADMIN_KEY}
VIEWER_TOKEN = issue_token(STRONG_SECRET, sub="ana", role="viewer", ttl_s=3600)
# Credentials that are not the admin API key, each refused with 401 api_key_invalid.
NOT_THE_KEY: dict[str, dict[str, str]] = {
    "no key": {},
    "wrong key": {"X-API-Key": "wrong-key-0123456789"},
    "key minus a char": {"X-API-Key": STRONG_ADMIN_KEY[:-1]},
    "viewer token": {"Authorization": f"Bearer {VIEWER_TOKEN}"},
}
CSV_HEADER = "sku,brand,title,price,currency,description,image_url,commission_bps,per_user_limit\n"


async def store_snapshot(redis: Redis) -> dict[str, Any]:
    """Every key with its type and full value: equal snapshots mean nothing changed.
    The nodes' heartbeats (``lc:node:*``, ``lc:nodes``) are left out: each node writes
    them on its own, every half second, whatever the requests."""
    state: dict[str, Any] = {}
    names = [str(name) for name in await redis.keys("*")]  # decode_responses: already str
    names = [name for name in names if not name.startswith("lc:node")]
    for key in sorted(names):
        kind = await redis.type(key)
        if kind == "string":
            value: Any = await redis.get(key)
        elif kind == "hash":
            value = await redis.hgetall(key)
        elif kind == "zset":
            value = await redis.zrange(key, 0, -1, withscores=True)
        elif kind == "set":
            value = sorted(await redis.smembers(key))
        elif kind == "list":
            value = await redis.lrange(key, 0, -1)
        elif kind == "stream":
            value = await redis.xrange(key)
        else:
            value = kind
        state[key] = (kind, value)
    return state


def product_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sku": "p1",
        "brand": "b1",
        "title": "Trail jacket",
        "price": 12900,
        "currency": "EUR",
        "description": "Waterproof.",
        "image_url": "https://img.example.com/p1.jpg",
        "commission_bps": 1000,
        "per_user_limit": 2,
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


async def seed(redis: Redis) -> None:
    await save_brand(redis, Brand("b1", "Brand One"))
    await save_brand(redis, Brand("b2", "Brand Two"))
    await save_product(redis, Product.from_dict(product_body()))


@pytest.fixture
async def http(server: LiveServer, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    await seed(redis)
    async with httpx.AsyncClient(base_url=server.url, headers=KEY, timeout=30) as client:
        yield client


def refusal(response: httpx.Response, status: int, error: str, field: str | None) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert body.get("field") == field
    message: str = body["message"]
    return message


# --- brands ---------------------------------------------------------------------------


async def test_a_brand_is_created_read_renamed_listed_and_deleted(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    created = await http.post("/api/brands", json={"id": "b3", "name": "Brand Three"})
    assert created.status_code == 201 and created.json() == {"id": "b3", "name": "Brand Three"}
    assert (await http.get("/api/brands/b3")).json() == {"id": "b3", "name": "Brand Three"}
    renamed = await http.put("/api/brands/b3", json={"name": "Third"})
    assert renamed.status_code == 200 and renamed.json() == {"id": "b3", "name": "Third"}
    listed = (await http.get("/api/brands")).json()
    assert [b["id"] for b in listed["items"]] == ["b1", "b2", "b3"] and listed["next"] is None
    deleted = await http.delete("/api/brands/b3")
    assert deleted.status_code == 204 and deleted.content == b""
    refusal(await http.get("/api/brands/b3"), 404, "not_found", "brand")
    assert await redis.zrange(keys.brands_index(), 0, -1) == ["b1", "b2"]


async def test_brands_page_with_a_cursor(http: httpx.AsyncClient) -> None:
    for i in range(5):
        await http.post("/api/brands", json={"id": f"c{i}", "name": f"C{i}"})
    first = (await http.get("/api/brands", params={"limit": 3})).json()
    assert [b["id"] for b in first["items"]] == ["b1", "b2", "c0"] and first["next"] == "c0"
    rest = (await http.get("/api/brands", params={"after": "c0", "limit": 10})).json()
    assert [b["id"] for b in rest["items"]] == ["c1", "c2", "c3", "c4"] and rest["next"] is None


async def test_an_existing_brand_id_is_a_conflict_and_changes_nothing(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    before = await store_snapshot(redis)
    response = await http.post("/api/brands", json={"id": "b1", "name": "Impostor"})
    refusal(response, 409, "conflict", "id")
    assert await store_snapshot(redis) == before


async def test_a_brand_with_products_is_not_deleted(http: httpx.AsyncClient, redis: Redis) -> None:
    before = await store_snapshot(redis)
    message = refusal(await http.delete("/api/brands/b1"), 409, "conflict", "brand")
    assert "1 products" in message
    assert await store_snapshot(redis) == before


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("POST", "/api/brands", {"name": "x"}, 400, "id"),
        ("POST", "/api/brands", {"id": "b{9}", "name": "x"}, 400, "id"),
        ("POST", "/api/brands", {"id": "b:9", "name": "x"}, 400, "id"),
        ("POST", "/api/brands", {"id": "b*", "name": "x"}, 400, "id"),
        ("POST", "/api/brands", {"id": 9, "name": "x"}, 400, "id"),
        ("POST", "/api/brands", {"id": "b9"}, 400, "name"),
        ("POST", "/api/brands", {"id": "b9", "name": 5}, 400, "name"),
        ("POST", "/api/brands", {"id": "b9", "name": "x" * 201}, 400, "name"),
        ("POST", "/api/brands", {"id": "b9", "name": "x", "logo": "y"}, 400, "logo"),
        ("POST", "/api/brands", ["b9", "x"], 400, "body"),
        ("PUT", "/api/brands/b1", {"name": ""}, 400, "name"),
        ("PUT", "/api/brands/b1", {"id": "b2", "name": "x"}, 400, "id"),
        ("PUT", "/api/brands/ghost", {"name": "x"}, 404, "brand"),
        ("PUT", "/api/brands/b{1}", {"name": "x"}, 400, "brand"),
        ("GET", "/api/brands/ghost", None, 404, "brand"),
        ("GET", "/api/brands/a:b", None, 400, "brand"),
        ("GET", "/api/brands/a*", None, 400, "brand"),
        ("DELETE", "/api/brands/ghost", None, 404, "brand"),
        ("DELETE", "/api/brands/a}", None, 400, "brand"),
        ("GET", "/api/brands?limit=0", None, 400, "limit"),
        ("GET", "/api/brands?after=a:b", None, 400, "after"),
    ],
)
async def test_bad_brand_requests_name_the_field_and_change_nothing(
    http: httpx.AsyncClient,
    redis: Redis,
    method: str,
    path: str,
    body: Any,
    status: int,
    field: str,
) -> None:
    before = await store_snapshot(redis)
    content = None if body is None else orjson.dumps(body)
    response = await http.request(method, path, content=content)
    refusal(response, status, "invalid" if status == 400 else "not_found", field)
    assert await store_snapshot(redis) == before


# --- products -------------------------------------------------------------------------


async def test_a_product_is_created_read_replaced_and_deleted(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    body = product_body(sku="p2", commission_bps=500)
    created = await http.post("/api/products", json=body)
    assert created.status_code == 201 and created.json() == body
    assert (await http.get("/api/products/p2")).json() == body
    replaced = await http.put(
        "/api/products/p2",
        json={"brand": "b1", "title": "New title", "price": 100, "currency": "USD"},
    )
    assert replaced.status_code == 200
    # A full replace: what the body leaves out takes its default again.
    assert replaced.json() == {
        "sku": "p2",
        "brand": "b1",
        "title": "New title",
        "price": 100,
        "currency": "USD",
        "description": "",
        "image_url": "",
        "commission_bps": 0,
        "per_user_limit": 0,
    }
    assert (await http.get("/api/products/p2")).json() == replaced.json()
    deleted = await http.delete("/api/products/p2")
    assert deleted.status_code == 204
    refusal(await http.get("/api/products/p2"), 404, "not_found", "sku")
    assert await redis.zrange(keys.brand_products("b1"), 0, -1) == ["p1"]


async def test_moving_a_product_to_another_brand_moves_it_in_the_listings(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    moved = await http.put("/api/products/p1", json=product_body(brand="b2"))
    assert moved.status_code == 200 and moved.json()["brand"] == "b2"
    assert (await http.get("/api/products", params={"brand": "b1"})).json()["items"] == []
    listed = (await http.get("/api/products", params={"brand": "b2"})).json()
    assert [p["sku"] for p in listed["items"]] == ["p1"]
    assert await redis.zrange(keys.brand_products("b1"), 0, -1) == []


async def test_products_of_a_brand_page_by_sku_with_a_cursor(http: httpx.AsyncClient) -> None:
    for i in range(7):
        response = await http.post("/api/products", json=product_body(sku=f"q{i}"))
        assert response.status_code == 201
    skus: list[str] = []
    after = None
    pages = 0
    while True:
        params: dict[str, Any] = {"brand": "b1", "limit": 3}
        if after:
            params["after"] = after
        page = (await http.get("/api/products", params=params)).json()
        skus += [p["sku"] for p in page["items"]]
        pages += 1
        after = page["next"]
        if after is None:
            break
    assert skus == ["p1"] + [f"q{i}" for i in range(7)] and pages == 3
    default = (await http.get("/api/products", params={"brand": "b1"})).json()
    assert len(default["items"]) == 8 and default["next"] is None


async def test_an_existing_sku_is_a_conflict_and_an_unknown_brand_is_named(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    before = await store_snapshot(redis)
    refusal(await http.post("/api/products", json=product_body()), 409, "conflict", "sku")
    refusal(
        await http.post("/api/products", json=product_body(sku="p9", brand="ghost")),
        404,
        "not_found",
        "brand",
    )
    refusal(
        await http.put("/api/products/p1", json=product_body(brand="ghost")),
        404,
        "not_found",
        "brand",
    )
    refusal(
        await http.put("/api/products/p9", json=product_body(sku="p9")), 404, "not_found", "sku"
    )
    assert await store_snapshot(redis) == before


PRODUCT_BODY_ERRORS = [
    ({"sku": ...}, "sku"),
    ({"brand": ...}, "brand"),
    ({"title": ...}, "title"),
    ({"price": ...}, "price"),
    ({"currency": ...}, "currency"),
    ({"price": "12900"}, "price"),
    ({"price": 129.0}, "price"),
    ({"price": True}, "price"),
    ({"price": -1}, "price"),
    ({"price": 0}, "price"),
    ({"price": 10**12}, "price"),
    ({"price": 10**30}, "price"),
    ({"commission_bps": -5}, "commission_bps"),
    ({"commission_bps": 10_001}, "commission_bps"),
    ({"commission_bps": 2.5}, "commission_bps"),
    ({"per_user_limit": False}, "per_user_limit"),
    ({"per_user_limit": -1}, "per_user_limit"),
    ({"per_user_limit": 10**6}, "per_user_limit"),
    ({"per_user_limit": "3"}, "per_user_limit"),
    ({"currency": "euro"}, "currency"),
    ({"title": ""}, "title"),
    ({"title": ["x"]}, "title"),
    ({"image_url": "javascript:alert(1)"}, "image_url"),
    ({"brand": "b{1}"}, "brand"),
    ({"brand": "b:1"}, "brand"),
    ({"brand": "b*"}, "brand"),
    ({"brand": "b}"}, "brand"),
    ({"colour": "red"}, "colour"),
]


@pytest.mark.parametrize(("changes", "field"), PRODUCT_BODY_ERRORS)
async def test_a_bad_new_product_names_the_field_and_changes_nothing(
    http: httpx.AsyncClient, redis: Redis, changes: dict[str, Any], field: str
) -> None:
    before = await store_snapshot(redis)
    response = await http.post("/api/products", json=product_body(**{"sku": "p9", **changes}))
    message = refusal(response, 400, "invalid", field)
    assert field in message
    assert await store_snapshot(redis) == before


@pytest.mark.parametrize(
    ("changes", "field"), [c for c in PRODUCT_BODY_ERRORS if c[1] not in ("sku",)]
)
async def test_a_bad_replacement_names_the_field_and_changes_nothing(
    http: httpx.AsyncClient, redis: Redis, changes: dict[str, Any], field: str
) -> None:
    before = await store_snapshot(redis)
    response = await http.put("/api/products/p1", json=product_body(**changes))
    refusal(response, 400, "invalid", field)
    assert await store_snapshot(redis) == before


@pytest.mark.parametrize("sku", ["a{b", "a}b", "a:b", "a*b", "x" * 65])
async def test_a_malformed_sku_in_the_path_is_refused(
    http: httpx.AsyncClient, redis: Redis, sku: str
) -> None:
    before = await store_snapshot(redis)
    for method in ("GET", "PUT", "DELETE"):
        content = orjson.dumps(product_body()) if method == "PUT" else None
        response = await http.request(method, f"/api/products/{sku}", content=content)
        refusal(response, 400, "invalid", "sku")
    assert await store_snapshot(redis) == before


async def test_the_sku_in_the_path_wins_and_a_different_body_sku_is_refused(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    before = await store_snapshot(redis)
    message = refusal(
        await http.put("/api/products/p1", json=product_body(sku="p2")), 400, "invalid", "sku"
    )
    assert "path" in message
    assert await store_snapshot(redis) == before
    same = await http.put("/api/products/p1", json=product_body(sku="p1", title="Same sku"))
    assert same.status_code == 200 and same.json()["title"] == "Same sku"


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("", 400, "brand"),
        ("brand=", 400, "brand"),
        ("brand=a:b", 400, "brand"),
        ("brand=ghost", 404, "brand"),
        ("brand=b1&brand=b2", 400, "brand"),
        ("brand=b1&limit=0", 400, "limit"),
        ("brand=b1&limit=-1", 400, "limit"),
        ("brand=b1&limit=201", 400, "limit"),
        ("brand=b1&limit=1.5", 400, "limit"),
        ("brand=b1&limit=abc", 400, "limit"),
        ("brand=b1&limit=", 400, "limit"),
        ("brand=b1&limit=99999999999999999999999", 400, "limit"),
        ("brand=b1&limit=5&limit=6", 400, "limit"),
        ("brand=b1&after=a*", 400, "after"),
        ("brand=b1&after=%7Bx%7D", 400, "after"),
    ],
)
async def test_bad_listing_queries_name_the_parameter(
    http: httpx.AsyncClient, query: str, status: int, field: str
) -> None:
    response = await http.get(f"/api/products?{query}")
    refusal(response, status, "invalid" if status == 400 else "not_found", field)


@pytest.mark.parametrize("body", [b"", b"not json", b"[1]", b'"p1"', b"null"])
async def test_a_body_that_is_not_a_json_object_is_refused(
    http: httpx.AsyncClient, redis: Redis, body: bytes
) -> None:
    before = await store_snapshot(redis)
    for path in ("/api/products", "/api/brands"):
        refusal(await http.post(path, content=body), 400, "invalid", "body")
    assert await store_snapshot(redis) == before


# --- who may call ---------------------------------------------------------------------

MERCHANT_CALLS: list[tuple[str, str, Any]] = [
    ("POST", "/api/brands", {"id": "b9", "name": "x"}),
    ("GET", "/api/brands", None),
    ("GET", "/api/brands/b1", None),
    ("PUT", "/api/brands/b1", {"name": "Renamed"}),
    ("DELETE", "/api/brands/b2", None),
    ("POST", "/api/products", product_body(sku="p9")),
    ("GET", "/api/products?brand=b1", None),
    ("GET", "/api/products/p1", None),
    ("PUT", "/api/products/p1", product_body(price=1)),
    ("DELETE", "/api/products/p1", None),
    ("POST", "/api/catalog/import", [product_body(sku="p9")]),
]


@pytest.mark.parametrize(
    ("method", "path", "body"), MERCHANT_CALLS, ids=[f"{m} {p}" for m, p, _ in MERCHANT_CALLS]
)
async def test_every_catalog_endpoint_needs_the_api_key_and_changes_nothing_without_it(
    server: LiveServer, redis: Redis, method: str, path: str, body: Any
) -> None:
    await seed(redis)
    before = await store_snapshot(redis)
    for name, credentials in NOT_THE_KEY.items():
        headers = {**credentials, "Content-Type": "application/json"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers) as anonymous:
            response = await anonymous.request(
                method, path, content=None if body is None else orjson.dumps(body)
            )
        assert response.status_code == 401, name
        refusal(response, 401, "api_key_invalid", None)
        assert await store_snapshot(redis) == before, name


# --- bulk import ----------------------------------------------------------------------


async def test_import_reports_each_rejected_row_and_imports_the_rest(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    csv_text = (
        "\ufeff"
        + CSV_HEADER
        + 'c1,b1,"Socks, 3 pairs",1900,EUR,"Soft.\nWarm.",,600,10\n'
        + "c2,ghost,No brand,100,EUR,,,,\n"
        + "c3,b1,Bad price,12.50,EUR,,,,\n"
        + "p1,b2,Moved by import,500,EUR,,,,\n"
        + "c1,b1,Again,100,EUR,,,,\n"
        + "c{4},b1,Bad sku,100,EUR,,,,\n"
    )
    response = await http.post(
        "/api/catalog/import",
        content=csv_text.encode(),
        headers={"Content-Type": "text/csv; charset=utf-8"},
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["imported"] == 2
    assert [(r["row"], r["sku"], r["error"], r["field"]) for r in report["rejected"]] == [
        (3, "c2", "not_found", "brand"),
        (4, "c3", "invalid", "price"),
        (6, "c1", "conflict", "sku"),
        (7, "c{4}", "invalid", "sku"),
    ]
    assert "row 2" in report["rejected"][2]["message"]
    socks = (await http.get("/api/products/c1")).json()
    assert socks["title"] == "Socks, 3 pairs" and socks["description"] == "Soft.\nWarm."
    assert (socks["commission_bps"], socks["per_user_limit"]) == (600, 10)
    assert await redis.zrange(keys.brand_products("b1"), 0, -1) == ["c1"]
    assert await redis.zrange(keys.brand_products("b2"), 0, -1) == ["p1"]
    for sku in ("c2", "c3"):
        refusal(await http.get(f"/api/products/{sku}"), 404, "not_found", "sku")


async def test_a_json_import_reports_rows_counted_from_one(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    items = [
        product_body(sku="j1"),
        product_body(sku="j2", price="100"),
        "not an object",
        product_body(sku="j3", brand="ghost"),
        product_body(sku="j4", per_user_limit=-1),
    ]
    response = await http.post("/api/catalog/import", json=items)
    assert response.status_code == 200
    report = response.json()
    assert report["imported"] == 1
    assert [(r["row"], r["field"]) for r in report["rejected"]] == [
        (2, "price"),
        (3, "row"),
        (4, "brand"),
        (5, "per_user_limit"),
    ]
    assert await redis.zrange(keys.brand_products("b1"), 0, -1) == ["j1", "p1"]


@pytest.mark.parametrize(
    ("content", "content_type", "field", "says"),
    [
        (b"[]", None, "content-type", "Content-Type"),
        (b"[]", "text/plain", "content-type", "not an import format"),
        (b"sku\n", "text/csv; charset=iso-8859-1", "content-type", "UTF-8"),
        (b"{}", "application/json", "body", "array"),
        (b"[{]", "application/json", "body", "not valid JSON"),
        ((CSV_HEADER + "a,b1,Cr\xe8me,1,EUR,,,,\n").encode("latin-1"), "text/csv", "body", "UTF-8"),
        ((CSV_HEADER + 'a,b1,"open,1,EUR,,,,\n').encode(), "text/csv", "body", "malformed"),
        (b"sku,brand,title,price,currency,colour\n", "text/csv", "body", "colour"),
        (b"", "text/csv", "body", "empty"),
    ],
)
async def test_an_unreadable_import_is_refused_whole_and_changes_nothing(
    http: httpx.AsyncClient,
    redis: Redis,
    content: bytes,
    content_type: str | None,
    field: str,
    says: str,
) -> None:
    before = await store_snapshot(redis)
    headers = {"Content-Type": content_type} if content_type else {}
    response = await http.post("/api/catalog/import", content=content, headers=headers)
    if field == "content-type":
        assert says in refusal(response, 415, "unsupported_media_type", field)
    else:
        assert says in refusal(response, 400, "invalid", field)
    assert await store_snapshot(redis) == before


async def test_an_import_over_the_size_limit_is_refused(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    before = await store_snapshot(redis)
    big = b"[" + b" " * MAX_IMPORT_BYTES + b"]"
    response = await http.post(
        "/api/catalog/import", content=big, headers={"Content-Type": "application/json"}
    )
    assert "larger than" in refusal(response, 413, "too_large", "body")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(11):
            yield b" " * (1 << 20)

    streamed = await http.post(
        "/api/catalog/import", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert "larger than" in refusal(streamed, 413, "too_large", "body")
    assert await store_snapshot(redis) == before
