"""The stripe provider against a local double of Stripe's API (tests/stripe_double.py),
with a real node and a real Redis: a tap charges the saved card (authorised, captured
when the order ships), a decline or a lost answer gives the units back at once and
leaves no authorisation behind, retries never charge twice, refunds stay within what
was paid, and Stripe's late reports are reconciled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from redis.asyncio import Redis

from livecart.commerce.payments.providers import Authorisation, PaymentError
from livecart.commerce.payments.stripe_provider import StripeProvider
from livecart.config import Settings
from livecart.store import keys
from tests.commerce.conftest import SHOW, seed_show, units
from tests.commerce.order_fixtures import wait_for
from tests.helpers import STRONG_ADMIN_KEY, LiveServer, bearer, serve_app
from tests.keyspace import differences, snapshot
from tests.stripe_double import (
    DECLINING_CARD,
    StripeDouble,
    double,
    event,
    save_a_card,
    signed,
    stripe_settings,
)

KEY = {"X-API-Key": STRONG_ADMIN_KEY}
TRACKING = {"carrier": "PostNord", "tracking_number": "00370712345", "tracking_url": ""}
MAYA = bearer(sub="maya")


__all__ = ["double"]


@pytest.fixture
def capture() -> str:
    return "fulfil"


@pytest.fixture
async def live(
    settings: Settings, redis: Redis, double: StripeDouble, capture: str
) -> AsyncIterator[LiveServer]:
    async with serve_app(stripe_settings(settings, double, capture=capture)) as server:
        await seed_show(server.runtime)
        yield server


@pytest.fixture
async def http(live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
        yield client


def provider(live: LiveServer) -> StripeProvider:
    payments = live.runtime.payments
    assert isinstance(payments, StripeProvider)
    return payments


async def tap(
    http: httpx.AsyncClient, key: str, headers: dict[str, str] = MAYA, sku: str = "p-plain"
) -> httpx.Response:
    return await http.post(
        f"/api/shows/{SHOW}/buy",
        headers=headers,
        json={"sku": sku, "quantity": 2, "idempotency_key": key},
    )


async def projected(live: LiveServer, order_id: str) -> None:
    async def copied() -> bool:
        return bool(await live.runtime.redis.exists(keys.order(order_id)))

    await wait_for(copied, what="the order projected")


async def test_a_saved_card_is_authorised_on_a_tap_and_captured_when_the_order_ships(
    live: LiveServer, http: httpx.AsyncClient, double: StripeDouble
) -> None:
    me = await save_a_card(http, double, MAYA)
    assert me["card"] == {"brand": "visa", "last4": "4242"}

    bought = await tap(http, "tap-1")
    assert bought.status_code == 201, bought.text
    order = bought.json()["order"]
    (intent,) = double.payment_intents.values()
    assert order["payment"] == {"provider": "stripe", "reference": intent["id"]}
    assert intent["status"] == "requires_capture" and intent["amount"] == 2000
    assert (intent["currency"], intent["capture_method"]) == ("eur", "manual")
    assert (intent["confirm"], intent["off_session"]) == ("true", "true")
    assert intent["payment_method"] == double.intents_of(intent["customer"])[0]["payment_method"]
    assert intent["metadata"]["livecart_order"] == order["id"]
    assert double.captures == []  # capture = "fulfil": nothing taken before it ships

    await projected(live, order["id"])
    fulfilled = await http.post(f"/api/orders/{order['id']}/fulfil", json=TRACKING, headers=KEY)
    assert fulfilled.status_code == 200, fulfilled.text
    assert intent["status"] == "succeeded"
    assert double.captures == [(intent["id"], 2000)]


@pytest.mark.parametrize("capture", ["confirm"])
async def test_with_capture_on_confirm_the_payment_is_taken_at_once_and_only_once(
    live: LiveServer, http: httpx.AsyncClient, double: StripeDouble
) -> None:
    await save_a_card(http, double, MAYA)
    order = (await tap(http, "tap-1")).json()["order"]
    (intent,) = double.payment_intents.values()
    assert intent["status"] == "succeeded" and double.captures == [(intent["id"], 2000)]

    await projected(live, order["id"])
    fulfilled = await http.post(f"/api/orders/{order['id']}/fulfil", json=TRACKING, headers=KEY)
    assert fulfilled.status_code == 200, fulfilled.text
    assert double.captures == [(intent["id"], 2000)]  # fulfilling again captured nothing

    # Cancelling an order whose payment was captured gives the money back in full.
    other = (await tap(http, "tap-2")).json()["order"]
    await projected(live, other["id"])
    cancelled = await http.post(f"/api/orders/{other['id']}/cancel", json={}, headers=KEY)
    assert cancelled.status_code == 200, cancelled.text
    (refund,) = double.refunds.values()
    assert (refund["payment_intent"], refund["amount"]) == (other["payment"]["reference"], 2000)


async def test_an_order_whose_capture_fails_is_not_marked_fulfilled(
    live: LiveServer, http: httpx.AsyncClient, double: StripeDouble
) -> None:
    """The authorisation lapsed at Stripe (here: cancelled there): fulfilling answers
    502 payment_error and the order stays confirmed, so the merchant does not ship."""
    await save_a_card(http, double, MAYA)
    order = (await tap(http, "tap-1")).json()["order"]
    await projected(live, order["id"])
    double.payment_intents[order["payment"]["reference"]]["status"] = "canceled"
    refused = await http.post(f"/api/orders/{order['id']}/fulfil", json=TRACKING, headers=KEY)
    assert refused.status_code == 502 and refused.json()["error"] == "payment_error"
    stored = await live.runtime.redis.get(keys.show_order(SHOW, order["id"]))
    assert stored is not None and '"status":"confirmed"' in stored
    assert double.captures == []


async def test_a_declined_card_releases_the_units_at_once(
    live: LiveServer, http: httpx.AsyncClient, double: StripeDouble
) -> None:
    await save_a_card(http, double, MAYA, number=DECLINING_CARD)
    declined = await tap(http, "tap-1")
    assert declined.status_code == 402 and declined.json()["result"] == "payment_declined"
    u = await units(live.runtime.redis, "p-plain")
    assert (u.stock, u.held, u.sold) == (50, 0, 0)
    (intent,) = double.payment_intents.values()
    assert intent["status"] == "requires_payment_method" and double.captures == []


async def test_a_buyer_without_a_card_is_asked_for_one_and_nothing_is_held(
    live: LiveServer, http: httpx.AsyncClient, double: StripeDouble
) -> None:
    refused = await tap(http, "tap-1")
    assert refused.json() == {"result": "card_required", "replayed": False, "sku": "p-plain"}
    u = await units(live.runtime.redis, "p-plain")
    assert (u.stock, u.held, u.sold) == (50, 0, 0)
    assert double.payment_intents == {}


@pytest.mark.parametrize("failure", ["stall", "drop"])
async def test_a_lost_answer_cancels_the_payment_intent_and_releases_the_units(
    live: LiveServer, http: httpx.AsyncClient, double: StripeDouble, failure: str
) -> None:
    """Stripe made the PaymentIntent, but its answer came too late (``stall``: past
    stripe.timeout_s) or never (``drop``: the connection closed). The buy fails with
    payment_error, its units go back, and the authorisation is found by the hold id
    and cancelled, so the buyer's card is not left holding the money."""
    await save_a_card(http, double, MAYA)
    if failure == "stall":
        double.stall_s = 1.5
    else:
        double.drop_next = True
    failed = await tap(http, "tap-1")
    assert failed.status_code == 409 and failed.json()["result"] == "payment_error"
    u = await units(live.runtime.redis, "p-plain")
    assert (u.stock, u.held, u.sold) == (50, 0, 0)
    (intent,) = double.payment_intents.values()
    assert intent["status"] == "canceled"


async def test_the_same_tap_retried_makes_one_payment_intent(
    live: LiveServer, http: httpx.AsyncClient, double: StripeDouble
) -> None:
    await save_a_card(http, double, MAYA)
    first, again = await tap(http, "tap-1"), await tap(http, "tap-1")
    assert again.json()["replayed"] and again.json()["order"]["id"] == first.json()["order"]["id"]
    assert len(double.payment_intents) == 1

    # The provider asked twice for one hold (a node retrying) gets the first intent back.
    payments = provider(live)

    async def ask(amount: int) -> Authorisation:
        return await payments.authorise(
            hold_id="h_retried", buyer="maya", amount=amount, currency="USD"
        )

    one, two = await ask(700), await ask(700)
    assert one.approved and one.reference == two.reference
    assert len(double.payment_intents) == 2
    # The same key with other parameters is Stripe's idempotency error, never a charge.
    with pytest.raises(PaymentError, match=r"same parameters"):
        await ask(800)
    assert len(double.payment_intents) == 2


async def test_a_retried_capture_captures_once(
    live: LiveServer, http: httpx.AsyncClient, double: StripeDouble
) -> None:
    await save_a_card(http, double, MAYA)
    order = (await tap(http, "tap-1")).json()["order"]
    reference = order["payment"]["reference"]
    payments = provider(live)
    for _ in range(3):
        await payments.capture(
            order_id=order["id"], reference=reference, amount=2000, currency="EUR"
        )
    # Captured already under another key (another node's retry): done, not an error.
    await payments.capture(order_id="o_other", reference=reference, amount=2000, currency="EUR")
    assert double.captures == [(reference, 2000)]


async def test_a_capture_over_the_authorised_amount_is_refused(
    live: LiveServer, http: httpx.AsyncClient, double: StripeDouble
) -> None:
    await save_a_card(http, double, MAYA)
    order = (await tap(http, "tap-1")).json()["order"]
    with pytest.raises(PaymentError, match="amount_too_large"):
        await provider(live).capture(
            order_id=order["id"],
            reference=order["payment"]["reference"],
            amount=2001,
            currency="EUR",
        )
    assert double.captures == []


async def test_refunds_in_parts_and_in_full_go_through_stripe_and_never_exceed_the_capture(
    live: LiveServer, http: httpx.AsyncClient, double: StripeDouble
) -> None:
    await save_a_card(http, double, MAYA)
    order = (await tap(http, "tap-1")).json()["order"]
    await projected(live, order["id"])
    await http.post(f"/api/orders/{order['id']}/fulfil", json=TRACKING, headers=KEY)

    async def refund(amount: int) -> httpx.Response:
        return await http.post(
            f"/api/orders/{order['id']}/refund", json={"amount": amount}, headers=KEY
        )

    part = await refund(500)
    assert part.status_code == 200, part.text
    over = await refund(1501)
    assert over.status_code == 409 and over.json()["error"] == "refund_exceeds_paid"
    rest = await refund(1500)
    assert rest.status_code == 200 and rest.json()["status"] == "refunded"
    made = sorted((r["amount"], r["payment_intent"]) for r in double.refunds.values())
    reference = order["payment"]["reference"]
    assert made == [(500, reference), (1500, reference)]
    assert double.payment_intents[reference]["amount_refunded"] == 2000

    # Stripe itself refuses more than is left, whatever asks it.
    with pytest.raises(PaymentError, match="amount_too_large"):
        await provider(live).refund(
            refund_id=f"{order['id']}-r9",
            reference=reference,
            buyer="maya",
            amount=1,
            currency="EUR",
        )
    assert len(double.refunds) == 2


async def test_a_cancelled_order_cancels_its_payment_intent(
    live: LiveServer, http: httpx.AsyncClient, double: StripeDouble
) -> None:
    await save_a_card(http, double, MAYA)
    order = (await tap(http, "tap-1")).json()["order"]
    await projected(live, order["id"])
    cancelled = await http.post(f"/api/orders/{order['id']}/cancel", json={}, headers=KEY)
    assert cancelled.status_code == 200, cancelled.text
    assert double.payment_intents[order["payment"]["reference"]]["status"] == "canceled"


# --- webhooks ----------------------------------------------------------------------------


async def webhook(http: httpx.AsyncClient, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if signature is not None:
        headers["stripe-signature"] = signature
    return await http.post("/api/payments/stripe/webhook", content=body, headers=headers)


async def test_a_late_authorisation_for_a_released_hold_is_cancelled(
    live: LiveServer, http: httpx.AsyncClient, double: StripeDouble
) -> None:
    """Stripe authorised after livecart gave up on the hold (released it): the
    PaymentIntent it reports is cancelled. One for a confirmed order is kept."""
    await save_a_card(http, double, MAYA)
    order = (await tap(http, "tap-1")).json()["order"]
    late = await provider(live).authorise(
        hold_id="h_released",
        buyer="maya",
        amount=1000,
        currency="EUR",
        show=SHOW,
        order_id="o_never",
    )
    assert late.approved
    kinds = "payment_intent.amount_capturable_updated"
    for reference, action in (
        (late.reference, "cancelled"),
        (order["payment"]["reference"], "kept"),
    ):
        body = event(kinds, double.payment_intents[reference])
        answer = await webhook(http, body, signed(body))
        assert answer.status_code == 200 and answer.json()["action"] == action
    assert double.payment_intents[late.reference]["status"] == "canceled"

    # One already captured (payment_intent.succeeded) cannot be cancelled: it is refunded.
    paid = await provider(live).authorise(
        hold_id="h_released_too",
        buyer="maya",
        amount=300,
        currency="EUR",
        show=SHOW,
        order_id="o_never_too",
    )
    await provider(live).capture(
        order_id="o_never_too", reference=paid.reference, amount=300, currency="EUR"
    )
    body = event("payment_intent.succeeded", double.payment_intents[paid.reference])
    answer = await webhook(http, body, signed(body))
    assert answer.json()["action"] == "refunded"
    (refund,) = double.refunds.values()
    assert (refund["payment_intent"], refund["amount"]) == (paid.reference, 300)
    assert double.payment_intents[order["payment"]["reference"]]["status"] == "requires_capture"
    metrics = (await http.get("/metrics")).text
    assert f'livecart_stripe_events_total{{action="cancelled",type="{kinds}"}} 1.0' in metrics


@pytest.mark.parametrize(
    "signature",
    [None, "", "t=1,v1=00", "wrong-secret", "too-old"],
)
async def test_a_webhook_without_a_good_signature_is_refused_and_changes_nothing(
    live: LiveServer, http: httpx.AsyncClient, double: StripeDouble, signature: str | None
) -> None:
    await save_a_card(http, double, MAYA)
    payments = provider(live)
    auth = await payments.authorise(
        hold_id="h_released",
        buyer="maya",
        amount=1000,
        currency="EUR",
        show=SHOW,
        order_id="o_never",
    )
    body = event("payment_intent.amount_capturable_updated", double.payment_intents[auth.reference])
    header = {
        "wrong-secret": signed(body, secret="whsec_not_this_one"),
        "too-old": signed(body, at=1_000_000_000),
    }.get(signature or "", signature)
    raw = Redis.from_url(live.runtime.settings.redis.url)
    try:
        before = await snapshot(raw)
        answer = await webhook(http, body, header)
        assert answer.status_code == 400, answer.text
        assert answer.json()["field"] == "stripe-signature"
        assert differences(before, await snapshot(raw)) == []
    finally:
        await raw.aclose()
    assert double.payment_intents[auth.reference]["status"] == "requires_capture"


async def test_the_provider_cannot_be_used_without_a_profile(
    live: LiveServer, double: StripeDouble
) -> None:
    auth = await provider(live).authorise(hold_id="h_x", buyer="nobody", amount=100, currency="EUR")
    assert (auth.approved, auth.code) == (False, "card_required")
    assert double.payment_intents == {}


async def test_a_refund_before_the_capture_reduces_or_cancels_the_authorisation_once(
    live: LiveServer, http: httpx.AsyncClient, double: StripeDouble
) -> None:
    """capture = "fulfil": an order refunded before it ships has no charge yet. Part of
    it is given back by capturing only the rest; all of it by cancelling; a retried
    refund (same id) finds it done and takes nothing more."""
    await save_a_card(http, double, MAYA)
    order = (await tap(http, "tap-1")).json()["order"]
    await projected(live, order["id"])
    reference = order["payment"]["reference"]

    part = await http.post(f"/api/orders/{order['id']}/refund", json={"amount": 500}, headers=KEY)
    assert part.status_code == 200, part.text
    assert double.captures == [(reference, 1500)] and double.refunds == {}
    again = await provider(live).refund(
        refund_id=f"{order['id']}-r1", reference=reference, buyer="maya", amount=500, currency="EUR"
    )
    assert again == reference and double.captures == [(reference, 1500)]
    assert double.refunds == {}
    # Fulfilling later finds the payment captured: nothing more is taken.
    shipped = await http.post(f"/api/orders/{order['id']}/fulfil", json=TRACKING, headers=KEY)
    assert shipped.status_code == 200, shipped.text
    assert double.captures == [(reference, 1500)]

    other = (await tap(http, "tap-2")).json()["order"]
    await projected(live, other["id"])
    whole = await http.post(f"/api/orders/{other['id']}/refund", json={"amount": 2000}, headers=KEY)
    assert whole.status_code == 200 and whole.json()["status"] == "refunded"
    assert double.payment_intents[other["payment"]["reference"]]["status"] == "canceled"
    assert double.refunds == {}


async def test_an_auction_winner_is_charged_on_the_saved_card_and_one_without_is_refused(
    live: LiveServer, http: httpx.AsyncClient, double: StripeDouble
) -> None:
    """A bidder with no card cannot bid (a win they could not pay for would only wait
    for a second chance); the winner's card is charged once, keyed by the award's hold
    id, and Stripe's report of that charge keeps the order."""
    started = await http.post(
        f"/api/shows/{SHOW}/auctions",
        headers=KEY,
        json={"sku": "p-plain", "start_price": 1000, "increment": 100, "duration_s": 5},
    )
    auction = started.json()["id"]
    bids = f"/api/shows/{SHOW}/auctions/{auction}/bids"
    no_card = await http.post(bids, headers=bearer(sub="ana"), json={"amount": 1000})
    assert no_card.json() == {"result": "card_required", "auction": None}
    await save_a_card(http, double, MAYA)
    placed = await http.post(bids, headers=MAYA, json={"amount": 1000})
    assert placed.json()["result"] == "leading"

    async def paid() -> dict[str, Any]:
        while True:
            view = (await http.get(f"/api/shows/{SHOW}/auctions/{auction}")).json()
            if view["payment"] in ("paid", "unpaid"):
                return view
            await asyncio.sleep(0.1)

    view = await asyncio.wait_for(paid(), 15)
    assert view["payment"] == "paid", view
    order = orjson.loads(await live.runtime.redis.get(keys.show_order(SHOW, view["order"])))
    assert order["payment"]["provider"] == "stripe" and order["auction"] == auction
    (intent,) = [
        i
        for i in double.payment_intents.values()
        if i["metadata"].get("livecart_hold") == f"auction-{auction}-1"
    ]
    assert intent["amount"] == order["total"] and intent["id"] == order["payment"]["reference"]
    kept = await provider(live).reconcile("payment_intent.amount_capturable_updated", intent)
    assert kept == "kept"
