"""The winner of an auction or a giveaway pays and gets an order; and nothing is left
waiting on a node's timer.

The scripts decide, against Redis TIME, who won and when; this module carries the
payment out of them, like a buy: authorise (the provider's idempotency key is the
award's hold id, ``auction-ID-ATTEMPT``) -> confirm (``award_confirm.lua``, keyed by an
order id made from the item and the attempt, so a second run finds the order), or
``award_fail.lua`` on a decline (the seller may then offer a second chance).

Crash safety: a payment that begins holds a lease (``auctions.payment_lease_s``); the
awards-due set names it with the lease's end, and any node's sweep takes over a lapsed
one with the same attempt. The same set names a running item's end and an offer's
expiry, so an auction closes on time even with nobody watching.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from livecart.commerce.accounts.buyers import order_contact
from livecart.commerce.auctions.keys import Kind, award_keys
from livecart.commerce.payments.providers import Authorisation, PaymentError
from livecart.commerce.sales.checkout import (
    Outcome,
    build_order,
    capture_now,
    in_progress,
    void_quietly,
)
from livecart.commerce.sales.shipping import rule_from_json
from livecart.errors import Conflict, LivecartError, NotFound
from livecart.runtime import Runtime
from livecart.store import keys
from livecart.store.durability import run_confirmed

log = logging.getLogger("livecart.awards")

SWEEP_BATCH = 50
CONFIRM_TRIES = 5
# The provider name an order with nothing to pay (a giveaway shipped free) carries.
NOTHING_TO_PAY = "none"

_REFUSALS: dict[str, tuple[type[LivecartError], str, str | None]] = {
    "not_found": (NotFound, "the show does not exist", "show"),
    "no_auction": (NotFound, "this show has no such auction", "auction"),
    "no_giveaway": (NotFound, "this show has no such giveaway", "giveaway"),
    "not_live": (Conflict, "the show is not live", None),
    "not_in_lineup": (NotFound, "the product is not in this show's lineup", "sku"),
    "sold_out": (Conflict, "the show has no unit of that product left", "sku"),
    "auction_running": (Conflict, "an auction is already running; wait for its end", None),
    "giveaway_running": (Conflict, "a giveaway is already running; wait for its end", None),
    "not_running": (Conflict, "it is not running (it ended or was cancelled)", None),
    "not_unpaid": (Conflict, "only an unpaid win can be offered, drawn again or released", None),
    "no_runner_up": (Conflict, "no other bidder is left to offer it to", None),
    "no_entrants_left": (Conflict, "every entrant has been drawn", None),
    "not_bidder": (NotFound, "that user has not bid in this auction", "user"),
    "not_offered": (Conflict, "no second-chance offer stands for you in this auction", None),
    "offer_expired": (Conflict, "the second-chance offer has expired", None),
}


def refused(code: str) -> LivecartError:
    kind, message, field = _REFUSALS[code]
    return kind(message, field=field, code=code)


def rand52() -> int:
    """The draw's randomness: from the OS's CSPRNG, not Lua's seeded math.random."""
    return secrets.randbits(52)


async def run(
    runtime: Runtime, script: str, show: str, kind: Kind, item: str, *args: Any
) -> list[Any]:
    """Run an award script; a refusal raises (callers that report refusals as results,
    like a bid, run their script themselves)."""
    reply: list[Any] = await runtime.scripts[script](
        keys=award_keys(show, kind, item), args=list(args)
    )
    if reply[0] == "refused":
        raise refused(reply[1])
    return reply


def lease_ms(runtime: Runtime) -> int:
    return runtime.settings.auctions.payment_lease_s * 1000


def maxlen(runtime: Runtime) -> int:
    return runtime.settings.hub.stream_max_events


# -- paying the winner -------------------------------------------------------------------

_settling: set[asyncio.Task[Outcome]] = set()


def settle_soon(runtime: Runtime, show: str, kind: Kind, hold: dict[str, Any]) -> None:
    """Charge the winner without keeping the caller (a bid that closed the auction, a
    read) waiting; if this node stops first, the lease lapses and a sweep takes over."""
    task = asyncio.ensure_future(settle(runtime, show, kind, hold))
    _settling.add(task)
    task.add_done_callback(_settled)


def _settled(task: asyncio.Task[Outcome]) -> None:
    _settling.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("settling an award failed", exc_info=task.exception())


async def settle(runtime: Runtime, show: str, kind: Kind, hold: dict[str, Any]) -> Outcome:
    """Authorise the winner's payment and write the order, or mark the win unpaid."""
    item, attempt, buyer = hold["source"], str(hold["attempt"]), hold["buyer"]
    async with runtime.redis.pipeline(transaction=False) as pipe:
        pipe.get(keys.buyer_profile(buyer))
        pipe.get(keys.brand_shipping(hold["brand"]))
        raw_profile, raw_rule = await pipe.execute()
    contact = order_contact(raw_profile)
    items_total = sum(line["qty"] * line["unit"] for line in hold["lines"])
    shipping = 0 if hold["shipping"] == "free" else rule_from_json(raw_rule).fee(items_total)
    amount = items_total + shipping
    order_id = award_order_id(item, attempt)
    provider = runtime.payments
    provider_name = provider.name
    if amount == 0:
        auth, provider_name = Authorisation(approved=True), NOTHING_TO_PAY
    else:
        try:
            async with asyncio.timeout(runtime.settings.checkout.payment_timeout_s):
                auth = await provider.authorise(
                    hold_id=hold["id"],
                    buyer=buyer,
                    amount=amount,
                    currency=hold["currency"],
                    show=show,
                    order_id=order_id,
                )
        except (TimeoutError, PaymentError) as exc:
            log.warning("payment of %s %s failed: %r; voiding it", kind, item, exc)
            await void_quietly(runtime, hold["id"], "", buyer)
            return await _unpaid(runtime, show, kind, item, attempt, "payment_error")
        if not auth.approved:
            return await _unpaid(runtime, show, kind, item, attempt, auth.code)
    order = build_order(order_id, show, hold, auth, provider_name, contact, shipping)
    order[kind] = item
    reply, durable = await _confirm(
        runtime, show, kind, item, order, contact["display_name"] or "", attempt
    )
    if reply[0] == "gone":
        await void_quietly(runtime, hold["id"], auth.reference, buyer)
        return Outcome(result="hold_expired", sku=hold["lines"][0]["sku"])
    if amount and runtime.settings.stripe.capture == "confirm":
        await capture_now(runtime, order_id, auth.reference, amount, hold["currency"])
    if not durable:  # written; not yet in enough replicas' AOF (store.durability)
        return in_progress(replayed=False)
    return Outcome(result="confirmed", order=orjson.loads(reply[1]))


async def _confirm(
    runtime: Runtime,
    show: str,
    kind: Kind,
    item: str,
    order: dict[str, Any],
    buyer_name: str,
    attempt: str,
) -> tuple[list[Any], bool]:
    """Retried on a lost reply: the script finds the order it wrote. Also says whether
    the replicas hold it (store.durability)."""
    delay = 0.05
    for tries_left in range(CONFIRM_TRIES - 1, -1, -1):
        try:
            reply, durable = await run_confirmed(
                runtime,
                show,
                runtime.scripts["award_confirm"],
                award_keys(show, kind, item, order_id=order["id"]),
                [order["id"], orjson.dumps(order).decode(), maxlen(runtime), buyer_name, attempt],
            )
            return reply, durable
        except RedisError as exc:
            if not tries_left:
                raise
            log.warning("confirming %s %s failed (%s); retrying", kind, item, exc)
            await asyncio.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


async def _unpaid(
    runtime: Runtime, show: str, kind: Kind, item: str, attempt: str, code: str
) -> Outcome:
    await runtime.scripts["award_fail"](
        keys=award_keys(show, kind, item), args=[attempt, code, maxlen(runtime)]
    )
    return Outcome(result=code)


async def is_charging(redis: Redis, show: str, hold_id: str) -> bool:
    """True when ``hold_id`` names an award's payment that is still being made (the
    provider's late report must not cancel it: its order is about to be written)."""
    kind, _, rest = hold_id.partition("-")
    item, _, attempt = rest.rpartition("-")
    if kind not in ("auction", "giveaway") or not item:
        return False
    try:
        key = keys.show_auction(show, item) if kind == "auction" else keys.show_giveaway(show, item)
    except LivecartError:
        return False
    payment, current = await redis.hmget(key, "payment", "attempt")
    return bool(payment == "charging" and current == attempt)


def award_order_id(item: str, attempt: str) -> str:
    """The order id of an item's payment attempt: made from both, so a second run of the
    same attempt (a takeover, a retry) names the same order and the confirm script
    finds it; hex like every order id, so pages that shorten ids tell them apart."""
    return "o_" + hashlib.sha256(f"{item}:{attempt}".encode()).hexdigest()[:20]


# -- looking: closing on time, taking over, expiring -------------------------------------


async def look(
    runtime: Runtime, show: str, kind: Kind, item: str, *, takeover: bool = False
) -> dict[str, Any]:
    """Close it when its end has passed (its winner is then charged in the background);
    with ``takeover`` (the sweep), also take over a lapsed payment and expire an offer.
    Returns the view as it stands."""
    reply = await run(
        runtime,
        "award_look",
        show,
        kind,
        item,
        maxlen(runtime),
        lease_ms(runtime),
        rand52(),
        "1" if takeover else "0",
    )
    if reply[0] == "charge":
        settle_soon(runtime, show, kind, orjson.loads(reply[2]))
    view: dict[str, Any] = orjson.loads(reply[1])
    return view


async def sweep_awards(runtime: Runtime, show: str) -> int:
    """Look at what is due in one show (run by every node's reaper loop)."""
    redis = runtime.redis
    seconds, micros = await redis.time()
    now_ms = seconds * 1000 + micros // 1000
    due: list[str] = await redis.zrangebyscore(  # type: ignore[assignment]
        keys.show_awards_due(show), "-inf", now_ms, start=0, num=SWEEP_BATCH
    )
    for member in due:
        kind, _, item = member.partition(":")
        if kind not in ("auction", "giveaway"):
            await redis.zrem(keys.show_awards_due(show), member)
            continue
        try:
            await look(runtime, show, kind, item, takeover=True)  # type: ignore[arg-type]
        except NotFound:  # deleted with its show: nothing is due any more
            await redis.zrem(keys.show_awards_due(show), member)
    return len(due)


async def view(runtime: Runtime, show: str, kind: Kind, item: str) -> dict[str, Any] | None:
    """Read only: the snapshot's view (None when there is no such item)."""
    raw = await runtime.scripts["award_view"](keys=award_keys(show, kind, item), args=[])
    return None if not raw else orjson.loads(raw)
