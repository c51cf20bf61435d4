"""Payments over HTTP: a buyer's card on file, and Stripe's webhook.

The card endpoints take the buyer's token (any token's user with a profile) and work
only where ``checkout.payment_provider = "stripe"``: elsewhere there is no card to keep
and they answer 404 naming ``card``. The card number never reaches livecart: the page
hands it to Stripe.js, which confirms the SetupIntent livecart made; livecart then
keeps the payment method that SetupIntent saved (docs/api-buyers.md, "Card on file").

The webhook (docs/payments.md) is Stripe's, signed with the endpoint's secret; an
unsigned or wrongly signed request is refused with 400 before anything is read from it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import orjson
from starlette.requests import Request
from starlette.responses import Response

from livecart.api.edge import json_response, read_body, require_claims, runtime_of
from livecart.api.endpoint import RAW, Body, endpoint
from livecart.commerce.payments.providers import PaymentError
from livecart.errors import InvalidInput, NotFound
from livecart.runtime import Runtime

if TYPE_CHECKING:  # imported with the provider: `stripe` takes half a second to import
    from livecart.commerce.payments.stripe_provider import StripeProvider

log = logging.getLogger("livecart.payments")

SETUP_INTENT = re.compile(r"seti_[A-Za-z0-9]{1,200}")
MAX_WEBHOOK_BYTES = 256 * 1024  # Stripe's events are a few KB; its limit is far below this


def _setup_intent(d: Mapping[str, Any]) -> str:
    value = d.get("setup_intent")
    if value is None:
        raise InvalidInput("setup_intent is required", field="setup_intent")
    if not isinstance(value, str) or SETUP_INTENT.fullmatch(value) is None:
        raise InvalidInput(
            "setup_intent must be a Stripe SetupIntent id such as seti_1Abc...",
            field="setup_intent",
        )
    return value


SAVE_CARD = Body("a card to save", ("setup_intent",), lambda d, s: _setup_intent(d), max_bytes=1024)


def _stripe(runtime: Runtime, field: str = "card") -> StripeProvider:
    provider = runtime.payments
    if provider.name != "stripe":
        raise NotFound(
            f"this node takes payments with {provider.name!r}, not Stripe "
            "(checkout.payment_provider = 'stripe' keeps cards and takes its webhooks)",
            field=field,
        )
    return cast("StripeProvider", provider)


async def start_card_setup(request: Request) -> Response:
    claims = require_claims(request)
    provider = _stripe(runtime_of(request))
    setup = await provider.start_card_setup(claims.sub)
    return json_response(
        {"client_secret": setup["client_secret"], "publishable_key": setup["publishable_key"]},
        status=201,
    )


async def save_card(request: Request, setup_intent: str) -> Response:
    claims = require_claims(request)
    stored = await _stripe(runtime_of(request)).save_card(claims.sub, setup_intent)
    return json_response(stored.to_dict())


async def forget_card(request: Request) -> Response:
    claims = require_claims(request)
    stored = await _stripe(runtime_of(request)).forget_card(claims.sub)
    return json_response(stored.to_dict())


async def stripe_webhook(request: Request) -> Response:
    """Check Stripe's signature, then reconcile a PaymentIntent's late outcome.

    A 2xx tells Stripe the event was handled; an error (Redis or Stripe not answering)
    lets Stripe send it again later, and every action taken is safe to repeat."""
    runtime = runtime_of(request)
    provider = _stripe(runtime, field="provider")
    from livecart.commerce.payments.stripe_provider import LATE_OUTCOMES, ProviderUnavailable

    payload = await read_body(request, MAX_WEBHOOK_BYTES)
    provider.verify_webhook(payload, request.headers.get("stripe-signature"))
    try:
        event = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise InvalidInput("the event is not valid JSON", field="body") from None
    if not isinstance(event, dict):
        raise InvalidInput("the event must be a JSON object", field="body")
    event_type = event.get("type")
    data = event.get("data")
    intent = data.get("object") if isinstance(data, dict) else None
    if not isinstance(event_type, str) or not isinstance(intent, dict):
        raise InvalidInput("the event has no type or no data.object", field="body")
    try:
        action = await provider.reconcile(event_type, intent)
    except PaymentError as exc:
        raise ProviderUnavailable(f"{exc}; Stripe will send the event again") from None
    label = event_type if event_type in LATE_OUTCOMES else "other"
    runtime.metrics.stripe_events.labels(label, action).inc()
    if action != "ignored":
        log.info("stripe event %s for %s: %s", event_type, intent.get("id"), action)
    return json_response({"received": True, "action": action})


routes = [
    endpoint("/api/me/card/setup", "POST", start_card_setup),
    endpoint("/api/me/card", "POST", save_card, body=SAVE_CARD),
    endpoint("/api/me/card", "DELETE", forget_card),
    endpoint("/api/payments/stripe/webhook", "POST", stripe_webhook, body=RAW),
]
