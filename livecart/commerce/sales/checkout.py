"""One-tap buy and cart checkout: reserve (script) -> authorise (payment provider) ->
confirm or release (script).

The promises (DESIGN.md invariants 4 and 5), and where each is kept:
- No oversell: the reserve script takes units only when they are there, atomically.
- No double charge: the buyer's idempotency key is checked and recorded by the same
  script that takes the units; a retry gets the first outcome, and a retry racing the
  first attempt waits for it instead of buying again. The provider is asked with the
  hold id as its idempotency key.
- A confirmed order is durable: "confirmed" is returned only after the confirm script,
  which writes the order and its outbox entry, has been acknowledged by Redis (AOF,
  fsync before reply in the embedded default) and, with ``redis.confirm_replicas``, is
  in that many replicas' AOF (livecart.store.durability); until then the buyer hears
  ``in_progress`` with a retry hint.
- A hold that is never confirmed returns its stock by itself: every hold has an expiry
  the reaper (livecart.commerce.sales.holds) enforces on any node. A hold records the
  node paying for it and the order id it becomes, so when that node dies another one
  settles it by the provider's word (``settle_orphan``) about a second later.
- A retry never waits long: a first attempt still being paid for after
  ``REPLAY_WAIT_S`` is answered ``in_progress`` with ``retry_after_ms``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import orjson
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from livecart import validation as v
from livecart.commerce.accounts.buyers import order_contact
from livecart.commerce.accounts.creators import get_creator
from livecart.commerce.payments.providers import Authorisation, PaymentError, PaymentLookup
from livecart.commerce.sales.keys import sale_keys
from livecart.commerce.sales.shipping import rule_from_json
from livecart.errors import Conflict, LivecartError, NotFound, StoreUnavailable
from livecart.nodes import node_name
from livecart.runtime import Runtime
from livecart.store import keys
from livecart.store.durability import replicas_hold_earlier_writes, run_confirmed
from livecart.store.turns import urgent_turns

log = logging.getLogger("livecart.checkout")
T = TypeVar("T")

# What a page can show for a buy that did not become an order.
REFUSALS = frozenset(
    {
        "sold_out",
        "limit_reached",
        "sales_paused",
        "banned",  # the buyer was banned from the show by its moderation
        "not_live",
        "not_in_lineup",
        "flash_ended",
        "flash_not_started",
        "price_changed",
        "payment_declined",
        "card_required",  # the provider charges a saved card and the buyer has none
        "payment_error",
        "hold_expired",
        "cart_empty",
        "cart_full",
        "currency_mismatch",
        "not_in_cart",
    }
)
VOID_TIMEOUT_S = 5.0
# A retry of a tap still being paid for waits this long for its outcome, then answers
# in_progress: a buyer never hangs on a payment (or a dead node's hold) to be settled.
REPLAY_WAIT_S = 0.6
# When a page should ask again after in_progress (the reply's retry_after_ms).
RETRY_AFTER_MS = 500
# How long a hold-taking script whose reply was lost is sent again: a failover's
# promotion takes 1.2-1.8 s here (tests/e2e/test_cluster_failover.py).
LOST_REPLY_RETRY_S = 3.0


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


@dataclass(frozen=True)
class Outcome:
    """The result of a buy or checkout, as the buyer's page shows it."""

    result: str  # "confirmed", "in_progress", or one of REFUSALS
    order: dict[str, Any] | None = None
    sku: str | None = None
    replayed: bool = False  # the first outcome of this idempotency key, returned again
    retry_after_ms: int | None = None  # with in_progress: ask again with the same key then

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"result": self.result, "replayed": self.replayed}
        if self.order is not None:
            body["order"] = self.order
        if self.sku:
            body["sku"] = self.sku
        if self.retry_after_ms is not None:
            body["retry_after_ms"] = self.retry_after_ms
        return body


def in_progress(*, replayed: bool) -> Outcome:
    """Not decided yet (or not yet durable): the buyer retries with the same key."""
    return Outcome(result="in_progress", replayed=replayed, retry_after_ms=RETRY_AFTER_MS)


@dataclass(frozen=True)
class BuyRequest:
    FIELDS: ClassVar[tuple[str, ...]] = ("sku", "quantity", "idempotency_key", "price", "ref")

    sku: str
    quantity: int
    idempotency_key: str
    ref: str | None = None  # a creator's affiliate ref from a share link
    price: int | None = None  # the unit price the buyer saw; a different price is refused

    @classmethod
    def from_dict(cls, data: object, *, max_quantity: int) -> BuyRequest:
        d = v.require_mapping(data, "body")
        ref = d.get("ref")
        price = d.get("price")
        return cls(
            sku=keys.check_id(d.get("sku"), "sku"),
            quantity=v.whole(d, "quantity", lo=1, hi=max_quantity, default=1),
            idempotency_key=keys.check_id(d.get("idempotency_key"), "idempotency_key"),
            ref=None if ref is None else keys.check_id(ref, "ref"),
            price=None if price is None else v.whole(d, "price", lo=0, hi=10**11),
        )

    def fingerprint(self, show: str, buyer: str) -> str:
        return _fingerprint("buy", show, buyer, self.sku, self.quantity, self.price, self.ref)


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256(orjson.dumps(parts)).hexdigest()[:32]


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


async def buy(runtime: Runtime, show: str, buyer: str, request: BuyRequest) -> Outcome:
    """One tap: hold the units, get the payment authorised, confirm the order."""
    started = time.perf_counter()
    settings = runtime.settings
    async with runtime.taps:
        ref = await _known_creator(runtime, request.ref)
        # Told to the provider and kept in the hold, so a node that takes the hold over
        # writes the same order (and the provider's late reports match it).
        order_id = new_id("o")
        reply, retried = await _take_hold(
            runtime,
            "reserve",
            sale_keys(show, buyer=buyer, idempotency_key=request.idempotency_key),
            [
                buyer,
                new_id("h"),
                request.fingerprint(show, buyer),
                request.idempotency_key,
                settings.checkout.hold_seconds,
                settings.checkout.idempotency_ttl_s,
                settings.hub.stream_max_events,
                ref or "",
                settings.affiliate.ref_window_s * 1000,
                request.sku,
                request.quantity,
                -1 if request.price is None else request.price,
                node_name(runtime),
                order_id,
            ],
        )
    own = order_id if retried else None
    return await _finish(runtime, show, buyer, request.idempotency_key, reply, started, own)


async def checkout_cart(runtime: Runtime, show: str, buyer: str, idempotency_key: str) -> Outcome:
    """Check the buyer's cart out, all or nothing, then pay and confirm like a buy."""
    started = time.perf_counter()
    keys.check_id(idempotency_key, "idempotency_key")
    settings = runtime.settings
    order_id = new_id("o")
    async with runtime.taps:
        reply, retried = await _take_hold(
            runtime,
            "checkout_cart",
            sale_keys(show, buyer=buyer, idempotency_key=idempotency_key),
            [
                buyer,
                _fingerprint("cart", show, buyer),
                idempotency_key,
                settings.checkout.hold_seconds,
                settings.checkout.idempotency_ttl_s,
                node_name(runtime),
                order_id,
            ],
        )
    own = order_id if retried else None
    return await _finish(runtime, show, buyer, idempotency_key, reply, started, own)


async def _take_hold(
    runtime: Runtime, script: str, script_keys: list[str], args: list[Any]
) -> tuple[list[Any], bool]:
    """Run a hold-taking script; the reply and whether a lost reply was retried.

    A connection that died under the call (a primary's failover, a restarted server)
    leaves it unknown whether the script ran. It is sent again, with the same arguments,
    for up to ``LOST_REPLY_RETRY_S``: the script either never ran, or it finds the key
    it wrote and answers a replay of the pending hold, which ``_finish`` knows for this
    call's own by the order id the hold carries, and pays for it. Without that, nobody
    would pay for the hold (its node lives, so no takeover) until it expires.
    """
    attempts = 0

    async def attempt() -> list[Any]:
        nonlocal attempts
        attempts += 1
        # With the other taps of this turn of the loop, in one round trip.
        reply: list[Any] = await runtime.coalesced.call(runtime.scripts[script], script_keys, args)
        return reply

    reply = await through_failover(attempt)
    return reply, attempts > 1


async def through_failover(call: Callable[[], Awaitable[T]]) -> T:
    """``call()``, sent again while the connection dies under it (a primary's failover,
    a restarted server), for up to ``LOST_REPLY_RETRY_S``; then its error. Only for
    calls that are safe to repeat."""
    delay = 0.1
    deadline = time.monotonic() + LOST_REPLY_RETRY_S
    while True:
        try:
            return await call()
        except (RedisConnectionError, RedisTimeoutError):
            if time.monotonic() + delay > deadline:
                raise
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)


async def _finish(
    runtime: Runtime,
    show: str,
    buyer: str,
    idempotency_key: str,
    reply: list[Any],
    started: float,
    own_order: str | None = None,
) -> Outcome:
    """``own_order``: the order id this call gave its hold, when its reply may have been
    lost on the way (see ``_take_hold``)."""
    kind = reply[0]
    if kind == "conflict":
        raise IdempotencyConflict(
            "this idempotency key was already used for a different request",
            field="idempotency_key",
        )
    if kind == "refused" and reply[1] == "not_found":
        raise NotFound(f"show {show!r} does not exist", field="show")
    # The tap has had its turn: what follows (paying for a hold, confirming it, reading a
    # replay) goes before taps still waiting for theirs (livecart.store.turns).
    with urgent_turns():
        own_hold = None if kind != "replay" else await _own_hold(runtime, show, reply[1], own_order)
        if own_hold is not None:
            outcome = await _settle(runtime, show, own_hold)
        elif kind == "replay":
            outcome = await _replay(runtime, show, buyer, idempotency_key, orjson.loads(reply[1]))
        elif kind == "refused":
            outcome = Outcome(result=reply[1], sku=reply[2] or None)
        else:
            outcome = await _settle(runtime, show, orjson.loads(reply[1]))
    runtime.metrics.buys.labels(outcome.result).inc()
    runtime.metrics.buy_seconds.observe(time.perf_counter() - started)
    return outcome


async def _own_hold(
    runtime: Runtime, show: str, record_json: str, own_order: str | None
) -> dict[str, Any] | None:
    """The pending hold a replayed key points to, when it is the one this call took
    (its order id is ``own_order``) before its reply was lost."""
    if own_order is None:
        return None
    record = orjson.loads(record_json)
    if record.get("state") != "pending" or not record.get("hold"):
        return None
    raw = await runtime.redis.hget(keys.show_holds(show), record["hold"])
    hold: dict[str, Any] | None = None if raw is None else orjson.loads(raw)
    return hold if hold is not None and hold.get("order") == own_order else None


async def _settle(runtime: Runtime, show: str, hold: dict[str, Any]) -> Outcome:
    """The units are held: ask the provider, then confirm or release.

    The buyer's profile (contact, ship-to) is read here, outside the scripts (it lives
    outside the show's slot, invariant 6), and only for a buy that got its units:
    replays and refusals, most taps in a rush, cost no extra read. If Redis does not
    answer this read, the hold is left to expire like any unconfirmed hold.
    """
    terms = await _terms_of(runtime, hold)
    amount = terms.amount
    provider = runtime.payments
    order_id = _order_id_of(hold)
    try:
        async with asyncio.timeout(runtime.settings.checkout.payment_timeout_s):
            auth = await provider.authorise(
                hold_id=hold["id"],
                buyer=hold["buyer"],
                amount=amount,
                currency=hold["currency"],
                show=show,
                order_id=order_id,
            )
    except TimeoutError:
        log.warning("payment for hold %s timed out; releasing it", hold["id"])
        await void_quietly(runtime, hold["id"], "", hold["buyer"])
        return await _release(runtime, show, hold, "payment_error")
    except PaymentError as exc:
        # The provider may have authorised before the answer was lost: void by hold id.
        log.warning("payment for hold %s failed: %s; releasing it", hold["id"], exc)
        await void_quietly(runtime, hold["id"], "", hold["buyer"])
        return await _release(runtime, show, hold, "payment_error")
    if not auth.approved:
        return await _release(runtime, show, hold, auth.code)
    return await _confirm_authorised(runtime, show, hold, order_id, auth, terms)


@dataclass(frozen=True)
class _Terms:
    """What the buyer pays and where it goes, read from outside the show's slot."""

    contact: dict[str, Any]
    shipping: int
    amount: int


async def _terms_of(runtime: Runtime, hold: dict[str, Any]) -> _Terms:
    """Read through a failover: the hold is taken, and a node that gave up here would
    leave it unpaid (its node lives: no takeover) until it expires."""

    async def read() -> list[Any]:
        async with runtime.redis.pipeline(transaction=False) as pipe:
            pipe.get(keys.buyer_profile(hold["buyer"]))
            pipe.get(keys.brand_shipping(hold["brand"]))
            return list(await pipe.execute())

    raw_profile, raw_rule = await through_failover(read)
    items_total = sum(line["qty"] * line["unit"] for line in hold["lines"])
    shipping = rule_from_json(raw_rule).fee(items_total)
    return _Terms(order_contact(raw_profile), shipping, items_total + shipping)


def _order_id_of(hold: dict[str, Any]) -> str:
    """The order id the hold was given when it was taken (holds from before that was
    recorded get a new one)."""
    return str(hold.get("order") or new_id("o"))


async def _confirm_authorised(
    runtime: Runtime,
    show: str,
    hold: dict[str, Any],
    order_id: str,
    auth: Authorisation,
    terms: _Terms,
) -> Outcome:
    """The payment is authorised: write the order (durably, see store.durability)."""
    contact = terms.contact
    order = build_order(order_id, show, hold, auth, runtime.payments.name, contact, terms.shipping)
    reply, durable = await _confirm(
        runtime, show, hold, order_id, orjson.dumps(order).decode(), contact["display_name"] or ""
    )
    if reply[0] == "gone":
        # The hold was released while the provider answered (it expired, or a takeover
        # settled it): its units are back in stock, and its key remembers why.
        await void_quietly(runtime, hold["id"], auth.reference, hold["buyer"])
        return Outcome(result=reply[1], sku=hold["lines"][0]["sku"])
    if reply[0] == "lost":
        # A failover took back the hold with its key's record: nothing was decided for
        # this key, so a tap again with it buys afresh (and its answer is kept).
        log.warning("hold %s was lost in a failover of Redis; the buyer taps again", hold["id"])
        await void_quietly(runtime, hold["id"], auth.reference, hold["buyer"])
        return in_progress(replayed=False)
    if runtime.settings.stripe.capture == "confirm":
        await capture_now(runtime, order_id, auth.reference, terms.amount, hold["currency"])
    if not durable:
        # Written, not yet in enough replicas' AOF: a retry with the key replays it.
        log.warning("order %s is written but its replicas did not acknowledge it yet", order_id)
        return in_progress(replayed=False)
    return Outcome(result="confirmed", order=orjson.loads(reply[1]))


async def settle_orphan(runtime: Runtime, show: str, hold: dict[str, Any]) -> str:
    """Settle a hold whose node died while paying for it, by the provider's word on the
    hold id: confirm an authorisation into the order the dead node would have written
    (the hold's order id, so never a second order), or void and release. Returns the
    outcome's code, or "unknown" when the provider could not say (the hold is left for
    a later try, or for its expiry). Safe to run while the dead node's own confirm
    happens after all: the confirm and release scripts act once per hold."""
    try:
        async with asyncio.timeout(runtime.settings.checkout.payment_timeout_s):
            found: PaymentLookup = await runtime.payments.lookup(
                hold_id=hold["id"], buyer=hold["buyer"]
            )
    except (TimeoutError, PaymentError) as exc:
        log.warning("could not learn how hold %s was paid (%r); trying later", hold["id"], exc)
        return "unknown"
    if found.state != "authorised":
        await void_quietly(runtime, hold["id"], "", hold["buyer"])
        code = "payment_declined" if found.state == "declined" else "payment_error"
        return (await _release(runtime, show, hold, code)).result
    terms = await _terms_of(runtime, hold)
    auth = Authorisation(approved=True, reference=found.reference)
    outcome = await _confirm_authorised(runtime, show, hold, _order_id_of(hold), auth, terms)
    return outcome.result


def build_order(
    order_id: str,
    show: str,
    hold: dict[str, Any],
    auth: Authorisation,
    provider: str,
    contact: dict[str, Any] | None = None,
    shipping: int = 0,
) -> dict[str, Any]:
    """The order as stored, delivered and shown (docs/api.md, "Order"); exact integer
    money: commission is floored per line, in minor units, and is earned on the items,
    never on shipping. ``contact`` and ``ship_to`` are copied from the buyer's profile
    (None without one), so the order keeps the address it was placed with; ``shipping``
    is the brand's fee for this order (``total`` = ``items_total`` + ``shipping``)."""
    lines = []
    for line in hold["lines"]:
        total = line["qty"] * line["unit"]
        lines.append(
            {
                "sku": line["sku"],
                "title": line["title"],
                "quantity": line["qty"],
                "unit_price": line["unit"],
                "line_total": total,
                "commission_bps": line["commission_bps"],
                "commission": total * line["commission_bps"] // 10_000,
                "flash_sale": line["flash"] or None,
                **line_item(line),
            }
        )
    return {
        "id": order_id,
        "show": show,
        "brand": hold["brand"],
        "buyer": hold["buyer"],
        "contact": None if contact is None else contact["contact"],
        "ship_to": None if contact is None else contact["ship_to"],
        "status": "confirmed",
        "currency": hold["currency"],
        "lines": lines,
        "items_total": (items_total := sum(line["line_total"] for line in lines)),
        "shipping": shipping,
        "total": items_total + shipping,
        "commission_total": sum(line["commission"] for line in lines),
        "attribution": hold["attribution"],
        "payment": {"provider": provider, "reference": auth.reference},
        "idempotency_key": hold["idem"],
        "held_at_ms": hold["created_ms"],
    }


async def _confirm(
    runtime: Runtime, show: str, hold: dict[str, Any], order_id: str, body: str, buyer_name: str
) -> tuple[list[Any], bool]:
    """Run confirm until Redis answers or the hold would have expired anyway; the reply
    and whether the replicas hold it (store.durability).

    A lost reply (Redis restarted, connection cut) is retried with the same order id:
    the script finds the order it wrote and reports it, so nothing is written twice.
    """
    script = runtime.scripts["confirm"]
    deadline = time.monotonic() + runtime.settings.checkout.hold_seconds
    delay = 0.05
    while True:
        try:
            reply, durable = await run_confirmed(
                runtime,
                show,
                script,
                sale_keys(
                    show, buyer=hold["buyer"], idempotency_key=hold["idem"], order_id=order_id
                ),
                [hold["id"], order_id, body, runtime.settings.hub.stream_max_events, buyer_name],
            )
            return reply, durable
        except RedisError as exc:
            if time.monotonic() + delay > deadline:
                raise StoreUnavailable(
                    f"the order could not be confirmed: Redis did not answer ({exc}); "
                    "retry with the same idempotency key to learn the outcome"
                ) from None
            log.warning("confirm of hold %s failed (%s); retrying", hold["id"], exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)


async def _release(runtime: Runtime, show: str, hold: dict[str, Any], code: str) -> Outcome:
    try:
        await release_hold(runtime, show, hold, code, only_if_expired=False)
    except RedisError as exc:
        # The hold expires and the reaper returns the units; the buyer's outcome stands.
        log.warning("release of hold %s failed (%s); the reaper will return it", hold["id"], exc)
    return Outcome(result=code, sku=hold["lines"][0]["sku"])


async def release_hold(
    runtime: Runtime, show: str, hold: dict[str, Any], code: str, *, only_if_expired: bool
) -> bool:
    """Give a hold's units back; True when this call released it (False: already gone,
    or not expired yet when ``only_if_expired``)."""
    reply = await runtime.scripts["release"](
        keys=sale_keys(show, buyer=hold["buyer"], idempotency_key=hold["idem"] or None),
        args=[
            hold["id"],
            code,
            "1" if only_if_expired else "0",
            runtime.settings.hub.stream_max_events,
        ],
    )
    return bool(reply[0] == "released")


async def void_quietly(runtime: Runtime, hold_id: str, reference: str, buyer: str) -> None:
    try:
        async with asyncio.timeout(VOID_TIMEOUT_S):
            await runtime.payments.void(hold_id=hold_id, reference=reference, buyer=buyer)
    except (TimeoutError, PaymentError) as exc:
        log.error("could not void the authorisation of hold %s: %s", hold_id, exc)


async def capture_now(
    runtime: Runtime, order_id: str, reference: str, amount: int, currency: str
) -> None:
    """stripe.capture = "confirm": take the money as soon as the order is confirmed. The
    order stands if this fails (logged); fulfilling it captures again, safely."""
    try:
        async with asyncio.timeout(VOID_TIMEOUT_S):
            await runtime.payments.capture(
                order_id=order_id, reference=reference, amount=amount, currency=currency
            )
    except (TimeoutError, PaymentError) as exc:
        log.error("order %s is confirmed but its payment was not captured: %s", order_id, exc)


async def _replay(
    runtime: Runtime, show: str, buyer: str, idempotency_key: str, record: dict[str, Any]
) -> Outcome:
    """The first outcome of this key. While the first attempt is still being paid for,
    wait for it a moment (``REPLAY_WAIT_S``) rather than buy again, then answer
    in_progress with a retry hint: its node may have died, and the survivor that settles
    its hold needs about a second and a half to notice."""
    key = keys.show_idempotency(show, buyer, idempotency_key)
    deadline = time.monotonic() + REPLAY_WAIT_S
    delay = 0.02
    while record["state"] != "done":
        if time.monotonic() + delay > deadline:
            return in_progress(replayed=True)
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 0.1)
        raw = await runtime.redis.get(key)
        if raw is None:  # expired meanwhile: nothing more can be said
            return in_progress(replayed=True)
        record = orjson.loads(raw)
    result = record["result"]
    if result["status"] == "confirmed":
        if not await replicas_hold_earlier_writes(runtime, show):
            return in_progress(replayed=True)
        order = await runtime.redis.get(keys.show_order(show, result["order"]))
        return Outcome(
            result="confirmed", order=None if order is None else orjson.loads(order), replayed=True
        )
    return Outcome(result=result["code"], sku=result.get("sku") or None, replayed=True)


async def _known_creator(runtime: Runtime, ref: str | None) -> str | None:
    """A ref that names no creator is ignored (an old or mistyped link must not stop a
    purchase); the order is then credited as if there were no ref."""
    if ref is None:
        return None
    return ref if await get_creator(runtime.redis, ref) is not None else None


# --- cart ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CartAdd:
    FIELDS: ClassVar[tuple[str, ...]] = ("sku", "quantity", "price", "ref")

    sku: str
    quantity: int
    ref: str | None = None
    price: int | None = None

    @classmethod
    def from_dict(cls, data: object, *, max_quantity: int) -> CartAdd:
        d = v.require_mapping(data, "body")
        ref, price = d.get("ref"), d.get("price")
        return cls(
            sku=keys.check_id(d.get("sku"), "sku"),
            quantity=v.whole(d, "quantity", lo=1, hi=max_quantity, default=1),
            ref=None if ref is None else keys.check_id(ref, "ref"),
            price=None if price is None else v.whole(d, "price", lo=0, hi=10**11),
        )


class CartRefused(LivecartError):
    """A cart change was refused for a reason the page shows (sold out, limit...)."""

    http_status = 409


async def cart_add(runtime: Runtime, show: str, buyer: str, add: CartAdd) -> dict[str, Any]:
    settings = runtime.settings
    ref = await _known_creator(runtime, add.ref)
    reply = await runtime.scripts["cart_add"](
        keys=sale_keys(show, buyer=buyer),
        args=[
            buyer,
            new_id("h"),
            settings.checkout.cart_hold_seconds,
            settings.checkout.max_cart_lines,
            settings.checkout.max_quantity,
            settings.hub.stream_max_events,
            ref or "",
            settings.affiliate.ref_window_s * 1000,
            add.sku,
            add.quantity,
            -1 if add.price is None else add.price,
        ],
    )
    return _cart_reply(show, reply)


async def cart_remove(
    runtime: Runtime, show: str, buyer: str, sku: str, quantity: int
) -> dict[str, Any]:
    reply = await runtime.scripts["cart_remove"](
        keys=sale_keys(show, buyer=buyer),
        args=[
            buyer,
            sku,
            quantity,
            runtime.settings.checkout.cart_hold_seconds,
            runtime.settings.hub.stream_max_events,
        ],
    )
    return _cart_reply(show, reply)


async def view_cart(runtime: Runtime, show: str, buyer: str) -> dict[str, Any]:
    hold_id = await runtime.redis.get(keys.show_cart(show, buyer))
    raw = None if hold_id is None else await runtime.redis.hget(keys.show_holds(show), hold_id)
    return cart_view(None if raw is None else orjson.loads(raw))


def _cart_reply(show: str, reply: list[Any]) -> dict[str, Any]:
    if reply[0] == "refused":
        code, sku = reply[1], reply[2]
        if code == "not_found":
            raise NotFound(f"show {show!r} does not exist", field="show")
        if code == "unknown_sku":
            raise NotFound(f"show {show!r} does not sell {sku!r}", field="sku")
        if code == "banned":  # about the buyer, not the line
            raise CartRefused("you were banned from this show; you cannot buy in it", code=code)
        raise CartRefused(f"{code.replace('_', ' ')}: {sku}", field="sku", code=code)
    return cart_view(orjson.loads(reply[1]) if reply[1] else None)


def line_item(line: dict[str, Any]) -> dict[str, Any]:
    """What a hold's line sells, for fulfilment and for the buyer's page: ``product``
    (the catalog product's SKU) and ``variant`` (option name -> value, in the product's
    option order; {} for a plain product). Lines held before variants existed name
    their own SKU as the product."""
    variant = line.get("variant") or {}
    order = line.get("options") or []
    return {
        "product": line.get("product") or line["sku"],
        "variant": {name: variant[name] for name in order if name in variant},
    }


def cart_view(hold: dict[str, Any] | None) -> dict[str, Any]:
    if hold is None:
        return {"lines": [], "currency": None, "total": 0, "expires_at_ms": None}
    lines = [
        {
            "sku": line["sku"],
            "title": line["title"],
            "quantity": line["qty"],
            "unit_price": line["unit"],
            "line_total": line["qty"] * line["unit"],
            "flash_sale": line["flash"] or None,
            **line_item(line),
        }
        for line in hold["lines"]
    ]
    return {
        "lines": lines,
        "currency": hold["currency"],
        "total": sum(line["line_total"] for line in lines),
        "expires_at_ms": hold["expires_ms"],
    }
