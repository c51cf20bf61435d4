"""Confirmed orders: the outbox entry's order, decoded once, and the reads that list them.

The buy script writes each confirmed order into its show's slot (``show_order`` and
the ``show_orders`` index) and appends it to the show's outbox in the same step. What
spans shows (``order(id)`` copies, ``orders_index``, ``buyer_orders``) is a projection
built from the outboxes by ``livecart.commerce.orders.projections``; it may lag a buy by a
moment, never miss one.

Listings are newest first (by ``confirmed_at_ms``, then by id, descending). A page ends
with ``next``: pass it as ``after`` to get the following page. ``after`` names the last
item of the previous page, so a page never skips or repeats an item, even when many
share a millisecond or new ones arrive between pages.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson
from redis.asyncio import Redis

from livecart import validation as v
from livecart.errors import InvalidInput, NotFound
from livecart.paging import PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX
from livecart.store import keys

ORDER_CONFIRMED = "order.confirmed"
# What an outbox entry may be: the order's confirmation, then its lifecycle's moves
# (livecart.commerce.orders.lifecycle). Each is a webhook of the same name.
ORDER_EVENTS = frozenset(
    {ORDER_CONFIRMED, "order.fulfilled", "order.delivered", "order.cancelled", "order.refunded"}
)
ORDER_STATUSES = frozenset({"confirmed", "fulfilled", "delivered", "cancelled", "refunded"})
MAX_MS = 2**53
MAX_AMOUNT = 10**15  # far above any order; refuses nonsense before it reaches a ledger
DELIVERY_PREFIX = "msg_"
STATUS_SCAN_PAGES = 10  # index pages one status-filtered listing page reads at most


@dataclass(frozen=True)
class OrderLine:
    sku: str
    title: str
    quantity: int
    line_total: int
    commission_bps: int
    commission: int
    # What to ship: the catalog product's SKU (the line's own for a plain product, and
    # for orders from before variants) and the variant's option values ({} for none).
    product: str = ""
    variant: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Order:
    """What the consumers need of a confirmed order, plus its JSON exactly as written."""

    id: str
    show: str
    brand: str
    buyer: str
    currency: str
    total: int
    commission_total: int
    creator: str | None  # who brought the buyer; None when nobody did
    source: str | None  # "show" (the show's creator) or "link" (a creator's share link)
    confirmed_at_ms: int
    lines: tuple[OrderLine, ...]
    json: str
    status: str = "confirmed"
    version: int = 1  # 1 when confirmed, one more per lifecycle move
    updated_at_ms: int | None = None  # the last move's time; None: never moved
    event: str = ORDER_CONFIRMED  # the outbox entry this was read from

    @property
    def delivery_id(self) -> str:
        """One webhook per order event: the confirmation keeps ``msg_`` + order id (as
        before the lifecycle existed), each later move adds the order's version."""
        if self.event == ORDER_CONFIRMED:
            return delivery_id_for(self.id)
        return delivery_id_for(f"{self.id}.v{self.version}")

    @property
    def event_at_ms(self) -> int:
        """When the event happened: the last move, else the confirmation."""
        return self.confirmed_at_ms if self.updated_at_ms is None else self.updated_at_ms


def delivery_id_for(order_id: str) -> str:
    """The webhook delivery id of an order: the same on every retry and re-read.

    ``msg_`` + the order id; an order id too long to carry the prefix within the id
    rule's 64 characters gets a digest instead, still derived from the id alone.
    """
    candidate = DELIVERY_PREFIX + order_id
    if len(candidate) <= 64:
        return candidate
    return DELIVERY_PREFIX + "h" + hashlib.sha256(order_id.encode()).hexdigest()[:40]


def parse_order(raw: str | bytes) -> Order:
    """Decode an order's JSON, refusing (``InvalidInput`` naming the field) anything the
    projections or webhooks could not use."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"order is not valid JSON: {exc}", field="order") from None
    d = v.require_mapping(data, "order")
    order_id = keys.check_id(d.get("id"), "order.id")
    lines_raw = d.get("lines")
    if not isinstance(lines_raw, list) or not lines_raw:
        raise InvalidInput("order.lines must be a non-empty list", field="order.lines")
    lines = []
    for i, item in enumerate(lines_raw):
        line = v.require_mapping(item, f"order.lines[{i}]")
        lines.append(
            OrderLine(
                sku=keys.check_id(line.get("sku"), f"order.lines[{i}].sku"),
                title=_text(line, "title", f"order.lines[{i}].title", default=""),
                quantity=_whole(line, "quantity", f"order.lines[{i}].quantity", lo=1),
                line_total=_whole(line, "line_total", f"order.lines[{i}].line_total"),
                commission_bps=_whole(
                    line, "commission_bps", f"order.lines[{i}].commission_bps", hi=10_000
                ),
                commission=_whole(line, "commission", f"order.lines[{i}].commission"),
                product=keys.check_id(
                    line.get("product", line.get("sku")), f"order.lines[{i}].product"
                ),
                variant=_variant(line.get("variant"), f"order.lines[{i}].variant"),
            )
        )
    attribution = d.get("attribution")
    creator = source = None
    if attribution is not None:
        a = v.require_mapping(attribution, "order.attribution")
        if a.get("creator") is not None:
            creator = keys.check_id(a.get("creator"), "order.attribution.creator")
            source = _text(a, "source", "order.attribution.source", default="show")
    try:
        currency = v.currency(d, "currency")
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field="order.currency") from None
    status = _text(d, "status", "order.status", default="confirmed")
    if status not in ORDER_STATUSES:
        raise InvalidInput(f"order status {status[:40]!r} is not known", field="order.status")
    updated = d.get("updated_at_ms")
    return Order(
        id=order_id,
        show=keys.check_id(d.get("show"), "order.show"),
        brand=keys.check_id(d.get("brand"), "order.brand"),
        buyer=keys.check_id(d.get("buyer"), "order.buyer"),
        currency=currency,
        total=_whole(d, "total", "order.total"),
        commission_total=_whole(d, "commission_total", "order.commission_total"),
        creator=creator,
        source=source,
        confirmed_at_ms=_whole(d, "confirmed_at_ms", "order.confirmed_at_ms", hi=MAX_MS),
        lines=tuple(lines),
        json=raw if isinstance(raw, str) else raw.decode(),
        status=status,
        version=1 if d.get("version") is None else _whole(d, "version", "order.version", lo=1),
        updated_at_ms=None
        if updated is None
        else _whole(d, "updated_at_ms", "order.updated_at_ms", hi=MAX_MS),
    )


def _variant(raw: object, field: str) -> tuple[tuple[str, str], ...]:
    """A line's option values (name -> value), in the order written; absent: none."""
    if raw is None:
        return ()
    d = v.require_mapping(raw, field)
    return tuple((name, _text(d, name, f"{field}.{name}", default="")) for name in d)


def _whole(d: Mapping[str, Any], key: str, field: str, *, lo: int = 0, hi: int = MAX_AMOUNT) -> int:
    try:
        return v.whole(d, key, lo=lo, hi=hi)
    except InvalidInput as exc:
        raise InvalidInput(f"order field {exc.message}", field=field) from None


def _text(d: Mapping[str, Any], key: str, field: str, *, default: str) -> str:
    try:
        return v.text(d, key, max_len=500, default=default)
    except InvalidInput as exc:
        raise InvalidInput(f"order field {exc.message}", field=field) from None


# --- reading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PageRequest:
    """One page of a listing: newest first, after the item named ``after``.

    ``since_ms`` and ``until_ms`` bound the confirmation time, both inclusive.
    """

    limit: int = PAGE_LIMIT_DEFAULT
    after: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= PAGE_LIMIT_MAX:
            raise InvalidInput(f"limit must be between 1 and {PAGE_LIMIT_MAX}", field="limit")
        if self.after is not None:
            keys.check_id(self.after, "after")
        if (
            self.since_ms is not None
            and self.until_ms is not None
            and self.since_ms > self.until_ms
        ):
            raise InvalidInput("since_ms must not be later than until_ms", field="since_ms")


@dataclass(frozen=True)
class Page:
    ids: list[str]
    next: str | None  # the ``after`` of the next page; None on the last page


async def page_of(redis: Redis, index: str, page: PageRequest) -> Page:
    """A page of members of the sorted set ``index`` (scored by ms), newest first.

    Ties (one score, many members) are ordered by member, descending; the cursor is a
    member, so its score is looked up (scores never change: indexes are written with
    ZADD NX) and the page is read in one MULTI: the members tied with the cursor and the
    strictly older ones.
    """
    top: float | str = "+inf" if page.until_ms is None else page.until_ms
    bottom: float | str = "-inf" if page.since_ms is None else page.since_ms
    tied: list[str] = []
    older_than = None
    if page.after is not None:
        score = await redis.zscore(index, page.after)
        if score is None:
            raise InvalidInput(
                f"after {page.after!r} is not an item of this listing", field="after"
            )
        if page.until_ms is None or score <= page.until_ms:
            older_than = score
    async with redis.pipeline(transaction=True) as pipe:
        if older_than is not None:
            pipe.zrangebyscore(index, older_than, older_than)
            pipe.zrevrangebyscore(index, f"({older_than:.0f}", bottom, start=0, num=page.limit + 1)
            tied_all, rest = await pipe.execute()
            if page.since_ms is None or older_than >= page.since_ms:
                tied = sorted((m for m in tied_all if m < page.after), reverse=True)
        else:
            pipe.zrevrangebyscore(index, top, bottom, start=0, num=page.limit + 1)
            (rest,) = await pipe.execute()
    ids = [*tied, *rest][: page.limit + 1]
    if len(ids) > page.limit:
        return Page(ids=ids[: page.limit], next=ids[page.limit - 1])
    return Page(ids=ids, next=None)


def listing(items: Sequence[Any], next_after: str | None) -> dict[str, Any]:
    """Every listing of the API has this shape, whatever it lists."""
    return {"items": list(items), "next": next_after}


def check_status(value: str | None) -> str | None:
    """A ``status`` filter: one of the order statuses, or None for all."""
    if value is not None and value not in ORDER_STATUSES:
        raise InvalidInput(
            f"status must be one of {', '.join(sorted(ORDER_STATUSES))}", field="status"
        )
    return value


async def list_orders(
    redis: Redis, page: PageRequest, *, show: str | None = None, status: str | None = None
) -> dict[str, Any]:
    """Orders, newest first. With ``show``: that show's own index and order records,
    authoritative and without lag. Without: the cross-show projection.

    With ``status``: only orders that have it now. The indexes are by time, not status,
    so the records are read and filtered: a page reads at most ``STATUS_SCAN_PAGES``
    pages of the index, and may hold fewer than ``limit`` orders with a ``next`` to
    follow (bounded work per request, whatever the mix of statuses)."""
    raws, next_after = await order_records(redis, page, show=show, status=status)
    return listing(_fragments(raws), next_after)


async def order_records(
    redis: Redis, page: PageRequest, *, show: str | None = None, status: str | None = None
) -> tuple[list[str | bytes], str | None]:
    """One page of ``list_orders``: the stored order JSON, and the ``after`` of the
    next page (None on the last)."""
    if show is not None:
        if not await redis.exists(keys.show(show)):
            raise NotFound(f"show {show!r} does not exist", field="show")
        index = keys.show_orders(show)

        async def records(ids: Sequence[str]) -> list[str | bytes | None]:
            found: list[str | bytes | None] = (
                await redis.mget([keys.show_order(show, i) for i in ids]) if ids else []
            )
            return found
    else:
        index = keys.orders_index()

        async def records(ids: Sequence[str]) -> list[str | bytes | None]:
            return await _copies(redis, ids)

    if status is None:
        found = await page_of(redis, index, page)
        return [raw for raw in await records(found.ids) if raw is not None], found.next
    kept: list[str | bytes] = []
    cursor = page.after
    for _ in range(STATUS_SCAN_PAGES):
        found = await page_of(redis, index, replace(page, after=cursor))
        for order_id, raw in zip(found.ids, await records(found.ids), strict=True):
            if raw is not None and orjson.loads(raw).get("status", "confirmed") == status:
                kept.append(raw)
                if len(kept) == page.limit:
                    return kept, order_id
        if found.next is None:
            return kept, None
        cursor = found.next
    return kept, cursor


async def list_buyer_orders(redis: Redis, buyer: str, page: PageRequest) -> dict[str, Any]:
    found = await page_of(redis, keys.buyer_orders(buyer), page)
    return listing(_fragments(await _copies(redis, found.ids)), found.next)


async def get_order(redis: Redis, order_id: str) -> orjson.Fragment:
    raw = await redis.get(keys.order(order_id))
    if raw is None:
        raise NotFound(f"order {order_id!r} does not exist", field="order")
    return orjson.Fragment(raw)


async def _copies(redis: Redis, ids: Sequence[str]) -> list[str | bytes | None]:
    """The ``order(id)`` copies, one GET each in one round trip (they span slots)."""
    if not ids:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for order_id in ids:
            pipe.get(keys.order(order_id))
        found: list[str | bytes | None] = await pipe.execute()
        return found


def _fragments(raws: Sequence[str | bytes | None]) -> list[orjson.Fragment]:
    """Stored order JSON, passed through to the response without decoding it again.

    An index entry is written after its record, so a missing record is never expected;
    one that is gone anyway is left out rather than shown as null.
    """
    return [orjson.Fragment(raw) for raw in raws if raw is not None]
