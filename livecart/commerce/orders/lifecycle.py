"""An order's life after it is confirmed: fulfilled (shipped, with tracking) ->
delivered; cancelled (before it ships: its units go back to the show's stock); refunded
(in full or in parts, through the payment provider).

::

    confirmed --fulfil--> fulfilled --deliver--> delivered
        |                     |                      |
        +--cancel--> cancelled  (refund: any of confirmed, fulfilled, delivered;
                                 fully refunded -> refunded)

Each move is one script in the order's show slot (``fulfil_order.lua``,
``deliver_order.lua``, ``cancel_order.lua``, ``refund_order.lua``, sharing
``_order.lua``): it checks the order's status, changes the record, appends the order's
history entry, the show's ``order_status`` event and the outbox entry that becomes a
webhook and updates the cross-show projections, in one atomic step (invariants 1 and 6).
A move that the status does not allow is refused with ``invalid_transition`` (and the
status the order has) and changes nothing.

The order's show is found from the cross-show copy of the order (``keys.order``), which
the projections write a moment after the buy: an order not projected yet is not found.

A refund asks the provider before its script records it. The order's refund lock (a key
in its show's slot, with a TTL) is held meanwhile, so two refunds of one order never
overlap. The refund id is the order id and the refund's number (``o_...-r1``), so a
refund retried after the provider failed or timed out carries the same id, and a
provider that honours idempotency keys never refunds twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from livecart import validation as v
from livecart.commerce.orders.records import MAX_AMOUNT
from livecart.commerce.payments.providers import PaymentError
from livecart.commerce.sales.keys import sale_keys
from livecart.config import Settings
from livecart.errors import Conflict, InvalidInput, LivecartError, NotFound, Unprocessable
from livecart.runtime import Runtime
from livecart.store import keys

log = logging.getLogger("livecart.lifecycle")

STATUSES = ("confirmed", "fulfilled", "delivered", "cancelled", "refunded")
MERCHANT = "merchant"  # who the history names for a move made with the admin API key
MAX_REFUNDS = 20  # refunds one order may have: keeps its record and history bounded
MAX_TEXT = 200
# Providers whose orders the merchant collects (and refunds) outside livecart, and
# "none" (a giveaway shipped free: nothing was paid): such an order is cancelled or
# refunded whatever provider the node uses now.
COLLECTED_BY_MERCHANT = frozenset({"builtin", "none"})
Holder = Literal["node", "merchant", "elsewhere"]


def money_holder(runtime: Runtime, order: Mapping[str, Any]) -> Holder:
    """Who holds an order's money, which decides how capture, void and refund go:
    ``node`` (this node's provider authorised it: ask it), ``merchant`` (collected
    outside livecart, or nothing was paid: record only), ``elsewhere`` (a provider
    this node no longer runs: it cannot be asked from here)."""
    provider = (order.get("payment") or {}).get("provider")
    if provider == runtime.payments.name:
        return "node"
    return "merchant" if provider in COLLECTED_BY_MERCHANT else "elsewhere"


MAX_MOVABLE_TOTAL = 10**14  # see load_movable_order in _order.lua
MAX_REASON = 500
VOID_TIMEOUT_S = 5.0


class InvalidTransition(Conflict):
    """The order's status does not allow this move; ``status`` says what it is."""

    code = "invalid_transition"


class PaymentFailed(LivecartError):
    """The payment provider did not make the refund (an error or no answer in time)."""

    code = "payment_error"
    http_status = 502


# --- what the merchant sends ---------------------------------------------------------


@dataclass(frozen=True)
class Fulfilment:
    """How the order ships: kept on the order and sent in ``order.fulfilled``."""

    FIELDS = ("carrier", "tracking_number", "tracking_url")

    carrier: str
    tracking_number: str
    tracking_url: str  # "" when the carrier has no tracking page

    @classmethod
    def decode(cls, d: Mapping[str, Any], settings: Settings) -> Fulfilment:
        return cls(
            carrier=v.text(d, "carrier", max_len=MAX_TEXT),
            tracking_number=v.text(d, "tracking_number", max_len=MAX_TEXT),
            tracking_url=v.url(d, "tracking_url"),
        )

    def to_dict(self) -> dict[str, str]:
        return {
            "carrier": self.carrier,
            "tracking_number": self.tracking_number,
            "tracking_url": self.tracking_url,
        }


@dataclass(frozen=True)
class Cancellation:
    FIELDS = ("reason",)

    reason: str  # "" when none was given

    @classmethod
    def decode(cls, d: Mapping[str, Any], settings: Settings) -> Cancellation:
        return cls(reason=v.text(d, "reason", max_len=MAX_REASON, default=""))


@dataclass(frozen=True)
class RefundRequest:
    FIELDS = ("amount", "reason")

    amount: int  # minor units of the order's currency; always said, never "the rest"
    reason: str

    @classmethod
    def decode(cls, d: Mapping[str, Any], settings: Settings) -> RefundRequest:
        return cls(
            amount=v.whole(d, "amount", lo=1, hi=MAX_AMOUNT),
            reason=v.text(d, "reason", max_len=MAX_REASON, default=""),
        )


# --- the moves -------------------------------------------------------------------------


async def order_show(runtime: Runtime, order_id: str) -> str:
    """The show whose slot holds the order, from the order's cross-show copy."""
    keys.check_id(order_id, "order")
    raw = await runtime.redis.get(keys.order(order_id))
    if raw is None:
        raise NotFound(f"order {order_id!r} does not exist", field="order")
    show: str = orjson.loads(raw)["show"]
    return show


async def fulfil_order(runtime: Runtime, order_id: str, fulfilment: Fulfilment) -> dict[str, Any]:
    """Capture the payment, then mark the order fulfilled. A capture that fails refuses
    the move (502 payment_error, nothing changed): the merchant learns before shipping."""
    show = await order_show(runtime, order_id)
    await _capture(runtime, show, order_id)
    reply = await _move(
        runtime,
        show,
        "fulfil_order",
        sale_keys(show, order_id=order_id),
        [MERCHANT, orjson.dumps(fulfilment.to_dict()), _maxlen(runtime)],
    )
    return _moved(order_id, "fulfilled", reply)


async def _capture(runtime: Runtime, show: str, order_id: str) -> None:
    """Capture what is left of a confirmed order's payment through the provider that
    authorised it (an order from another provider is the merchant's to collect). Safe
    to repeat: the provider's capture key is the order id."""
    raw = await runtime.redis.get(keys.show_order(show, order_id))
    if raw is None:
        return  # the script refuses it as not found
    order = orjson.loads(raw)
    payment = order.get("payment") or {}
    if order["status"] != "confirmed" or money_holder(runtime, order) != "node":
        return
    amount = order["total"] - order.get("refunded_total", 0)
    try:
        async with asyncio.timeout(runtime.settings.checkout.payment_timeout_s):
            await runtime.payments.capture(
                order_id=order_id,
                reference=payment["reference"],
                amount=amount,
                currency=order["currency"],
            )
    except (TimeoutError, PaymentError) as exc:
        raise PaymentFailed(
            f"the payment provider did not capture order {order_id!r} "
            f"({exc or 'timed out'}); it was not marked fulfilled: try again",
            field="order",
        ) from None


async def deliver_order(runtime: Runtime, order_id: str) -> dict[str, Any]:
    show = await order_show(runtime, order_id)
    reply = await _move(
        runtime,
        show,
        "deliver_order",
        sale_keys(show, order_id=order_id),
        [MERCHANT, _maxlen(runtime)],
    )
    return _moved(order_id, "delivered", reply)


async def cancel_order(
    runtime: Runtime, order_id: str, cancellation: Cancellation
) -> dict[str, Any]:
    """Cancel, returning the units to the show's stock; then void the payment's
    authorisation (after the script: a void that fails is logged, the cancel stands)."""
    show = await order_show(runtime, order_id)
    reply = await _move(
        runtime,
        show,
        "cancel_order",
        sale_keys(show, order_id=order_id),
        [MERCHANT, cancellation.reason, _maxlen(runtime)],
    )
    order = _moved(order_id, "cancelled", reply)
    payment = order.get("payment") or {}
    reference = payment.get("reference", "")
    holder = money_holder(runtime, order)
    if holder != "node":
        if holder == "elsewhere":
            log.error(
                "order %s was cancelled, but it was paid through %r and this node's provider "
                "is %r: void its authorisation (%s) there",
                order_id,
                payment.get("provider"),
                runtime.payments.name,
                reference,
            )
        return order
    try:
        async with asyncio.timeout(VOID_TIMEOUT_S):
            await runtime.payments.void(
                hold_id=order_id, reference=reference, buyer=order.get("buyer", "")
            )
    except (TimeoutError, PaymentError) as exc:
        log.error("order %s was cancelled but its authorisation was not voided: %s", order_id, exc)
    return order


async def refund_order(runtime: Runtime, order_id: str, request: RefundRequest) -> dict[str, Any]:
    """Refund ``request.amount`` through the provider, then record it. Refused,
    changing nothing, when more than what is left is asked, when the order is cancelled
    or fully refunded, or while another refund of it is under way."""
    redis = runtime.redis
    show = await order_show(runtime, order_id)
    lock = keys.show_order_refund_lock(show, order_id)
    timeout_s = runtime.settings.checkout.payment_timeout_s
    if not await redis.set(lock, order_id, nx=True, px=int((timeout_s + 5) * 1000)):
        raise Conflict(
            f"a refund of order {order_id!r} is under way; try again when it is done",
            field="order",
            code="refund_in_progress",
        )
    try:
        raw = await redis.get(keys.show_order(show, order_id))
        if raw is None:
            raise NotFound(f"order {order_id!r} does not exist", field="order")
        order = orjson.loads(raw)
        if order["total"] >= MAX_MOVABLE_TOTAL:
            _refuse(order_id, "refunded", "too_large", order["status"])
        left = order["total"] - order.get("refunded_total", 0)
        if order["status"] in ("cancelled", "refunded") or left <= 0:
            _refuse(order_id, "refunded", "nothing_to_refund", order["status"])
        amount = request.amount
        if amount > left:
            _refuse(order_id, "refunded", "refund_exceeds_paid", order["status"], left=left)
        if len(order.get("refunds", ())) >= MAX_REFUNDS:
            _refuse(order_id, "refunded", "too_many_refunds", order["status"])
        refund_id = f"{order_id}-r{len(order.get('refunds', ())) + 1}"
        paid_through = order["payment"]["provider"]
        holder = money_holder(runtime, order)
        if holder == "elsewhere":
            _refuse(order_id, "refunded", "provider_changed", order["status"], via=paid_through)
        async with asyncio.timeout(timeout_s):
            if holder == "merchant":  # the merchant collected: and refunds
                reference = f"{paid_through}_{refund_id}"
            else:
                reference = await runtime.payments.refund(
                    refund_id=refund_id,
                    reference=order["payment"]["reference"],
                    buyer=order["buyer"],
                    amount=amount,
                    currency=order["currency"],
                )
    except (TimeoutError, PaymentError) as exc:
        await redis.delete(lock)
        raise PaymentFailed(
            f"the payment provider did not refund order {order_id!r} ({exc or 'timed out'}); "
            "nothing was recorded: try again (the retry carries the same refund id)",
            field="order",
        ) from None
    except LivecartError:
        await redis.delete(lock)
        raise
    reply = await _move(
        runtime,
        show,
        "refund_order",
        [*sale_keys(show, order_id=order_id), lock],
        [
            MERCHANT,
            refund_id,
            amount,
            reference,
            request.reason,
            _maxlen(runtime),
            MAX_REFUNDS,
        ],
    )
    if reply[0] == "refused":
        # Only if the lock ran out while the provider answered and another refund came
        # in between: the provider refunded, this record could not be made.
        log.error(
            "order %s: refund %s of %d was made by the provider but refused here (%s)",
            order_id,
            refund_id,
            amount,
            reply[1],
        )
    return _moved(order_id, "refunded", reply)


async def _move(
    runtime: Runtime, show: str, script: str, script_keys: list[str], args: list[Any]
) -> list[Any]:
    """Run a move's script; when it moved the order, put its show among those whose
    outbox is read.

    The consumers stop reading an ended show's outbox once it is drained; a move made
    after that (a late cancel, a delivery weeks on) puts the show back. Adding it after
    the script is what makes it safe: a consumer retiring the show meanwhile either
    sees the new entry and keeps the show, or has finished and the show is added again.
    Only a node dying between the script and the add, just as the show is retired,
    could leave the entry unread until the show's next move."""
    reply: list[Any] = await runtime.scripts[script](keys=script_keys, args=args)
    if reply[0] != "refused":
        await runtime.redis.sadd(keys.outbox_shows(), show)
    return reply


def _maxlen(runtime: Runtime) -> int:
    return runtime.settings.hub.stream_max_events


def _moved(order_id: str, to: str, reply: list[Any]) -> dict[str, Any]:
    if reply[0] == "refused":
        _refuse(order_id, to, reply[1], reply[2], left=0)
    order: dict[str, Any] = orjson.loads(reply[1])
    return order


def _refuse(
    order_id: str,
    to: str,
    code: str,
    status: str,
    *,
    left: int | None = None,
    via: str | None = None,
) -> None:
    if code == "not_found":
        raise NotFound(f"order {order_id!r} does not exist", field="order")
    if code == "invalid_transition":
        raise InvalidTransition(
            f"order {order_id!r} is {status}; it cannot be {to}",
            field="order",
            extra={"status": status},
        )
    if code == "refund_exceeds_paid":
        raise Conflict(
            f"order {order_id!r} has {left} left to refund (in minor units); "
            "a refund may not exceed what was paid less earlier refunds",
            field="amount",
            code=code,
            extra={"status": status, "refundable": left},
        )
    if code == "provider_changed":
        raise Conflict(
            f"order {order_id!r} was paid through {via!r}, which this node no longer uses: "
            f"refund it there, or run with checkout.payment_provider = {via!r}",
            field="order",
            code=code,
            extra={"status": status, "provider": via},
        )
    if code == "nothing_to_refund":
        raise Conflict(
            f"order {order_id!r} is {status}; nothing of it is left to refund",
            field="order",
            code=code,
            extra={"status": status},
        )
    if code == "too_many_refunds":
        raise Conflict(
            f"order {order_id!r} has {MAX_REFUNDS} refunds, the most one order may have; "
            "refund what is left at once",
            field="order",
            code=code,
            extra={"status": status},
        )
    if code == "too_large":
        raise Unprocessable(
            f"order {order_id!r} has a total of 10^14 minor units or more, which its "
            "record cannot be rewritten with exactly; it cannot be moved",
            field="order",
            code="order_too_large",
        )
    raise InvalidInput(f"order {order_id!r}: refused ({code})", field="order", code=code)
