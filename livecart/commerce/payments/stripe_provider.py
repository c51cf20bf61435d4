"""Stripe: charge the buyer's saved card, with one tap, without the buyer present.

A buyer saves a card once (a SetupIntent for off-session use, confirmed by Stripe.js on
the viewer page); livecart keeps the buyer's Stripe Customer id and the card's payment
method id on the buyer's profile. A tap then:

- authorises: a PaymentIntent for the hold's amount on the saved card, confirmed at
  once, off session, with manual capture, and the hold id as its Idempotency-Key (a
  retried authorisation finds the first PaymentIntent instead of making a second);
- captures when the order ships (``stripe.capture = "fulfil"``) or at once after the
  order is confirmed (``"confirm"``), with ``<order id>-capture`` as its key;
- voids (cancels the PaymentIntent) when the order is cancelled, or when the
  authorisation failed or timed out without an answer: then the PaymentIntent, if
  Stripe made one, is found among the customer's recent ones by the hold id in its
  metadata;
- refunds part or all of a captured payment, the refund id as its key;
- looks up what became of a hold's PaymentIntent (``lookup``), for a node that takes
  over the holds of a node that died mid-payment: found the same way, by the hold id in
  its metadata among the customer's recent PaymentIntents.

Stripe's webhooks tell of outcomes livecart did not wait for (``reconcile``): a
PaymentIntent authorised for a hold that livecart had already released (its answer came
too late) is cancelled, so a buyer is never left with a charge for units they did not
get.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import stripe
from redis.asyncio import Redis

from livecart.commerce.accounts import buyers
from livecart.commerce.auctions import awards
from livecart.commerce.payments.providers import Authorisation, PaymentError, PaymentLookup
from livecart.config import Settings
from livecart.errors import InvalidInput, LivecartError, NotFound
from livecart.store import keys

log = logging.getLogger("livecart.payments.stripe")

# How far back a void without a reference looks for the hold's PaymentIntent: a hold
# lives checkout.hold_seconds (an hour at most), so its PaymentIntent is younger.
FIND_WINDOW_S = 3600 + 300
# Statuses from which a PaymentIntent can be cancelled (Stripe's list).
CANCELLABLE = frozenset(
    {
        "requires_payment_method",
        "requires_capture",
        "requires_confirmation",
        "requires_action",
        "processing",
    }
)
# Webhook events that may report an authorisation or a charge livecart did not wait for.
LATE_OUTCOMES = frozenset({"payment_intent.amount_capturable_updated", "payment_intent.succeeded"})


class ProviderUnavailable(LivecartError):
    """Stripe did not answer, or answered with an error that is not the buyer's."""

    code = "payment_error"
    http_status = 502


class StripeProvider:
    """The ``stripe`` payment provider (checkout.payment_provider = "stripe")."""

    name = "stripe"

    def __init__(self, settings: Settings, redis: Redis) -> None:
        self.settings = settings.stripe
        self._redis = redis
        self._http = stripe.HTTPXClient(timeout=self.settings.timeout_s)
        # No retries inside the client: a buy has checkout.payment_timeout_s in all, and
        # a failed authorisation is cancelled and released rather than retried.
        self.client = stripe.StripeClient(
            self.settings.secret_key,
            http_client=self._http,
            base_addresses={"api": self.settings.api_base.rstrip("/")},
            max_network_retries=0,
        )

    async def aclose(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    # --- the card on file -------------------------------------------------------------

    async def customer_for(self, buyer: str) -> str:
        """The buyer's Stripe Customer, made on first use (one per buyer: its
        Idempotency-Key is the buyer id, and a customer already kept wins a race)."""
        stored = await self._profile(buyer)
        if stored.stripe_customer:
            return stored.stripe_customer
        try:
            customer = await self.client.v1.customers.create_async(
                params={
                    "name": stored.profile.name,
                    "email": stored.profile.email,
                    "metadata": {"livecart_buyer": buyer},
                },
                options={"idempotency_key": f"livecart-customer-{buyer}"},
            )
        except stripe.StripeError as exc:
            raise _unavailable("create your Stripe customer", exc) from None
        kept = await buyers.set_payment(
            self._redis, buyer, stripe_customer=customer.id, only_if_no_customer=True
        )
        if kept is None:
            raise NotFound(f"user {buyer!r} has no profile yet: PUT /api/me", field="profile")
        return kept.stripe_customer

    async def start_card_setup(self, buyer: str) -> dict[str, str]:
        """A SetupIntent for a card to be charged later without the buyer: the page
        confirms it with Stripe.js (the card number goes to Stripe, never here)."""
        customer = await self.customer_for(buyer)
        try:
            intent = await self.client.v1.setup_intents.create_async(
                params={
                    "customer": customer,
                    "usage": "off_session",
                    "metadata": {"livecart_buyer": buyer},
                }
            )
        except stripe.StripeError as exc:
            raise _unavailable("start a card setup", exc) from None
        return {
            "setup_intent": intent.id,
            "client_secret": intent.client_secret or "",
            "publishable_key": self.settings.publishable_key,
        }

    async def save_card(self, buyer: str, setup_intent: str) -> buyers.StoredProfile:
        """Keep the card a SetupIntent of this buyer's customer saved. Refused, changing
        nothing, when the SetupIntent is another customer's or has not succeeded."""
        stored = await self._profile(buyer)
        try:
            intent = await self.client.v1.setup_intents.retrieve_async(setup_intent)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                raise NotFound(
                    f"Stripe has no setup intent {setup_intent!r}", field="setup_intent"
                ) from None
            raise _unavailable("read the setup intent", exc) from None
        except stripe.StripeError as exc:
            raise _unavailable("read the setup intent", exc) from None
        customer = _id_of(intent.customer)
        if not stored.stripe_customer or customer != stored.stripe_customer:
            raise InvalidInput(
                f"setup intent {setup_intent!r} is not one of yours: start with "
                "POST /api/me/card/setup",
                field="setup_intent",
            )
        if intent.status != "succeeded":
            raise InvalidInput(
                f"setup intent {setup_intent!r} is {intent.status}, not succeeded: "
                "confirm it with the card first",
                field="setup_intent",
            )
        method_id = _id_of(intent.payment_method)
        try:
            method = await self.client.v1.payment_methods.retrieve_async(method_id)
        except stripe.StripeError as exc:
            raise _unavailable("read the saved card", exc) from None
        card = method.card
        saved = buyers.SavedCard(
            payment_method=method.id,
            brand=card.brand if card is not None else "card",
            last4=card.last4 if card is not None else "",
        )
        kept = await buyers.set_payment(self._redis, buyer, card=saved)
        if kept is None:
            raise NotFound(f"user {buyer!r} has no profile yet: PUT /api/me", field="profile")
        return kept

    async def forget_card(self, buyer: str) -> buyers.StoredProfile:
        """Detach the saved card at Stripe, then forget it here."""
        stored = await self._profile(buyer)
        if stored.card is None:
            raise NotFound("you have no saved card", field="card")
        try:
            await self.client.v1.payment_methods.detach_async(stored.card.payment_method)
        except stripe.InvalidRequestError as exc:
            if exc.http_status != 404 and exc.code != "payment_method_unexpected_state":
                raise _unavailable("remove the card", exc) from None
        except stripe.StripeError as exc:
            raise _unavailable("remove the card", exc) from None
        kept = await buyers.set_payment(self._redis, buyer, card=None)
        assert kept is not None  # the profile was read above and is never deleted
        return kept

    async def _profile(self, buyer: str) -> buyers.StoredProfile:
        stored = await buyers.get_profile(self._redis, buyer)
        if stored is None:
            raise NotFound(f"user {buyer!r} has no profile yet: PUT /api/me first", field="profile")
        return stored

    # --- the provider calls ---------------------------------------------------------

    async def authorise(
        self,
        *,
        hold_id: str,
        buyer: str,
        amount: int,
        currency: str,
        show: str = "",
        order_id: str = "",
    ) -> Authorisation:
        stored = await buyers.get_profile(self._redis, buyer)
        if stored is None or stored.card is None or not stored.stripe_customer:
            return Authorisation(
                approved=False, code="card_required", reason="the buyer has no saved card"
            )
        try:
            intent = await self.client.v1.payment_intents.create_async(
                params={
                    "amount": amount,
                    "currency": currency.lower(),
                    "customer": stored.stripe_customer,
                    "payment_method": stored.card.payment_method,
                    "confirm": True,
                    "off_session": True,
                    "capture_method": "manual",
                    "metadata": {
                        "livecart_hold": hold_id,
                        "livecart_buyer": buyer,
                        "livecart_show": show,
                        "livecart_order": order_id,
                    },
                },
                options={"idempotency_key": hold_id},
            )
        except stripe.CardError as exc:
            return Authorisation(approved=False, reason=f"card declined ({exc.code})")
        except stripe.StripeError as exc:
            raise PaymentError(f"Stripe did not authorise: {_said(exc)}") from None
        if intent.status == "requires_capture":
            return Authorisation(approved=True, reference=intent.id)
        # requires_action (the bank wants the buyer present) or anything else: not an
        # authorisation livecart can use; let go of it.
        await self._cancel(intent.id, hold_id)
        return Authorisation(approved=False, reason=f"payment intent is {intent.status}")

    async def void(self, *, hold_id: str, reference: str, buyer: str) -> None:
        if reference:
            await self._cancel(reference, hold_id)
            return
        for intent_id in await self._intents_of_hold(hold_id, buyer):
            await self._cancel(intent_id, hold_id)

    async def lookup(self, *, hold_id: str, buyer: str) -> PaymentLookup:
        """The hold's PaymentIntent, found by ``livecart_hold`` in its metadata:
        ``requires_capture`` or ``succeeded`` is an authorisation; declined
        (``requires_payment_method``), cancelled or wanting the buyer present
        (``requires_action``, which authorise lets go of) is a decline; none is none.
        ``processing`` cannot be told yet: PaymentError, ask again later."""
        intents = await self._all_intents_of_hold(hold_id, buyer)
        for intent in intents:
            if intent.status == "requires_capture":
                return PaymentLookup("authorised", intent.id, intent.amount_capturable)
            if intent.status == "succeeded":
                return PaymentLookup("authorised", intent.id, intent.amount_received)
        if any(intent.status == "processing" for intent in intents):
            raise PaymentError(f"the payment of hold {hold_id} is still processing at Stripe")
        return PaymentLookup("declined" if intents else "none")

    async def capture(self, *, order_id: str, reference: str, amount: int, currency: str) -> None:
        try:
            await self.client.v1.payment_intents.capture_async(
                reference,
                params={"amount_to_capture": amount},
                options={"idempotency_key": f"{order_id}-capture"},
            )
        except stripe.InvalidRequestError as exc:
            # Captured earlier (by another key, or Stripe forgot the key): done.
            if await self._status(reference) == "succeeded":
                return
            raise PaymentError(f"Stripe did not capture {reference}: {_said(exc)}") from None
        except stripe.StripeError as exc:
            raise PaymentError(f"Stripe did not capture {reference}: {_said(exc)}") from None

    async def refund(
        self, *, refund_id: str, reference: str, buyer: str, amount: int, currency: str
    ) -> str:
        """Give ``amount`` back. A payment not captured yet (``capture = "fulfil"`` and
        the order not shipped) has no charge to refund: the authorisation is reduced
        instead, by capturing only what is kept (``amount_to_capture``), or cancelled
        when nothing is kept. The refund id marks the PaymentIntent (metadata
        ``livecart_refund``), so a retried refund finds it done rather than taking the
        amount again from what was captured."""
        try:
            intent = await self.client.v1.payment_intents.retrieve_async(reference)
        except stripe.StripeError as exc:
            raise PaymentError(f"Stripe did not say how {reference} stands: {_said(exc)}") from None
        marks = intent.metadata
        if marks and "livecart_refund" in marks and marks["livecart_refund"] == refund_id:
            return str(intent.id)  # this refund reduced or cancelled it already
        if intent.status == "requires_capture":
            return await self._refund_uncaptured(
                refund_id, intent.id, intent.amount_capturable, amount
            )
        try:
            made = await self.client.v1.refunds.create_async(
                params={"payment_intent": reference, "amount": amount},
                options={"idempotency_key": refund_id},
            )
        except stripe.StripeError as exc:
            raise PaymentError(f"Stripe did not refund {reference}: {_said(exc)}") from None
        return made.id

    async def _refund_uncaptured(
        self, refund_id: str, intent_id: str, capturable: int, amount: int
    ) -> str:
        try:
            await self.client.v1.payment_intents.update_async(
                intent_id, params={"metadata": {"livecart_refund": refund_id}}
            )
            if amount >= capturable:
                await self.client.v1.payment_intents.cancel_async(
                    intent_id,
                    params={"cancellation_reason": "requested_by_customer"},
                    options={"idempotency_key": f"{refund_id}-cancel"},
                )
            else:
                await self.client.v1.payment_intents.capture_async(
                    intent_id,
                    params={"amount_to_capture": capturable - amount},
                    options={"idempotency_key": f"{refund_id}-capture"},
                )
        except stripe.StripeError as exc:
            raise PaymentError(
                f"Stripe did not reduce the authorisation {intent_id}: {_said(exc)}"
            ) from None
        return intent_id

    # --- late outcomes ------------------------------------------------------------

    def verify_webhook(self, payload: bytes, signature: str | None) -> None:
        """Raise ``InvalidInput`` (naming the header) unless Stripe signed ``payload``
        with this endpoint's secret less than five minutes ago (Stripe's tolerance: an
        old event replayed by someone who saw it is refused)."""
        if not signature:
            raise InvalidInput("the Stripe-Signature header is missing", field="stripe-signature")
        try:
            stripe.WebhookSignature.verify_header(
                payload.decode("utf-8", "replace"),
                signature,
                self.settings.webhook_secret,
                tolerance=stripe.Webhook.DEFAULT_TOLERANCE,  # none given: no age check
            )
        except stripe.SignatureVerificationError:
            raise InvalidInput(
                "the Stripe-Signature header does not match this payload and the endpoint's "
                "signing secret (stripe.webhook_secret)",
                field="stripe-signature",
            ) from None

    async def reconcile(self, event_type: str, intent: dict[str, Any]) -> str:
        """What to do about a PaymentIntent event; returns what was done (for the
        metrics and the log): ``kept`` (its order exists), ``pending`` (its hold is
        still being paid for), ``cancelled`` or ``refunded`` (its hold was released:
        the money goes back), or ``ignored`` (not an outcome livecart asked for)."""
        metadata = intent.get("metadata") or {}
        hold, show, order = (
            metadata.get(f"livecart_{name}", "") for name in ("hold", "show", "order")
        )
        intent_id = intent.get("id", "")
        if event_type not in LATE_OUTCOMES or not (hold and show and order and intent_id):
            return "ignored"
        try:
            keys.check_id(show, "show")
            keys.check_id(order, "order")
        except InvalidInput:
            return "ignored"
        raw_order = await self._redis.get(keys.show_order(show, order))
        if raw_order is not None:
            return "kept"
        if await self._redis.hexists(keys.show_holds(show), hold):
            return "pending"
        if await awards.is_charging(self._redis, show, hold):  # a winner being charged
            return "pending"
        # The hold was released (its payment answered too late) and no order holds it.
        status = intent.get("status", "")
        if status == "succeeded":
            try:
                await self.client.v1.refunds.create_async(
                    params={"payment_intent": intent_id},
                    options={"idempotency_key": f"{hold}-late-refund"},
                )
            except stripe.StripeError as exc:
                raise PaymentError(f"Stripe did not refund {intent_id}: {_said(exc)}") from None
            log.warning("refunded %s: paid for hold %s, which had been released", intent_id, hold)
            return "refunded"
        await self._cancel(intent_id, hold)
        log.warning(
            "cancelled %s: authorised for hold %s, which had been released", intent_id, hold
        )
        return "cancelled"

    # --- helpers --------------------------------------------------------------------

    async def _cancel(self, intent_id: str, hold_id: str) -> None:
        """Cancel an authorisation; one already cancelled counts as done, and one
        already captured is refunded in full (its key: ``<hold>-void``)."""
        try:
            await self.client.v1.payment_intents.cancel_async(intent_id)
            return
        except stripe.InvalidRequestError as exc:
            status = await self._status(intent_id)
            if status == "canceled":
                return
            if status != "succeeded":
                raise PaymentError(f"Stripe did not cancel {intent_id}: {_said(exc)}") from None
        except stripe.StripeError as exc:
            raise PaymentError(f"Stripe did not cancel {intent_id}: {_said(exc)}") from None
        try:
            await self.client.v1.refunds.create_async(
                params={"payment_intent": intent_id},
                options={"idempotency_key": f"{hold_id}-void"},
            )
        except stripe.StripeError as exc:
            raise PaymentError(f"Stripe did not refund {intent_id}: {_said(exc)}") from None

    async def _status(self, intent_id: str) -> str:
        try:
            intent = await self.client.v1.payment_intents.retrieve_async(intent_id)
        except stripe.StripeError as exc:
            raise PaymentError(f"Stripe did not say how {intent_id} stands: {_said(exc)}") from None
        return str(intent.status)

    async def _intents_of_hold(self, hold_id: str, buyer: str) -> list[str]:
        """The cancellable PaymentIntents made for ``hold_id``."""
        return [
            intent.id
            for intent in await self._all_intents_of_hold(hold_id, buyer)
            if intent.status in CANCELLABLE
        ]

    async def _all_intents_of_hold(self, hold_id: str, buyer: str) -> list[stripe.PaymentIntent]:
        """The PaymentIntents made for ``hold_id``, found among the buyer's customer's
        recent ones by the hold id in their metadata."""
        stored = await buyers.get_profile(self._redis, buyer)
        if stored is None or not stored.stripe_customer:
            return []
        try:
            page = await self.client.v1.payment_intents.list_async(
                params={
                    "customer": stored.stripe_customer,
                    "created": {"gte": int(time.time()) - FIND_WINDOW_S},
                    "limit": 100,
                }
            )
        except stripe.StripeError as exc:
            raise PaymentError(f"Stripe did not list payment intents: {_said(exc)}") from None
        found = []
        for intent in page.data:
            metadata = intent.metadata
            if metadata is None:
                continue
            if "livecart_hold" in metadata and metadata["livecart_hold"] == hold_id:
                found.append(intent)
        return found


def _id_of(value: object) -> str:
    """An expandable field's id, whether Stripe sent the id or the object."""
    if isinstance(value, str):
        return value
    return str(getattr(value, "id", "") or "")


def _said(exc: stripe.StripeError) -> str:
    """Stripe's message for the log, with its code when it gave one."""
    message = exc.user_message or type(exc).__name__
    return f"{message} ({exc.code})" if exc.code else str(message)


def _unavailable(doing: str, exc: stripe.StripeError) -> ProviderUnavailable:
    return ProviderUnavailable(f"Stripe could not {doing}: {_said(exc)}; try again")
