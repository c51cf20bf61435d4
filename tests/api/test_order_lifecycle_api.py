"""The order lifecycle over HTTP (docs/api-orders.md, "Order lifecycle"): the merchant
fulfils, delivers, cancels and refunds with the API key; the buyer sees status, history
and tracking; every move reaches the brand as a signed webhook; bad input is refused by
field and changes nothing."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from redis.asyncio import Redis

from livecart.commerce.sales import checkout
from livecart.commerce.sales.checkout import BuyRequest
from livecart.config import Settings
from livecart.store import keys
from tests.commerce.conftest import seed_show
from tests.commerce.order_fixtures import (
    FAST_WEBHOOKS,
    Receiver,
    make_order,
    record_confirmed_order,
    serving,
    wait_for,
)
from tests.helpers import STRONG_ADMIN_KEY, LiveServer, bearer
from tests.keyspace import differences, snapshot

KEY = {"X-API-Key": STRONG_ADMIN_KEY}
TRACKING = {
    "carrier": "PostNord",
    "tracking_number": "00370712345",
    "tracking_url": "https://tracking.example/00370712345",
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides({**FAST_WEBHOOKS, "checkout": {"payment_provider": "test"}})


@pytest.fixture
async def http(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


@pytest.fixture
async def show(server: LiveServer) -> str:
    return await seed_show(server.runtime)


async def bought(server: LiveServer, show: str, buyer: str, key: str) -> dict[str, Any]:
    outcome = await checkout.buy(
        server.runtime, show, buyer, BuyRequest(sku="p-plain", quantity=2, idempotency_key=key)
    )
    assert outcome.order is not None, outcome
    order = outcome.order

    async def copied() -> bool:
        return bool(await server.runtime.redis.exists(keys.order(order["id"])))

    await wait_for(copied, what="the order projected")
    return order


async def post(http: httpx.AsyncClient, order_id: str, move: str, body: Any) -> httpx.Response:
    return await http.post(f"/api/orders/{order_id}/{move}", json=body, headers=KEY)


async def test_every_move_answers_the_order_and_reaches_the_brand_signed(
    server: LiveServer, http: httpx.AsyncClient, show: str
) -> None:
    async with serving(Receiver()) as receiver:
        put = await http.put("/api/brands/b1/webhook", json={"url": receiver.url}, headers=KEY)
        secret = put.json()["secret"]
        shipped = await bought(server, show, "ana", "k1")
        dropped = await bought(server, show, "bob", "k2")
        repaid = await bought(server, show, "cy", "k3")

        fulfilled = await post(http, shipped["id"], "fulfil", TRACKING)
        assert fulfilled.status_code == 200, fulfilled.text
        assert fulfilled.json()["status"] == "fulfilled"
        assert fulfilled.json()["fulfilment"] == TRACKING
        delivered = await http.post(f"/api/orders/{shipped['id']}/deliver", headers=KEY)
        assert delivered.status_code == 200 and delivered.json()["status"] == "delivered"
        cancelled = await post(http, dropped["id"], "cancel", {"reason": "address unknown"})
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        part = await post(http, repaid["id"], "refund", {"amount": 700})
        assert part.json()["status"] == "confirmed" and part.json()["refunded_total"] == 700
        rest = await post(http, repaid["id"], "refund", {"amount": 1300, "reason": "gone"})
        assert rest.json()["status"] == "refunded" and rest.json()["refunded_total"] == 2000

        async def all_received() -> bool:
            return len(receiver.requests) >= 8

        await wait_for(all_received, what="eight webhooks")
        payloads = receiver.verified(secret)  # every one signed (Standard Webhooks)
    seen = sorted((p["data"]["id"], p["data"].get("version", 1), p["type"]) for p in payloads)
    assert seen == sorted(
        [
            (shipped["id"], 1, "order.confirmed"),
            (dropped["id"], 1, "order.confirmed"),
            (repaid["id"], 1, "order.confirmed"),
            (shipped["id"], 2, "order.fulfilled"),
            (shipped["id"], 3, "order.delivered"),
            (dropped["id"], 2, "order.cancelled"),
            (repaid["id"], 2, "order.refunded"),
            (repaid["id"], 3, "order.refunded"),
        ]
    )
    ids = receiver.ids()
    assert len(set(ids)) == 8
    assert f"msg_{shipped['id']}.v2" in ids
    fulfilled_hook = next(p for p in payloads if p["type"] == "order.fulfilled")
    assert fulfilled_hook["data"]["fulfilment"] == TRACKING


async def test_the_buyer_and_the_merchant_see_status_history_and_tracking(
    server: LiveServer, http: httpx.AsyncClient, show: str
) -> None:
    order = await bought(server, show, "ana", "k1")
    other = await bought(server, show, "ana", "k2")
    await post(http, order["id"], "fulfil", TRACKING)
    await post(http, other["id"], "cancel", {})

    async def projected() -> bool:
        mine = (await http.get("/api/me/orders", headers=bearer("ana"))).json()["items"]
        return sorted(o["status"] for o in mine) == ["cancelled", "fulfilled"]

    await wait_for(projected, what="the buyer's orders following the lifecycle")
    mine = (await http.get("/api/me/orders", headers=bearer("ana"))).json()["items"]
    shipped = next(o for o in mine if o["id"] == order["id"])
    assert shipped["fulfilment"] == TRACKING
    assert [h["to"] for h in shipped["history"]] == ["confirmed", "fulfilled"]
    one = (await http.get(f"/api/orders/{order['id']}", headers=KEY)).json()
    assert one == shipped
    listed = (await http.get("/api/orders", headers=KEY)).json()["items"]
    assert {o["id"]: o["status"] for o in listed} == {
        order["id"]: "fulfilled",
        other["id"]: "cancelled",
    }


@pytest.mark.parametrize(
    ("move", "body", "status", "code", "field"),
    [
        ("fulfil", {"tracking_number": "1"}, 400, "invalid", "carrier"),
        ("fulfil", {"carrier": "DHL"}, 400, "invalid", "tracking_number"),
        ("fulfil", {**TRACKING, "carrier": "  "}, 400, "invalid", "carrier"),
        ("fulfil", {**TRACKING, "carrier": "DHL\nExpress"}, 400, "invalid", "carrier"),
        (
            "fulfil",
            {**TRACKING, "tracking_url": "ftp://x.example/1"},
            400,
            "invalid",
            "tracking_url",
        ),
        (
            "fulfil",
            {**TRACKING, "tracking_url": "https://x.example/a b"},
            400,
            "invalid",
            "tracking_url",
        ),
        ("fulfil", {**TRACKING, "tracking_numbr": "1"}, 400, "invalid", "tracking_numbr"),
        ("fulfil", None, 400, "invalid", "body"),
        ("deliver", {"when": 1}, 400, "invalid", "body"),
        ("cancel", {"reason": 5}, 400, "invalid", "reason"),
        ("cancel", {"reasn": "x"}, 400, "invalid", "reasn"),
        ("refund", {}, 400, "invalid", "amount"),
        ("refund", {"amount": 0}, 400, "invalid", "amount"),
        ("refund", {"amount": "500"}, 400, "invalid", "amount"),
        ("refund", {"amount": 5.0}, 400, "invalid", "amount"),
        ("refund", {"amount": 2001}, 409, "refund_exceeds_paid", "amount"),
        ("deliver", {}, 409, "invalid_transition", "order"),
    ],
)
async def test_bad_input_is_refused_by_field_and_changes_nothing(
    server: LiveServer,
    http: httpx.AsyncClient,
    show: str,
    move: str,
    body: Any,
    status: int,
    code: str,
    field: str,
) -> None:
    order = await bought(server, show, "ana", "k1")
    raw = Redis.from_url(server.runtime.settings.redis.url)
    try:
        before = await snapshot(raw)
        content = b"" if body is None else orjson.dumps(body)
        response = await http.post(
            f"/api/orders/{order['id']}/{move}",
            content=content,
            headers={**KEY, "content-type": "application/json"},
        )
        assert response.status_code == status, response.text
        assert (response.json()["error"], response.json()["field"]) == (code, field)
        assert differences(before, await snapshot(raw)) == []
    finally:
        await raw.aclose()


@pytest.mark.parametrize("move", ["fulfil", "deliver", "cancel", "refund"])
async def test_each_move_needs_the_api_key_and_an_order_that_exists(
    http: httpx.AsyncClient, show: str, move: str
) -> None:
    body = {"fulfil": TRACKING, "deliver": {}, "cancel": {}, "refund": {"amount": 1}}[move]
    anonymous = await http.post(f"/api/orders/o_1/{move}", json=body, headers=bearer("ana"))
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "api_key_invalid"
    missing = await post(http, "o_nothing", move, body)
    assert missing.status_code == 404
    assert (missing.json()["error"], missing.json()["field"]) == ("not_found", "order")
    malformed = await post(http, "o%7B1%7D", move, body)
    assert malformed.status_code == 400 and malformed.json()["field"] == "order"


async def test_orders_are_filtered_by_status_across_shows_and_in_one_show(
    server: LiveServer, http: httpx.AsyncClient, show: str
) -> None:
    made = [await bought(server, show, buyer, f"k-{buyer}") for buyer in ("a1", "a2", "a3", "a4")]
    await post(http, made[0]["id"], "fulfil", TRACKING)
    await post(http, made[2]["id"], "fulfil", TRACKING)
    await post(http, made[1]["id"], "cancel", {})

    async def listed(**params: str) -> list[str]:
        ids: list[str] = []
        after = None
        while True:
            query = {**params, "limit": "1", **({"after": after} if after else {})}
            response = await http.get("/api/orders", params=query, headers=KEY)
            assert response.status_code == 200, response.text
            ids += [o["id"] for o in response.json()["items"]]
            after = response.json()["next"]
            if after is None:
                return ids

    async def projected() -> bool:
        return await listed(status="confirmed") == [made[3]["id"]]

    await wait_for(projected, what="the copies following the lifecycle")
    assert await listed(status="fulfilled") == [made[2]["id"], made[0]["id"]]
    assert await listed(status="cancelled") == [made[1]["id"]]
    assert await listed(status="refunded") == []
    assert await listed(status="fulfilled", show=show) == [made[2]["id"], made[0]["id"]]
    bad = await http.get("/api/orders", params={"status": "shipped"}, headers=KEY)
    assert bad.status_code == 400 and bad.json()["field"] == "status"


async def test_orders_export_as_csv_one_row_per_line_with_tracking_and_no_formulas(
    server: LiveServer, http: httpx.AsyncClient, show: str
) -> None:
    shipped = await bought(server, show, "ana", "k1")
    await post(http, shipped["id"], "fulfil", TRACKING)
    hostile = make_order(
        show=show, buyer="eve", lines=[("p-plain", 1, 1000, 0), ("p-scarce", 3, 500, 0)]
    )
    hostile["contact"] = {"name": '=HYPERLINK("http://evil.example")', "email": "eve@example.com"}
    hostile["ship_to"] = {
        "name": "Eve",
        "line1": "+1 Main St",
        "line2": "",
        "city": "Uppsala",
        "postal_code": "753 20",
        "region": "",
        "country": "SE",
    }
    await record_confirmed_order(server.runtime.redis, hostile)

    async def exported() -> list[dict[str, str]]:
        response = await http.get("/api/orders.csv", headers=KEY)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert "x-next-after" not in response.headers
        return list(csv.DictReader(io.StringIO(response.text)))

    async def both() -> bool:
        rows = await exported()
        return {r["order"] for r in rows} == {shipped["id"], hostile["id"]} and any(
            r["status"] == "fulfilled" for r in rows
        )

    await wait_for(both, what="both orders in the export")
    rows = await exported()
    assert [r["order"] for r in rows] == [hostile["id"], hostile["id"], shipped["id"]]
    first, second, mine = rows
    assert (first["sku"], first["quantity"], second["sku"], second["quantity"]) == (
        "p-plain",
        "1",
        "p-scarce",
        "3",
    )
    assert first["contact_name"] == '\'=HYPERLINK("http://evil.example")'
    assert first["ship_to_line1"] == "'+1 Main St"
    assert first["order_total"] == "2500" and first["status"] == "confirmed"
    assert (mine["carrier"], mine["tracking_number"], mine["tracking_url"]) == (
        TRACKING["carrier"],
        TRACKING["tracking_number"],
        TRACKING["tracking_url"],
    )
    assert mine["quantity"] == "2" and mine["status"] == "fulfilled"
    only = await http.get("/api/orders.csv", params={"status": "fulfilled"}, headers=KEY)
    assert [r["order"] for r in csv.DictReader(io.StringIO(only.text))] == [shipped["id"]]
    bad = await http.get("/api/orders.csv", params={"status": "lost"}, headers=KEY)
    assert bad.status_code == 400 and bad.json()["field"] == "status"
    unknown = await http.get("/api/orders.csv", params={"show": "nope"}, headers=KEY)
    assert unknown.status_code == 404 and unknown.json()["field"] == "show"
    anonymous = await http.get("/api/orders.csv")
    assert anonymous.status_code == 401


async def test_the_creators_earnings_show_reversals_of_cancels_and_refunds_and_the_net(
    server: LiveServer, http: httpx.AsyncClient, show: str
) -> None:
    dropped = await bought(server, show, "ana", "k-rev-1")  # 2 x 1000 at 10%: 200
    repaid = await bought(server, show, "bob", "k-rev-2")
    assert (await post(http, dropped["id"], "cancel", {})).status_code == 200
    assert (await post(http, repaid["id"], "refund", {"amount": 700})).status_code == 200

    async def reversed_both() -> bool:
        body = (await http.get("/api/creators/c1/earnings", headers=KEY)).json()
        return bool(body.get("reversed") == {"EUR": 200 + 70})

    await wait_for(reversed_both, what="both reversals in the ledger")
    body = (await http.get("/api/creators/c1/earnings", headers=bearer("c1"))).json()
    assert body["totals"] == {"EUR": 400 - 270}
    assert body["earned"] == {"EUR": 400} and body["reversed"] == {"EUR": 270}
    items = body["items"]
    assert [i["kind"] for i in items] == ["reversal", "reversal", "commission", "commission"]
    by_order = {i["order"]: i for i in items[:2]}
    cancel, refund = by_order[dropped["id"]], by_order[repaid["id"]]
    assert (cancel["event"], cancel["amount"], cancel["reversed_total"]) == (
        "order.cancelled",
        200,
        200,
    )
    assert (refund["event"], refund["refund"], refund["amount"]) == (
        "order.refunded",
        f"{repaid['id']}-r1",
        70,
    )
    # The ledger pages through reversals like credits, by the entry's key.
    first = (await http.get("/api/creators/c1/earnings?limit=1", headers=KEY)).json()
    after = first["next"]
    rest = (await http.get(f"/api/creators/c1/earnings?after={after}", headers=KEY)).json()
    assert len(rest["items"]) == 3 and rest["next"] is None
