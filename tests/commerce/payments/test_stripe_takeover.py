"""A node died while Stripe was authorising its holds: a live node (real server, the
Stripe double over HTTP) notices its heartbeat is missing and settles each hold by
what Stripe says about the hold's PaymentIntent, found by its metadata."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from redis.asyncio import Redis

from livecart.commerce.payments.stripe_provider import StripeProvider
from livecart.commerce.sales.checkout import BuyRequest, new_id
from livecart.commerce.sales.keys import sale_keys
from livecart.config import Settings
from livecart.runtime import Runtime
from livecart.store import keys
from tests.commerce.conftest import SHOW, Units, assert_units_add_up, seed_show, units
from tests.commerce.order_fixtures import wait_for
from tests.helpers import LiveServer, bearer, serve_app
from tests.stripe_double import DECLINING_CARD, StripeDouble, double, save_a_card, stripe_settings

__all__ = ["double"]
DEAD = "node-that-died"


@pytest.fixture
async def live(settings: Settings, redis: Redis, double: StripeDouble) -> AsyncIterator[LiveServer]:
    async with serve_app(stripe_settings(settings, double)) as server:
        await seed_show(server.runtime)
        yield server


async def hold_on_dead_node(runtime: Runtime, buyer: str, key: str) -> dict[str, object]:
    """What the dead node left: units held for a tap, its name and order id in the hold."""
    request = BuyRequest(sku="p-plain", quantity=2, idempotency_key=key)
    s = runtime.settings
    reply = await runtime.scripts["reserve"](
        keys=sale_keys(SHOW, buyer=buyer, idempotency_key=key),
        args=[
            buyer,
            new_id("h"),
            request.fingerprint(SHOW, buyer),
            key,
            s.checkout.hold_seconds,
            s.checkout.idempotency_ttl_s,
            1000,
            "",
            0,
            "p-plain",
            2,
            -1,
            DEAD,
            new_id("o"),
        ],
    )
    assert reply[0] == "held"
    hold: dict[str, object] = orjson.loads(reply[1])
    return hold


async def test_a_dead_nodes_holds_are_settled_by_what_stripe_says(
    live: LiveServer, double: StripeDouble
) -> None:
    runtime = live.runtime
    stripe = runtime.payments
    assert isinstance(stripe, StripeProvider)
    maya, dan = bearer(sub="maya"), bearer(sub="dan")
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as http:
        await save_a_card(http, double, maya)
        await save_a_card(http, double, dan, DECLINING_CARD)

        paid = await hold_on_dead_node(runtime, "maya", "paid")
        await hold_on_dead_node(runtime, "maya", "never-asked")  # died before asking
        declined = await hold_on_dead_node(runtime, "dan", "declined")
        # The dead node's authorisations reached Stripe; their answers never came back.
        for hold in (paid, declined):
            await stripe.authorise(
                hold_id=str(hold["id"]),
                buyer=str(hold["buyer"]),
                amount=2000,
                currency="EUR",
                show=SHOW,
                order_id=str(hold["order"]),
            )
        (intent,) = [
            i for i in double.payment_intents.values() if i["status"] == "requires_capture"
        ]
        assert await units(runtime.redis, "p-plain") == Units(44, 6, 0, 50)

        # The node is known and has no heartbeat: it is dead.
        await runtime.redis.zadd(keys.nodes(), {DEAD: 1})

        async def settled() -> bool:
            return await runtime.redis.hlen(keys.show_holds(SHOW)) == 0

        await wait_for(settled, within=3, what="the dead node's holds settled")
        assert await units(runtime.redis, "p-plain") == Units(48, 0, 2, 50)
        await assert_units_add_up(runtime.redis)

        async def tap(headers: dict[str, str], key: str) -> httpx.Response:
            return await http.post(
                f"/api/shows/{SHOW}/buy",
                headers=headers,
                json={"sku": "p-plain", "quantity": 2, "idempotency_key": key},
            )

        confirmed = await tap(maya, "paid")
        assert confirmed.status_code == 201, confirmed.text
        order = confirmed.json()["order"]
        assert order["id"] == paid["order"]  # the order the dead node would have written
        assert order["payment"] == {"provider": "stripe", "reference": intent["id"]}
        assert intent["status"] == "requires_capture"  # kept, to capture when it ships
        assert (await tap(maya, "never-asked")).json()["result"] == "payment_error"
        assert (await tap(dan, "declined")).json()["result"] == "payment_declined"
        assert await runtime.redis.zcard(keys.show_orders(SHOW)) == 1
        assert DEAD not in await runtime.redis.zrange(keys.nodes(), 0, -1)
