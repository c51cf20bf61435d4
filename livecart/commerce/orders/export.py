"""Orders as CSV for fulfilment: one row per order line, with what a warehouse needs to
pick, pack and ship it (the ship-to address, the sku and quantity) and what it has done
(status, carrier, tracking).

The orders are the ones ``GET /api/orders`` lists with the same filters, newest first.
One export reads at most ``MAX_EXPORT_CALLS`` listing pages (``MAX_EXPORT_ORDERS``
orders; with a ``status`` filter each page reads a bounded part of the index): when
more remain, the cursor to pass as ``after`` comes back with the text, as a listing's
``next`` does.

A cell a spreadsheet would take for a formula (text starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return: a buyer's name or address is theirs to choose) is
prefixed with ``'``, as OWASP advises against CSV injection.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from typing import Any

import orjson
from redis.asyncio import Redis

from livecart.commerce.orders.records import PageRequest, order_records
from livecart.commerce.orders.webhooks import iso_utc
from livecart.paging import PAGE_LIMIT_MAX

MAX_EXPORT_CALLS = 25
MAX_EXPORT_ORDERS = MAX_EXPORT_CALLS * PAGE_LIMIT_MAX
COLUMNS = (
    "order",
    "confirmed_at",
    "status",
    "show",
    "brand",
    "buyer",
    "contact_name",
    "contact_email",
    "ship_to_name",
    "ship_to_line1",
    "ship_to_line2",
    "ship_to_city",
    "ship_to_postal_code",
    "ship_to_region",
    "ship_to_country",
    "sku",
    "product",
    "variant",
    "title",
    "quantity",
    "unit_price",
    "line_total",
    "currency",
    "shipping",
    "order_total",
    "refunded_total",
    "carrier",
    "tracking_number",
    "tracking_url",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str | int:
    """A cell's value: integers as they are, text guarded against formula injection."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def variant_text(variant: Mapping[str, str] | None) -> str:
    """A line's option values as a packer reads them: ``Size: S / Colour: Red``."""
    return " / ".join(f"{name}: {value}" for name, value in (variant or {}).items())


def order_rows(order: Mapping[str, Any]) -> Iterator[list[str | int]]:
    """The CSV rows of one stored order: one per line."""
    contact = order.get("contact") or {}
    ship_to = order.get("ship_to") or {}
    fulfilment = order.get("fulfilment") or {}
    for line in order["lines"]:
        row = [
            order["id"],
            iso_utc(order["confirmed_at_ms"]),
            order.get("status", "confirmed"),
            order["show"],
            order["brand"],
            order["buyer"],
            contact.get("name"),
            contact.get("email"),
            ship_to.get("name"),
            ship_to.get("line1"),
            ship_to.get("line2"),
            ship_to.get("city"),
            ship_to.get("postal_code"),
            ship_to.get("region"),
            ship_to.get("country"),
            line["sku"],
            line.get("product") or line["sku"],
            variant_text(line.get("variant")),
            line["title"],
            line["quantity"],
            line["unit_price"],
            line["line_total"],
            order["currency"],
            order.get("shipping", 0),
            order["total"],
            order.get("refunded_total", 0),
            fulfilment.get("carrier"),
            fulfilment.get("tracking_number"),
            fulfilment.get("tracking_url"),
        ]
        yield [safe_cell(value) for value in row]


async def export_orders(
    redis: Redis,
    *,
    show: str | None,
    status: str | None,
    since_ms: int | None,
    until_ms: int | None,
    after: str | None,
) -> tuple[str, str | None]:
    """The CSV text (header row first) and the ``after`` of the rest (None: all done)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    cursor = after
    for _ in range(MAX_EXPORT_CALLS):
        page = PageRequest(limit=PAGE_LIMIT_MAX, after=cursor, since_ms=since_ms, until_ms=until_ms)
        raws, cursor = await order_records(redis, page, show=show, status=status)
        for raw in raws:
            writer.writerows(order_rows(orjson.loads(raw)))
        if cursor is None:
            break
    return out.getvalue(), cursor
