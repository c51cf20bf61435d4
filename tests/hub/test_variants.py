"""Variants through the hub: the streamer pins a product sold by variants, viewers get
the pinned event with each variant's live stock, a buy of one variant moves only its
stock event, and a viewer joining later gets the same card in its snapshot."""

from __future__ import annotations

import asyncio

from livecart.commerce.shows.control import start_show
from livecart.hub.room import SNAPSHOT_REUSE_S
from tests.commerce.sales.test_variants import SHOW, seed
from tests.helpers import LiveServer
from tests.hub.live import HubClient, settings, token, ws_url

__all__ = ["settings"]


async def test_a_pinned_product_reaches_viewers_with_its_variants_and_live_stock(
    server: LiveServer,
) -> None:
    await seed(server.runtime, {"tee-s-red": 3, "tee-m-blue": 4, "mug": 2})
    await start_show(server.runtime, SHOW)
    url = ws_url(server, SHOW, token=token("c1", "streamer", SHOW))
    async with (
        await HubClient.open(url) as streamer,
        await HubClient.open(ws_url(server, SHOW, token=token("ana"))) as ana,
    ):
        assert ana.hello["snapshot"]["show"]["pinned_product"] is None
        assert (await streamer.request("pin", sku="tee"))["changed"] is True
        pinned = await ana.event("pinned")
        assert pinned["data"]["sku"] == "tee"
        variants = pinned["data"]["product"]["variants"]
        assert [(v["sku"], v["stock"], v["variant"]["Size"]) for v in variants] == [
            ("tee-s-red", 3, "S"),
            ("tee-m-blue", 4, "M"),
        ]

        order = await ana.request("buy", sku="tee-m-blue", idempotency_key="k1", price=2500)
        assert order["result"] == "confirmed", order
        line = order["order"]["lines"][0]
        assert (line["product"], line["variant"]) == ("tee", {"Size": "M", "Colour": "Blue"})
        stock = await ana.event("stock")
        assert stock["data"] == {"sku": "tee-m-blue", "stock": 3}

    # Past the room's snapshot reuse, a newcomer's hello is read fresh from the show.
    await asyncio.sleep(SNAPSHOT_REUSE_S + 0.2)
    async with await HubClient.open(ws_url(server, SHOW, token=token("bo"))) as bo:
        show = bo.hello["snapshot"]["show"]
        assert show["pinned"] == "tee"
        card = show["pinned_product"]
        assert card["sku"] == "tee" and card["stock"] == 3 + 3
        assert [(v["sku"], v["stock"]) for v in card["variants"]] == [
            ("tee-s-red", 3),
            ("tee-m-blue", 3),
        ]
        assert {p["sku"]: p["stock"] for p in show["lineup"]} == {
            "tee-s-red": 3,
            "tee-m-blue": 3,
            "mug": 2,
        }
