"""Cross-show projections of orders: creators' commission ledgers, the order copies
found by id (following each order's lifecycle), and the indexes of all orders and of
each buyer's.

The buy script writes only its show's keys (invariant 6); these are built from the
shows' outboxes by the ``projections`` consumer group (``livecart.commerce.outbox``).
Each order is applied once, keyed by its id, however often it is delivered: the ledger
by HSETNX inside ``apply_commission.lua`` (which moves the earnings with it), the copy
by ``project_order.lua`` (written only by a higher version of the order), the indexes
by ZADD NX. Lifecycle events (fulfilled, cancelled, ...) update the copy only: the
ledger keeps what the order earned when it was confirmed. Re-applying an order event
therefore changes nothing, which is what makes at-least-once delivery from the outbox
safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from redis.asyncio import Redis

from livecart.commerce.creators import get_creator
from livecart.commerce.orders import ORDER_CONFIRMED, Order, Page, PageRequest, listing, page_of
from livecart.errors import NotFound
from livecart.runtime import Runtime
from livecart.store import keys


def ledger_entry(order: Order) -> dict[str, Any]:
    """What a creator's ledger keeps of an order: enough to explain the commission."""
    return {
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


async def project_orders(runtime: Runtime, orders: Sequence[Order]) -> int:
    """Apply each order to the projections; return how many were new.

    One round trip for the batch. Per order the writes go in this order: the ledger,
    the copy, the buyer's index, the index of all orders. The last one, a ZADD NX, is
    what says "newly applied": an order whose earlier writes landed before a crash is
    completed by the next delivery and counted then, once. Readers of an index always
    find the copy, which was written before it.
    """
    if not orders:
        return 0
    script = runtime.scripts["apply_commission"]
    copy = runtime.scripts["project_order"]
    marks: list[int] = []
    async with runtime.redis.pipeline(transaction=False) as pipe:
        for order in orders:
            if order.creator is not None and order.event == ORDER_CONFIRMED:
                await script(
                    keys=[
                        keys.creator_ledger(order.creator),
                        keys.creator_earnings(order.creator),
                        keys.creator_ledger_by_time(order.creator),
                    ],
                    args=[
                        order.id,
                        orjson.dumps(ledger_entry(order)).decode(),
                        order.currency,
                        order.commission_total,
                        order.confirmed_at_ms,
                    ],
                    client=pipe,
                )
            await copy(keys=[keys.order(order.id)], args=[order.json, order.version], client=pipe)
            pipe.zadd(keys.buyer_orders(order.buyer), {order.id: order.confirmed_at_ms}, nx=True)
            pipe.zadd(keys.orders_index(), {order.id: order.confirmed_at_ms}, nx=True)
            marks.append(len(pipe.command_stack) - 1)
        results = await pipe.execute()
    applied = sum(1 for i in marks if results[i] == 1)
    if applied:
        runtime.metrics.orders_projected.inc(applied)
    return applied


async def creator_earnings(redis: Redis, creator_id: str, page: PageRequest) -> dict[str, Any]:
    """A creator's totals per currency and a page of ledger entries, newest first."""
    if await get_creator(redis, creator_id) is None:
        raise NotFound(f"creator {creator_id!r} does not exist", field="creator")
    found: Page = await page_of(redis, keys.creator_ledger_by_time(creator_id), page)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hgetall(keys.creator_earnings(creator_id))
        if found.ids:
            pipe.hmget(keys.creator_ledger(creator_id), found.ids)
        replies = await pipe.execute()
    totals = {currency: int(amount) for currency, amount in sorted(replies[0].items())}
    entries = [orjson.Fragment(raw) for raw in (replies[1] if found.ids else []) if raw]
    return {"creator": creator_id, "totals": totals, **listing(entries, found.next)}
