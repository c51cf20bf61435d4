"""Payment providers: authorise an amount for a hold, void an authorisation, or refund
part or all of an order's payment.

The built-in provider approves at once, for merchants who collect later (pay on
delivery, invoice, a checkout of their own); ``stripe`` (stripe_provider.py) charges the
buyer's saved card. ``authorise`` gets the hold id as its idempotency key, so a provider
that honours one never authorises a hold twice; ``capture`` gets the order id and
``refund`` the refund id for the same reason.

``void`` may be called with no reference: checkout does so when the authorisation
failed or timed out without an answer, since the provider may have authorised anyway;
a provider that can find such an authorisation (by the hold id) cancels it.

``lookup`` asks what became of a hold's authorisation, by the hold id (the idempotency
key ``authorise`` was given): a node that takes over the holds of a dead node confirms
or releases each by that answer instead of waiting for the hold to expire.

The ``test`` provider exists for tests across processes: it decides by the buyer's id,
so a test picks the outcome by naming its buyers. ``serve`` refuses it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal, Protocol

from redis.asyncio import Redis

from livecart.config import Settings


@dataclass(frozen=True)
class Authorisation:
    approved: bool
    reference: str = ""  # the provider's id for the authorisation, kept on the order
    reason: str = ""  # why it was declined, for logs (never shown to other buyers)
    # The refusal code the buyer's page gets for a decline: "card_required" when the
    # buyer has no card to charge (the page can ask for one), else "payment_declined".
    code: str = "payment_declined"


@dataclass(frozen=True)
class PaymentLookup:
    """What the provider did with a hold's authorisation: ``authorised`` (``reference``
    names it; ``amount`` is what it holds, None when the provider does not say),
    ``declined``, or ``none`` (nothing was authorised for the hold: it never reached
    the provider, or the provider never decided)."""

    state: Literal["authorised", "declined", "none"]
    reference: str = ""
    amount: int | None = None


class PaymentError(Exception):
    """The provider could not be asked or did not answer properly (not a decline)."""


class PaymentProvider(Protocol):
    """``show`` and ``order_id`` tell ``authorise`` whose payment it is (the order id
    the hold becomes if it is confirmed), so a provider's late report can be matched
    to the hold and its order."""

    name: str

    async def authorise(
        self,
        *,
        hold_id: str,
        buyer: str,
        amount: int,
        currency: str,
        show: str = "",
        order_id: str = "",
    ) -> Authorisation: ...

    async def void(self, *, hold_id: str, reference: str, buyer: str) -> None:
        """Release an authorisation (``reference``; "" when it is not known: find it by
        ``hold_id``). Raises ``PaymentError`` when it could not be done."""
        ...

    async def lookup(self, *, hold_id: str, buyer: str) -> PaymentLookup:
        """What became of the authorisation asked for ``hold_id`` (by ``buyer``). Raises
        ``PaymentError`` when the provider could not say."""
        ...

    async def capture(self, *, order_id: str, reference: str, amount: int, currency: str) -> None:
        """Take ``amount`` of the authorisation ``reference``. Safe to repeat: a capture
        already made counts as done. Raises ``PaymentError`` when it was not made."""
        ...

    async def aclose(self) -> None:
        """Let go of connections when the node stops."""
        ...

    async def refund(
        self, *, refund_id: str, reference: str, buyer: str, amount: int, currency: str
    ) -> str:
        """Give ``amount`` (minor units) of the payment ``reference`` back; return the
        provider's id for the refund. Raises ``PaymentError`` when it was not made."""
        ...


class ApproveAtOnce:
    """The built-in provider: every authorisation is approved; the merchant collects."""

    name = "builtin"

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
        return Authorisation(approved=True, reference=f"builtin_{hold_id}")

    async def lookup(self, *, hold_id: str, buyer: str) -> PaymentLookup:
        # Every authorisation is approved: a hold that did not get its answer would have.
        return PaymentLookup("authorised", reference=f"builtin_{hold_id}")

    async def void(self, *, hold_id: str, reference: str, buyer: str) -> None:
        return None

    async def capture(self, *, order_id: str, reference: str, amount: int, currency: str) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def refund(
        self, *, refund_id: str, reference: str, buyer: str, amount: int, currency: str
    ) -> str:
        return f"builtin_{refund_id}"


class ScriptedForTests:
    """Declines buyers named ``decline*``, stalls ``stall*`` for an hour, errors for
    ``error*``, approves everyone else. Approvals, voids, captures and refunds are kept
    so tests can check them; a refund of an ``error*`` or ``refunderror*`` buyer's
    payment fails.

    ``lookup`` answers by the buyer's name too, so any process can ask about a hold
    another process sent: ``stallpaid*`` were authorised (the answer never reached the
    node), other ``stall*`` and ``error*`` never were, ``decline*`` were declined, the
    rest authorised. References are ``test_<hold id>``, the same in every process."""

    name = "test"

    def __init__(self) -> None:
        self.authorised: list[tuple[str, int]] = []  # (hold id, amount)
        self.voided: list[str] = []
        self.captured: list[tuple[str, int]] = []
        self.refunded: list[tuple[str, int]] = []
        self.looked_up: list[str] = []

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
        if buyer.startswith("decline"):
            return Authorisation(approved=False, reason="card declined (test provider)")
        if buyer.startswith("stall"):
            await asyncio.sleep(3600)
        if buyer.startswith("error"):
            raise PaymentError("provider unreachable (test provider)")
        self.authorised.append((hold_id, amount))
        return Authorisation(approved=True, reference=f"test_{hold_id}")

    async def lookup(self, *, hold_id: str, buyer: str) -> PaymentLookup:
        self.looked_up.append(hold_id)
        if buyer.startswith("decline"):
            return PaymentLookup("declined")
        if buyer.startswith("stallpaid"):
            return PaymentLookup("authorised", reference=f"test_{hold_id}")
        if buyer.startswith(("stall", "error")):
            return PaymentLookup("none")
        return PaymentLookup("authorised", reference=f"test_{hold_id}")

    async def void(self, *, hold_id: str, reference: str, buyer: str) -> None:
        self.voided.append(hold_id)

    async def capture(self, *, order_id: str, reference: str, amount: int, currency: str) -> None:
        self.captured.append((order_id, amount))

    async def aclose(self) -> None:
        return None

    async def refund(
        self, *, refund_id: str, reference: str, buyer: str, amount: int, currency: str
    ) -> str:
        if buyer.startswith(("error", "refunderror")):
            raise PaymentError("provider unreachable (test provider)")
        self.refunded.append((refund_id, amount))
        return f"test_refund_{refund_id}"


def provider_named(
    name: str, settings: Settings | None = None, redis: Redis | None = None
) -> PaymentProvider:
    """The provider called ``name``; ``stripe`` needs the settings (its keys) and the
    store (where buyers' customer ids and cards are kept)."""
    if name == "stripe":
        from livecart.commerce.payments.stripe_provider import StripeProvider

        if settings is None or redis is None:
            raise ValueError("the stripe provider needs the settings and the store")
        return StripeProvider(settings, redis)
    providers: dict[str, type[ApproveAtOnce] | type[ScriptedForTests]] = {
        "builtin": ApproveAtOnce,
        "test": ScriptedForTests,
    }
    return providers[name]()
