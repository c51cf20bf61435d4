"""An order's lifecycle move reaches the show's staff as ``order_status`` (id and
status only) and never its viewers (docs/protocol.md); a cancellation's units reach
everyone as ``stock``."""

from __future__ import annotations

import orjson

from livecart.commerce.orders.lifecycle import (
    Cancellation,
    Fulfilment,
    cancel_order,
    fulfil_order,
)
from livecart.commerce.sales import checkout
from livecart.commerce.sales.checkout import BuyRequest
from livecart.commerce.shows import control as show_control
from livecart.store import keys
from tests.commerce.order_fixtures import wait_for
from tests.helpers import LiveServer
from tests.hub.live import SHOW, HubClient, live, token, ws_url

__all__ = ["live"]  # the fixture, used by name


async def test_a_move_is_shown_to_staff_with_only_id_and_status_and_never_to_viewers(
    live: LiveServer,
) -> None:
    runtime = live.runtime
    orders = []
    for key in ("k1", "k2"):
        outcome = await checkout.buy(
            runtime, SHOW, "ana", BuyRequest(sku="p-plain", quantity=1, idempotency_key=key)
        )
        assert outcome.order is not None
        orders.append(outcome.order["id"])

    async def projected() -> bool:
        return all([await runtime.redis.exists(keys.order(o)) for o in orders])

    await wait_for(projected, what="the orders projected")
    async with (
        await HubClient.open(ws_url(live, token=token("mo", "moderator", SHOW))) as mod,
        await HubClient.open(ws_url(live, token=token("ben"))) as viewer,
    ):
        shipped, dropped = orders
        await fulfil_order(
            runtime, shipped, Fulfilment(carrier="DHL", tracking_number="JD1", tracking_url="")
        )
        await cancel_order(runtime, dropped, Cancellation(reason=""))
        first = await mod.event("order_status", lambda e: e["data"]["order"] == shipped)
        assert first["data"] == {"order": shipped, "status": "fulfilled"}
        second = await mod.event("order_status", lambda e: e["data"]["order"] == dropped)
        assert second["data"] == {"order": dropped, "status": "cancelled"}
        assert b"JD1" not in orjson.dumps(mod.events)
        # The cancelled unit is back in stock for everyone; a later public event shows
        # the viewer's frames went past both moves without them.
        stock = await viewer.event("stock", lambda e: e["data"]["sku"] == "p-plain")
        assert stock["data"]["stock"] == 49
        await show_control.adjust_stock(runtime, SHOW, "p-scarce", 1)
        await viewer.event("stock", lambda e: e["data"]["sku"] == "p-scarce")
        assert not any(e["type"] == "order_status" for e in viewer.events)
