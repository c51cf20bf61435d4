"""An order's whole way, on real parts: a buyer taps Buy over HTTP with a share link's
ref; the merchant's receiver gets one signed webhook (after failing once); the creator's
ledger and the order indexes count it once; the buyer and the merchant read it back."""

from __future__ import annotations

import asyncio

import httpx

from livecart.auth.tokens import issue_token
from livecart.config import Settings
from tests.commerce.conftest import SHOW, seed_show
from tests.commerce.order_fixtures import FAST_WEBHOOKS, Receiver, serving, wait_for
from tests.helpers import STRONG_ADMIN_KEY, STRONG_SECRET, serve_app

KEY = {"X-API-Key": STRONG_ADMIN_KEY}


async def test_a_tap_becomes_one_signed_webhook_one_ledger_entry_and_readable_orders(
    settings: Settings, redis: object
) -> None:
    node_settings = settings.with_overrides(FAST_WEBHOOKS).with_overrides(
        {"checkout": {"payment_provider": "test"}}
    )
    async with (
        serving(Receiver(fail_first=1)) as receiver,
        serve_app(node_settings) as node,
        httpx.AsyncClient(base_url=node.url) as http,
    ):
        await seed_show(node.runtime)
        hook = await http.put("/api/brands/b1/webhook", json={"url": receiver.url}, headers=KEY)
        assert hook.status_code == 201, hook.text
        secret = hook.json()["secret"]

        link = await http.get("/api/creators/c2/share-link", params={"show": SHOW})
        assert link.json()["ref"] == "c2"
        buyer = {
            "Authorization": "Bearer "
            + issue_token(STRONG_SECRET, sub="ana", role="viewer", ttl_s=600)
        }
        tap = {"sku": "p-plain", "quantity": 2, "idempotency_key": "t1", "ref": "c2"}
        bought = await http.post(f"/api/shows/{SHOW}/buy", json=tap, headers=buyer)
        assert bought.status_code == 201
        order = bought.json()["order"]
        assert order["attribution"] == {"creator": "c2", "source": "link"}

        # The receiver failed the first attempt; the retry carries the same id.
        async def two_requests() -> bool:
            return len(receiver.requests) >= 2

        await wait_for(two_requests, within=10, what="the webhook and its retry")
        await asyncio.sleep(0.3)  # nothing more should arrive
        payloads = receiver.verified(secret)
        assert len(payloads) == 2 and len(set(receiver.ids())) == 1
        assert payloads[-1]["type"] == "order.confirmed"
        assert payloads[-1]["data"]["id"] == order["id"]
        assert payloads[-1]["data"]["total"] == 2000

        earnings = await http.get("/api/creators/c2/earnings", headers=KEY)
        assert earnings.json()["totals"] == {"EUR": 200}  # 10 % of 2 000 cents
        mine = await http.get("/api/me/orders", headers=buyer)
        assert [o["id"] for o in mine.json()["items"]] == [order["id"]]
        listed = await http.get("/api/orders", params={"show": SHOW}, headers=KEY)
        assert [o["id"] for o in listed.json()["items"]] == [order["id"]]

        # The retry of the tap is the same order, and changes none of the above.
        again = await http.post(f"/api/shows/{SHOW}/buy", json=tap, headers=buyer)
        assert again.json()["order"]["id"] == order["id"] and again.json()["replayed"]
        await asyncio.sleep(0.3)
        assert len(receiver.requests) == 2
        assert (await http.get("/api/creators/c2/earnings", headers=KEY)).json()["totals"] == {
            "EUR": 200
        }
