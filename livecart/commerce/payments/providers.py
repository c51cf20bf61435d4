"""Payment providers: authorise an amount for a hold, void an authorisation, or refund
part or all of an order's payment.

livecart never captures money itself. The built-in provider approves at once, for
merchants who collect later (pay on delivery, invoice, a checkout of their own); a real
provider (Stripe, Adyen, ...) implements the same three calls. ``authorise`` gets the
hold id as its idempotency key, so a provider that honours one never authorises a hold
twice; ``refund`` gets the refund id for the same reason.

The ``test`` provider exists for tests across processes: it decides by the buyer's id,
so a test picks the outcome by naming its buyers. ``serve`` refuses it.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Authorisation:
    approved: bool
    reference: str = ""  # the provider's id for the authorisation, kept on the order
    reason: str = ""  # why it was declined, for logs (never shown to other buyers)


class PaymentError(Exception):
    """The provider could not be asked or did not answer properly (not a decline)."""


class PaymentProvider(Protocol):
    name: str

    async def authorise(
        self, *, hold_id: str, buyer: str, amount: int, currency: str
    ) -> Authorisation: ...

    async def void(self, *, hold_id: str, reference: str) -> None: ...

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
        self, *, hold_id: str, buyer: str, amount: int, currency: str
    ) -> Authorisation:
        return Authorisation(approved=True, reference=f"builtin_{hold_id}")

    async def void(self, *, hold_id: str, reference: str) -> None:
        return None

    async def refund(
        self, *, refund_id: str, reference: str, buyer: str, amount: int, currency: str
    ) -> str:
        return f"builtin_{refund_id}"


class ScriptedForTests:
    """Declines buyers named ``decline*``, stalls ``stall*`` for an hour, errors for
    ``error*``, approves everyone else. Voids and refunds are kept so tests can check
    them; a refund of an ``error*`` or ``refunderror*`` buyer's payment fails."""

    name = "test"

    def __init__(self) -> None:
        self.voided: list[str] = []
        self.refunded: list[tuple[str, int]] = []

    async def authorise(
        self, *, hold_id: str, buyer: str, amount: int, currency: str
    ) -> Authorisation:
        if buyer.startswith("decline"):
            return Authorisation(approved=False, reason="card declined (test provider)")
        if buyer.startswith("stall"):
            await asyncio.sleep(3600)
        if buyer.startswith("error"):
            raise PaymentError("provider unreachable (test provider)")
        return Authorisation(approved=True, reference=f"test_{secrets.token_hex(6)}")

    async def void(self, *, hold_id: str, reference: str) -> None:
        self.voided.append(hold_id)

    async def refund(
        self, *, refund_id: str, reference: str, buyer: str, amount: int, currency: str
    ) -> str:
        if buyer.startswith(("error", "refunderror")):
            raise PaymentError("provider unreachable (test provider)")
        self.refunded.append((refund_id, amount))
        return f"test_refund_{refund_id}"


def provider_named(name: str) -> PaymentProvider:
    providers: dict[str, type[ApproveAtOnce] | type[ScriptedForTests]] = {
        "builtin": ApproveAtOnce,
        "test": ScriptedForTests,
    }
    return providers[name]()
