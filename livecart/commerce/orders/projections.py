"""Cross-show projections of orders: creators' commission ledgers, the order copies
found by id (following each order's lifecycle), and the indexes of all orders and of
each buyer's.

The buy script writes only its show's keys (invariant 6); these are built from the
shows' outboxes by the ``projections`` consumer group (``livecart.commerce.orders.outbox``).
Each order is applied once, keyed by its id, however often it is delivered: the ledger
by HSETNX inside ``apply_commission.lua`` (which moves the earnings with it), the copy
by ``project_order.lua`` (written only by a higher version of the order), the indexes
by ZADD NX. A cancel or a refund also reverses commission in the ledger
(``reverse_commission.lua``, once per order version; see ``commission_reversed``).
Re-applying an order event therefore changes nothing, which is what makes at-least-once
delivery from the outbox safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from redis.asyncio import Redis

from livecart.commerce.accounts.creators import get_creator
from livecart.commerce.orders.records import (
    ORDER_CONFIRMED,
    Order,
    Page,
    PageRequest,
    listing,
    page_of,
)
from livecart.errors import NotFound
from livecart.runtime import Runtime
from livecart.store import keys
from livecart.store.batch import ScriptCall, run_scripts


def ledger_entry(order: Order) -> dict[str, Any]:
    """What a creator's ledger keeps of an order: enough to explain the commission."""
    return {
        "kind": "commission",
        "order": order.id,
        "show": order.show,
        "brand": order.brand,
        "source": order.source,
        "currency": order.currency,
        "total": order.total,
        "commission": order.commission_total,
        "confirmed_at_ms": order.confirmed_at_ms,
        "lines": [
            {
                "sku": line.sku,
                "title": line.title,
                "quantity": line.quantity,
                "line_total": line.line_total,
                "commission_bps": line.commission_bps,
                "commission": line.commission,
            }
            for line in order.lines
        ],
    }


ORDER_CANCELLED = "order.cancelled"
ORDER_REFUNDED = "order.refunded"
CREDITED_BY = frozenset({ORDER_CONFIRMED, ORDER_CANCELLED, ORDER_REFUNDED})
REVERSED_PREFIX = "reversed:"  # earnings hash field of the reversed total per currency


def commission_reversed(order: Order, refunded_total: int) -> int:
    """How much of the order's commission is reversed in all once ``order`` (as of its
    event) is applied: all of it when cancelled, else its share of what was refunded,
    ``commission * refunded_total // total`` rounded down for the order as a whole.

    Each reversal records the difference from what was reversed before, so the sum over
    several partial refunds is this figure exactly, and a full refund reverses exactly
    the whole commission.
    """
    if order.status == "cancelled":
        return order.commission_total
    if order.total <= 0 or refunded_total <= 0:
        return 0
    return order.commission_total * min(refunded_total, order.total) // order.total


def refunded_so_far(order: Order) -> tuple[int, str | None]:
    """The order's refunded_total and, for a refund, the id of the refund it records.

    Read from the order as its script wrote it; anything unexpected counts as nothing
    refunded (a refund entry then reverses nothing) rather than wedging the outbox."""
    data = orjson.loads(order.json)
    total = data.get("refunded_total")
    refunded = total if isinstance(total, int) and total > 0 else 0
    refund = None
    refunds = data.get("refunds")
    if order.event == ORDER_REFUNDED and isinstance(refunds, list) and refunds:
        last = refunds[-1]
        if isinstance(last, dict) and isinstance(last.get("id"), str):
            refund = last["id"]
    return refunded, refund


def reversal_entry(order: Order, refunded: int, refund: str | None) -> bytes:
    """A reversal's ledger entry without its closing brace: the script, which alone
    knows what was reversed before, appends ``"amount"`` and ``"reversed_total"``."""
    head = orjson.dumps(
        {
            "kind": "reversal",
            "order": order.id,
            "version": order.version,
            "event": order.event,
            "refund": refund,
            "show": order.show,
            "brand": order.brand,
            "source": order.source,
            "currency": order.currency,
            "total": order.total,
            "commission": order.commission_total,
            "refunded_total": refunded,
            "at_ms": order.event_at_ms,
        }
    )
    return head[:-1]


async def project_orders(runtime: Runtime, orders: Sequence[Order]) -> int:
    """Apply each order to the projections; return how many were new.

    Two round trips for the batch: first every order's ledger entry and copy (scripts,
    each in its own key's slot), then the indexes. The last write, the index of all
    orders (a ZADD NX), is what says "newly applied": an order whose earlier writes
    landed before a crash is completed by the next delivery and counted then, once.
    Readers of an index always find the copy, which was written before it.
    """
    if not orders:
        return 0
    script = runtime.scripts["apply_commission"]
    copy = runtime.scripts["project_order"]
    reverse = runtime.scripts["reverse_commission"]
    calls: list[ScriptCall] = []
    for order in orders:
        # No creator: a brand's own show that no share link led to. Nobody earns on
        # it, so it has no ledger entry; its copy and indexes below are as any order's.
        if order.creator is not None and order.event in CREDITED_BY:
            ledger_keys = [
                keys.creator_ledger(order.creator),
                keys.creator_earnings(order.creator),
                keys.creator_ledger_by_time(order.creator),
            ]
            # A cancel or refund credits the order first (a no-op when its
            # confirmation was applied): it may be read before the confirmation
            # when a dead node's entries are reclaimed late.
            entry = orjson.dumps(ledger_entry(order)).decode()
            calls.append(
                ScriptCall(
                    script,
                    ledger_keys,
                    [
                        order.id,
                        entry,
                        order.currency,
                        order.commission_total,
                        order.confirmed_at_ms,
                    ],
                )
            )
            if order.event != ORDER_CONFIRMED and order.commission_total > 0:
                refunded, refund = refunded_so_far(order)
                due = commission_reversed(order, refunded)
                if due > 0:
                    reversal = reversal_entry(order, refunded, refund)
                    calls.append(
                        ScriptCall(
                            reverse,
                            ledger_keys,
                            [
                                order.id,
                                order.version,
                                order.currency,
                                due,
                                order.event_at_ms,
                                reversal,
                            ],
                        )
                    )
        calls.append(ScriptCall(copy, [keys.order(order.id)], [order.json, order.version]))
    await run_scripts(runtime.redis, calls)
    async with runtime.redis.pipeline(transaction=False) as pipe:
        for order in orders:
            pipe.zadd(keys.buyer_orders(order.buyer), {order.id: order.confirmed_at_ms}, nx=True)
            pipe.zadd(keys.orders_index(), {order.id: order.confirmed_at_ms}, nx=True)
        results = await pipe.execute()
    marks = range(1, len(results), 2)
    applied = sum(1 for i in marks if results[i] == 1)
    if applied:
        runtime.metrics.orders_projected.inc(applied)
    return applied


async def creator_earnings(redis: Redis, creator_id: str, page: PageRequest) -> dict[str, Any]:
    """A creator's totals per currency (``totals``: net, what the creator is owed;
    ``earned`` and ``reversed``, of which it is the difference) and a page of ledger
    entries (credits and reversals), newest first."""
    if await get_creator(redis, creator_id) is None:
        raise NotFound(f"creator {creator_id!r} does not exist", field="creator")
    found: Page = await page_of(redis, keys.creator_ledger_by_time(creator_id), page)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hgetall(keys.creator_earnings(creator_id))
        if found.ids:
            pipe.hmget(keys.creator_ledger(creator_id), found.ids)
        replies = await pipe.execute()
    earned: dict[str, int] = {}
    reversed_: dict[str, int] = {}
    for name, amount in replies[0].items():
        if name.startswith(REVERSED_PREFIX):
            reversed_[name.removeprefix(REVERSED_PREFIX)] = int(amount)
        else:
            earned[name] = int(amount)
    currencies = sorted(earned.keys() | reversed_.keys())
    entries = [orjson.Fragment(raw) for raw in (replies[1] if found.ids else []) if raw]
    body: dict[str, Any] = {
        "creator": creator_id,
        "totals": {c: earned.get(c, 0) - reversed_.get(c, 0) for c in currencies},
    }
    body["earned"] = {c: earned.get(c, 0) for c in currencies}
    body["reversed"] = {c: reversed_.get(c, 0) for c in currencies}
    return {**body, **listing(entries, found.next)}
