"""Auctions and giveaways over real HTTP: who may do what (the merchant's key, the
show's staff, viewers), bids answered with their result, the merchant's listings,
and bad input refused with nothing changed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from livecart.config import Settings
from livecart.store import keys
from tests.commerce.conftest import SHOW, seed_show
from tests.helpers import STRONG_ADMIN_KEY, LiveServer, bearer, serve_app

KEY = {"X-API-Key": STRONG_ADMIN_KEY}
START = {"sku": "p-plain", "start_price": 1000, "increment": 100, "duration_s": 60}


@pytest.fixture
async def live(settings: Settings, redis: object) -> Any:
    async with serve_app(settings.with_overrides({"checkout": {"payment_provider": "test"}})) as s:
        await seed_show(s.runtime)
        yield s


async def auction_state(server: LiveServer, auction: str) -> dict[str, Any]:
    redis = server.runtime.redis
    return {
        "auction": await redis.hgetall(keys.show_auction(SHOW, auction)),
        "bids": await redis.lrange(keys.show_auction_bids(SHOW, auction), 0, -1),
        "events": await redis.xlen(keys.show_events(SHOW)),
        "stock": await redis.hgetall(keys.show_stock(SHOW)),
    }


async def test_roles_bids_listings_and_bad_input(live: LiveServer) -> None:
    base = f"/api/shows/{SHOW}/auctions"
    async with httpx.AsyncClient(base_url=live.url) as http:
        viewer = await http.post(base, json=START, headers=bearer())
        assert viewer.status_code == 403
        moderator = await http.post(base, json=START, headers=bearer("m1", "moderator", SHOW))
        assert moderator.status_code == 403
        elsewhere = await http.post(base, json=START, headers=bearer("c9", "streamer", "s9"))
        assert elsewhere.status_code == 403
        started = await http.post(base, json=START, headers=bearer("c1", "streamer", SHOW))
        assert started.status_code == 201, started.text
        auction = started.json()["id"]
        path = f"{base}/{auction}"

        placed = await http.post(f"{path}/bids", json={"amount": 1000}, headers=bearer("ana"))
        assert placed.status_code == 200 and placed.json()["result"] == "leading"
        low = await http.post(f"{path}/bids", json={"amount": 1000}, headers=bearer("bo"))
        assert low.json()["result"] == "bid_too_low"
        assert low.json()["auction"]["next_bid"] == 1100
        anonymous = await http.post(f"{path}/bids", json={"amount": 5000})
        assert anonymous.status_code == 401

        before = await auction_state(live, auction)
        for body, field in (
            ({"amount": -1}, "amount"),
            ({"amount": 1200.5}, "amount"),
            ({"amount": "1200"}, "amount"),
            ({"amount": 1200, "max": 1199}, "max"),
            ({"amount": 1200, "auction": auction}, "auction"),
            ({}, "amount"),
        ):
            bad = await http.post(f"{path}/bids", json=body, headers=bearer("bo"))
            assert bad.status_code == 400, (body, bad.text)
            assert bad.json()["field"] == field, bad.json()
        missing = await http.post(f"{base}/a_nope/bids", json={"amount": 5000}, headers=bearer())
        assert missing.status_code == 404 and missing.json()["error"] == "no_auction"
        assert await auction_state(live, auction) == before

        assert (await http.get(f"{base}", headers=bearer())).status_code == 403
        listed = await http.get(base, headers=KEY)
        assert [a["id"] for a in listed.json()["auctions"]] == [auction]
        bids = (await http.get(f"{path}/bids", headers=KEY)).json()["bids"]
        assert [(b["bidder"], b["price"]) for b in bids] == [("ana", 1000)]
        assert (await http.get(path)).json()["price"] == 1000  # anyone who may watch

        not_staff = await http.post(f"{path}/cancel", json={}, headers=bearer("bo"))
        assert not_staff.status_code == 403
        cancelled = await http.post(
            f"{path}/cancel", json={"reason": "wrong lot"}, headers=bearer("m1", "moderator", SHOW)
        )
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
        again = await http.post(f"{path}/cancel", json={}, headers=KEY)
        assert again.status_code == 409 and again.json()["error"] == "not_running"


async def test_giveaway_over_http(live: LiveServer) -> None:
    base = f"/api/shows/{SHOW}/giveaways"
    async with httpx.AsyncClient(base_url=live.url) as http:
        started = await http.post(base, json={"sku": "p-plain", "duration_s": 60}, headers=KEY)
        assert started.status_code == 201, started.text
        path = f"{base}/{started.json()['id']}"
        first = await http.post(f"{path}/entries", headers=bearer("ana"))
        assert first.status_code == 201 and first.json()["entrants"] == 1
        again = await http.post(f"{path}/entries", headers=bearer("ana"))
        assert again.status_code == 200 and again.json()["entered"] is False
        forbidden = await http.post(f"{path}/draw", headers=bearer("ana"))
        assert forbidden.status_code == 403
        drawn = await http.post(f"{path}/draw", headers=bearer("c1", "streamer", SHOW))
        assert drawn.status_code == 200 and drawn.json()["winner"] == "ana"
        late = await http.post(f"{path}/entries", headers=bearer("bo"))
        assert late.status_code == 409 and late.json()["error"] == "giveaway_ended"
        listed = (await http.get(base, headers=KEY)).json()["giveaways"]
        assert [g["winner"] for g in listed] == ["ana"]
