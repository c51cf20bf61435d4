"""A user banned from a show buys nothing in it, over HTTP or the WebSocket: the tap,
the cart and its checkout answer ``banned`` (409, as every refusal of a sale) and leave
the show's keys as they were; once unbanned, the same user buys again."""

from __future__ import annotations

from typing import Any

import httpx
from redis.asyncio import Redis

from livecart.hub import moderation
from tests.helpers import LiveServer, bearer
from tests.hub.live import SHOW, HubClient, live, settings, token, ws_url
from tests.hub.test_session import slot_state

__all__ = ["live", "settings"]  # the fixtures, used by name

BUY = f"/api/shows/{SHOW}/buy"
CART = f"/api/shows/{SHOW}/cart"
CHECKOUT = f"/api/shows/{SHOW}/cart/checkout"


async def show_keys(redis: Redis) -> dict[str, Any]:
    """Every key of the show's slot (stock, held, holds, carts, orders, the stream...),
    idempotency records aside: a refusal is remembered as its key's first outcome."""
    return {k: v for k, v in (await slot_state(redis)).items() if ":idem:" not in k}


async def test_a_banned_viewer_is_refused_banned_over_http_on_every_path_then_buys_when_unbanned(
    live: LiveServer,
) -> None:
    redis = live.runtime.redis
    async with httpx.AsyncClient(base_url=live.url, headers=bearer("ben")) as http:
        added = await http.post(CART, json={"sku": "p-plain", "quantity": 2})
        assert added.status_code == 200, added.text
        async with await HubClient.open(ws_url(live, token=token("mo", "moderator", SHOW))) as mod:
            assert (await mod.request("ban", user="ben"))["changed"] is True

        before = await show_keys(redis)
        tap = await http.post(BUY, json={"sku": "p-plain", "idempotency_key": "t1"})
        assert tap.status_code == 409
        assert tap.json() == {"result": "banned", "replayed": False, "sku": "p-plain"}
        cart = await http.post(CART, json={"sku": "p-limited"})
        assert cart.status_code == 409
        assert cart.json()["error"] == "banned" and "field" not in cart.json()
        checkout = await http.post(CHECKOUT, json={"idempotency_key": "c1"})
        assert checkout.status_code == 409
        assert checkout.json() == {"result": "banned", "replayed": False}
        assert await show_keys(redis) == before

        assert await moderation.unban(live.runtime, SHOW, "ben", by="mo") is True
        tap = await http.post(BUY, json={"sku": "p-plain", "idempotency_key": "t2"})
        assert tap.status_code == 201 and tap.json()["result"] == "confirmed"
        checkout = await http.post(CHECKOUT, json={"idempotency_key": "c2"})
        assert checkout.status_code == 201 and checkout.json()["order"]["total"] == 2000


async def test_over_the_websocket_a_banned_id_is_refused_banned_even_for_an_admin(
    live: LiveServer,
) -> None:
    """An admin keeps their socket in a show that banned their id (they operate the
    platform), but buys there like anyone with that id: refused, as their chat is."""
    redis = live.runtime.redis
    assert await moderation.ban(live.runtime, SHOW, "root", by="mo") is True
    async with await HubClient.open(ws_url(live, token=token("root", "admin"))) as root:
        before = await show_keys(redis)
        tap = await root.request("buy", sku="p-plain", idempotency_key="w1")
        assert tap["type"] == "order"
        assert {k: tap[k] for k in ("for", "result", "sku")} == {
            "for": "buy",
            "result": "banned",
            "sku": "p-plain",
        }
        cart = await root.request("cart_add", sku="p-plain")
        assert (cart["type"], cart["code"], cart["for"]) == ("error", "banned", "cart_add")
        checkout = await root.request("checkout", idempotency_key="w2")
        assert (checkout["type"], checkout["result"]) == ("order", "banned")
        chat = await root.request("chat", text="hello")
        assert (chat["type"], chat["code"]) == ("error", "banned")
        assert await show_keys(redis) == before

        assert await moderation.unban(live.runtime, SHOW, "root", by="mo") is True
        tap = await root.request("buy", sku="p-plain", idempotency_key="w3")
        assert (tap["type"], tap["result"]) == ("order", "confirmed")
