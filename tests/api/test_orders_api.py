"""Orders and earnings over HTTP: newest first, cursor pages that never skip or repeat
(even when orders share a millisecond), who may read what, and clear errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from livecart.config import Settings
from tests.commerce.order_fixtures import (
    FAST_WEBHOOKS,
    make_order,
    mark_show,
    projected,
    record_confirmed_order,
    seed_parties,
    start_show_outbox,
    wait_for,
)
from tests.helpers import STRONG_ADMIN_KEY, LiveServer, bearer

KEY = {"X-API-Key": STRONG_ADMIN_KEY}
BASE_MS = 1_795_553_000_000


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides(FAST_WEBHOOKS)


@pytest.fixture
async def http(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


def newest_first(orders: list[dict[str, Any]]) -> list[str]:
    return [o["id"] for o in sorted(orders, key=lambda o: (o["confirmed_at_ms"], o["id"]))][::-1]


@pytest.fixture
async def orders(server: LiveServer, redis: Redis) -> list[dict[str, Any]]:
    """30 orders in s1 (five to a millisecond) and 6 in s2, all projected."""
    await seed_parties(redis)
    made = []
    for show, count in (("s1", 30), ("s2", 6)):
        await mark_show(redis, show)
        await start_show_outbox(redis, show)
        for i in range(count):
            order = make_order(
                show=show,
                buyer=("ana", "bob", "cy")[i % 3],
                creator=("c1", "c2", None)[i % 3],
                confirmed_at_ms=BASE_MS + i // 5,
            )
            await record_confirmed_order(redis, order)
            made.append(order)
    await wait_for(lambda: projected(redis, len(made)), what="all orders projected")
    return made


async def all_pages(
    http: httpx.AsyncClient, path: str, headers: dict[str, str], **params: Any
) -> tuple[list[str], int]:
    """Follow ``next`` to the end; the ids in order and the number of pages."""
    ids: list[str] = []
    after = None
    pages = 0
    while True:
        query = {**params, **({"after": after} if after else {})}
        response = await http.get(path, params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        items = body["items"]
        ids += [item.get("id", item.get("order")) for item in items]
        pages += 1
        after = body["next"]
        if after is None:
            return ids, pages


async def test_a_shows_orders_are_listed_newest_first_in_pages_that_never_skip_or_repeat(
    http: httpx.AsyncClient, orders: list[dict[str, Any]]
) -> None:
    s1 = [o for o in orders if o["show"] == "s1"]
    ids, pages = await all_pages(http, "/api/orders", KEY, show="s1", limit=4)
    assert ids == newest_first(s1) and pages == 8
    first = (await http.get("/api/orders", params={"show": "s1", "limit": 1}, headers=KEY)).json()
    assert first["items"] == [next(o for o in s1 if o["id"] == ids[0])]


async def test_all_orders_are_listed_from_the_projection_the_same_way(
    http: httpx.AsyncClient, orders: list[dict[str, Any]]
) -> None:
    ids, _ = await all_pages(http, "/api/orders", KEY, limit=7)
    assert ids == newest_first(orders)


async def test_orders_arriving_between_pages_never_make_a_page_skip_or_repeat(
    http: httpx.AsyncClient, redis: Redis, orders: list[dict[str, Any]]
) -> None:
    s1 = [o for o in orders if o["show"] == "s1"]
    page = (await http.get("/api/orders", params={"show": "s1", "limit": 5}, headers=KEY)).json()
    seen = [o["id"] for o in page["items"]]
    cursor_ms = page["items"][-1]["confirmed_at_ms"]
    newer = make_order(show="s1", confirmed_at_ms=BASE_MS + 100)
    tied = make_order(show="s1", confirmed_at_ms=cursor_ms, order_id="o_" + "0" * 20)
    for late in (newer, tied):
        await record_confirmed_order(redis, late)
    rest, _ = await all_pages(http, "/api/orders", KEY, show="s1", limit=5, after=page["next"])
    assert newer["id"] not in rest  # newer than the cursor: on the first page of a new listing
    assert seen + [i for i in rest if i != tied["id"]] == newest_first(s1)
    assert tied["id"] in rest  # tied with the cursor but ordered after it: not skipped


async def test_orders_can_be_bounded_by_confirmation_time_both_ends_inclusive(
    http: httpx.AsyncClient, orders: list[dict[str, Any]]
) -> None:
    s1 = [o for o in orders if o["show"] == "s1"]
    since, until = BASE_MS + 1, BASE_MS + 3
    expected = newest_first([o for o in s1 if since <= o["confirmed_at_ms"] <= until])
    ids, _ = await all_pages(
        http, "/api/orders", KEY, show="s1", since_ms=since, until_ms=until, limit=4
    )
    assert ids == expected and len(expected) == 15
    projected_ids, _ = await all_pages(
        http, "/api/orders", KEY, since_ms=since, until_ms=until, limit=6
    )
    assert projected_ids == newest_first(
        [o for o in orders if since <= o["confirmed_at_ms"] <= until]
    )


async def test_one_order_is_found_by_its_id(
    http: httpx.AsyncClient, orders: list[dict[str, Any]]
) -> None:
    response = await http.get(f"/api/orders/{orders[7]['id']}", headers=KEY)
    assert response.status_code == 200 and response.json() == orders[7]


async def test_a_buyer_sees_only_their_own_orders_with_their_token(
    http: httpx.AsyncClient, orders: list[dict[str, Any]]
) -> None:
    ids, _ = await all_pages(http, "/api/me/orders", bearer("bob"), limit=3)
    assert ids == newest_first([o for o in orders if o["buyer"] == "bob"])
    staff, _ = await all_pages(http, "/api/me/orders", bearer("bob", "moderator", "s1"))
    assert staff == ids  # any role: it is the caller's own history
    nobody = (await http.get("/api/me/orders", headers=bearer("zed"))).json()
    assert nobody == {"items": [], "next": None}


async def test_a_creators_earnings_are_their_commission_totals_and_ledger_newest_first(
    http: httpx.AsyncClient, orders: list[dict[str, Any]]
) -> None:
    mine = [o for o in orders if o["attribution"] and o["attribution"]["creator"] == "c1"]
    expected_total = sum(o["commission_total"] for o in mine)
    for headers in (KEY, bearer("c1"), bearer("root", "admin")):
        response = await http.get("/api/creators/c1/earnings", headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["creator"] == "c1" and body["totals"] == {"EUR": expected_total}
    ids, pages = await all_pages(http, "/api/creators/c1/earnings", bearer("c1"), limit=5)
    assert ids == newest_first(mine) and pages == 3
    entry = (await http.get("/api/creators/c1/earnings", headers=KEY)).json()["items"][0]
    assert entry["commission"] == 384 and entry["lines"][0]["commission_bps"] == 800


async def test_a_creator_with_no_sales_has_empty_earnings(
    http: httpx.AsyncClient, redis: Redis
) -> None:
    await seed_parties(redis)
    response = await http.get("/api/creators/c2/earnings", headers=bearer("c2"))
    assert response.json() == {
        "creator": "c2",
        "totals": {},
        "earned": {},
        "reversed": {},
        "items": [],
        "next": None,
    }


@pytest.mark.parametrize(
    ("path", "headers", "status", "error", "field"),
    [
        ("/api/orders", {}, 401, "api_key_invalid", None),
        ("/api/orders", {"X-API-Key": "wrong-key-wrong-key"}, 401, "api_key_invalid", None),
        ("/api/orders", bearer("ana"), 401, "api_key_invalid", None),
        ("/api/orders", bearer("root", "admin"), 401, "api_key_invalid", None),
        ("/api/orders/o_1", {}, 401, "api_key_invalid", None),
        ("/api/orders/o_1", bearer("ana"), 401, "api_key_invalid", None),
        ("/api/me/orders", {}, 401, "token_missing", None),
        ("/api/me/orders", KEY, 401, "token_missing", None),
        ("/api/me/orders", {"Authorization": "Bearer nope"}, 401, "token_invalid", None),
        ("/api/me/orders", {"Authorization": "Basic abc"}, 401, "token_invalid", None),
        ("/api/creators/c1/earnings", {}, 401, "token_missing", None),
        ("/api/creators/c1/earnings", {"X-API-Key": "wrong"}, 401, "api_key_invalid", None),
        (
            "/api/creators/c1/earnings",
            {"X-API-Key": "wrong", **bearer("c1")},
            401,
            "api_key_invalid",
            None,
        ),
        ("/api/creators/c1/earnings", bearer("c2"), 403, "forbidden", "creator"),
        ("/api/creators/c1/earnings", bearer("c2", "streamer", "s1"), 403, "forbidden", "creator"),
        ("/api/orders?show=a%7Bb", KEY, 400, "invalid", "show"),
        ("/api/orders?show=a:b", KEY, 400, "invalid", "show"),
        ("/api/orders?show=nope", KEY, 404, "not_found", "show"),
        ("/api/orders?limit=0", KEY, 400, "invalid", "limit"),
        ("/api/orders?limit=201", KEY, 400, "invalid", "limit"),
        ("/api/orders?limit=abc", KEY, 400, "invalid", "limit"),
        ("/api/orders?limit=-1", KEY, 400, "invalid", "limit"),
        ("/api/orders?limit=1.5", KEY, 400, "invalid", "limit"),
        ("/api/orders?since_ms=yesterday", KEY, 400, "invalid", "since_ms"),
        ("/api/orders?until_ms=-5", KEY, 400, "invalid", "until_ms"),
        ("/api/orders?since_ms=10&until_ms=5", KEY, 400, "invalid", "since_ms"),
        ("/api/orders?after=a*b", KEY, 400, "invalid", "after"),
        ("/api/orders?after=o_unknown", KEY, 400, "invalid", "after"),
        ("/api/orders/o_unknown", KEY, 404, "not_found", "order"),
        ("/api/orders/o%7B1%7D", KEY, 400, "invalid", "order"),
        ("/api/orders/o:1", KEY, 400, "invalid", "order"),
        ("/api/orders/o*", KEY, 400, "invalid", "order"),
        ("/api/me/orders?limit=500", bearer("ana"), 400, "invalid", "limit"),
        ("/api/me/orders?after=x%7D", bearer("ana"), 400, "invalid", "after"),
        ("/api/creators/nobody/earnings", KEY, 404, "not_found", "creator"),
        ("/api/creators/c%7B1/earnings", KEY, 400, "invalid", "creator"),
        ("/api/creators/c:1/earnings", KEY, 400, "invalid", "creator"),
        ("/api/creators/c%7D1/earnings", bearer("c1"), 400, "invalid", "creator"),
        ("/api/creators/c*/earnings", bearer("c1"), 400, "invalid", "creator"),
        ("/api/creators/c1/earnings?limit=x", KEY, 400, "invalid", "limit"),
    ],
)
async def test_bad_requests_get_a_clear_error_naming_the_field(
    http: httpx.AsyncClient,
    redis: Redis,
    path: str,
    headers: dict[str, str],
    status: int,
    error: str,
    field: str | None,
) -> None:
    await seed_parties(redis)
    before = sorted(await redis.keys("*"))
    response = await http.get(path, headers=headers)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error and body.get("field") == field, body
    assert sorted(await redis.keys("*")) == before
