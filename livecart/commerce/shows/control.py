"""What the streamer, the moderators and the merchant change about a running show:
start and end it, pause and resume sales, pin a product, run a flash sale, restock.

Each is one script that changes the state and appends its event in the same step
(invariant 1); refusals change nothing. Who may call what is decided at the edge
(livecart.auth.roles); these functions trust their caller.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from livecart import validation as v
from livecart.commerce.catalog.products import get_product, get_sellable
from livecart.commerce.sales.keys import sale_keys
from livecart.commerce.shows.records import MAX_ALLOCATION, product_card
from livecart.errors import Conflict, InvalidInput, LivecartError, NotFound
from livecart.runtime import Runtime
from livecart.store import keys

MAX_COUNTDOWN_S = 3600
MAX_FLASH_DURATION_S = 6 * 3600
MAX_REASON = 200

_REFUSALS: dict[str, tuple[type[LivecartError], str, str | None]] = {
    "not_found": (NotFound, "the show does not exist", "show"),
    "show_ended": (Conflict, "the show has ended", None),
    "not_in_lineup": (NotFound, "the product is not in this show's lineup", "sku"),
    "in_lineup": (Conflict, "the product is already in the lineup; adjust its stock", "sku"),
    "flash_running": (Conflict, "a flash sale is already on; end it first", None),
    "not_enough_stock": (Conflict, "the show does not have that many units available", None),
}


def _refused(code: str) -> Exception:
    kind, message, field = _REFUSALS[code]
    return kind(message, field=field, code=code)


async def _run(runtime: Runtime, script: str, show: str, *args: Any) -> list[Any]:
    reply: list[Any] = await runtime.scripts[script](keys=sale_keys(show), args=list(args))
    if reply[0] == "refused":
        raise _refused(reply[1])
    return reply


def _maxlen(runtime: Runtime) -> int:
    return runtime.settings.hub.stream_max_events


async def start_show(runtime: Runtime, show: str) -> bool:
    """True when the show went live now, False when it already was."""
    reply = await _run(runtime, "start_show", show, _maxlen(runtime))
    # Outside the show's slot, so after the script (invariant 6); idempotent.
    await runtime.redis.sadd(keys.active_shows(), show)
    await runtime.redis.sadd(keys.outbox_shows(), show)
    return bool(reply[0] == "started")


async def end_show(runtime: Runtime, show: str) -> bool:
    reply = await _run(runtime, "end_show", show, _maxlen(runtime))
    return bool(reply[0] == "ended")


@dataclass(frozen=True)
class SalesChange:
    FIELDS: ClassVar[tuple[str, ...]] = ("state", "reason")

    paused: bool
    reason: str

    @classmethod
    def from_dict(cls, data: object) -> SalesChange:
        d = v.require_mapping(data, "body")
        state = d.get("state")
        if state not in ("paused", "open"):
            raise InvalidInput("state must be 'paused' or 'open'", field="state")
        return cls(
            paused=state == "paused", reason=v.text(d, "reason", max_len=MAX_REASON, default="")
        )


async def set_sales(runtime: Runtime, show: str, change: SalesChange, *, actor: str) -> bool:
    """Pause or resume; True when the state changed."""
    wanted = "paused" if change.paused else "open"
    reply = await _run(runtime, "set_sales", show, wanted, change.reason, actor, _maxlen(runtime))
    return bool(reply[0] == "changed")


async def pin_product(runtime: Runtime, show: str, sku: str | None) -> bool:
    """Pin ``sku`` (None unpins); True when the pinned product changed."""
    return (await pin(runtime, show, sku)).changed


@dataclass(frozen=True)
class Pinned:
    changed: bool
    sku: str | None  # what is pinned now: a product's sku when one of its variants was named


async def pin(runtime: Runtime, show: str, sku: str | None) -> Pinned:
    """Pin ``sku`` (None unpins). ``sku`` may name a product sold by variants, or one of
    its variants: the product is pinned whole, and ``Pinned.sku`` names it."""
    reply = await _run(runtime, "pin_product", show, sku or "", _maxlen(runtime))
    changed = reply[0] == "changed"
    return Pinned(changed, (reply[2] if changed else reply[1]) or None)


@dataclass(frozen=True)
class FlashSale:
    FIELDS: ClassVar[tuple[str, ...]] = (
        "sku",
        "price",
        "quantity",
        "per_buyer_limit",
        "countdown_s",
        "duration_s",
    )

    sku: str
    price: int
    quantity: int
    per_buyer_limit: int
    countdown_s: int
    duration_s: int

    @classmethod
    def from_dict(cls, data: object, *, max_quantity: int) -> FlashSale:
        d = v.require_mapping(data, "body")
        return cls(
            sku=keys.check_id(d.get("sku"), "sku"),
            price=v.whole(d, "price", lo=0, hi=10**11),
            quantity=v.whole(d, "quantity", lo=1, hi=MAX_ALLOCATION),
            per_buyer_limit=v.whole(d, "per_buyer_limit", lo=0, hi=max_quantity, default=0),
            countdown_s=v.whole(d, "countdown_s", lo=0, hi=MAX_COUNTDOWN_S, default=0),
            duration_s=v.whole(d, "duration_s", lo=1, hi=MAX_FLASH_DURATION_S),
        )


async def start_flash_sale(runtime: Runtime, show: str, sale: FlashSale) -> dict[str, Any]:
    flash_id = f"f_{secrets.token_hex(8)}"
    try:
        reply = await _flash_start(runtime, show, flash_id, sale)
    except NotFound as exc:
        if exc.code == "not_in_lineup":
            await _refuse_product_with_variants(runtime, sale.sku)
        raise
    flash: dict[str, Any] = orjson.loads(reply[1])
    return flash


async def _flash_start(runtime: Runtime, show: str, flash_id: str, sale: FlashSale) -> list[Any]:
    return await _run(
        runtime,
        "flash_start",
        show,
        flash_id,
        sale.sku,
        sale.price,
        sale.quantity,
        sale.per_buyer_limit,
        sale.countdown_s * 1000,
        sale.duration_s * 1000,
        _maxlen(runtime),
    )


async def end_flash_sale(runtime: Runtime, show: str, *, only_if_over: bool = False) -> bool:
    reply = await _run(runtime, "flash_end", show, "0" if only_if_over else "1", _maxlen(runtime))
    return bool(reply[0] == "ended")


async def adjust_stock(runtime: Runtime, show: str, sku: str, delta: int) -> dict[str, int]:
    try:
        reply = await _run(runtime, "adjust_stock", show, sku, delta, _maxlen(runtime))
    except NotFound as exc:
        if exc.code == "not_in_lineup":
            await _refuse_product_with_variants(runtime, sku)
        raise
    return {"stock": int(reply[1]), "allocated": int(reply[2])}


async def _refuse_product_with_variants(runtime: Runtime, sku: str) -> None:
    """A show keeps stock per variant: naming a product that has variants is refused
    (400) with the variant SKUs to name instead; any other SKU passes."""
    product = await get_product(runtime.redis, sku)
    if product is not None and product.variants:
        await get_sellable(runtime.redis, sku)  # raises, listing the variants


async def add_to_lineup(runtime: Runtime, show: str, sku: str, quantity: int) -> None:
    """Add a sellable (a plain product, or one variant) to the lineup."""
    sellable = await get_sellable(runtime.redis, sku)
    brand = await runtime.redis.hget(keys.show(show), "brand")
    if brand is None:
        raise _refused("not_found")
    if sellable.product.brand != brand:
        raise InvalidInput(
            f"product {sku!r} belongs to brand {sellable.product.brand!r}, not {brand!r}",
            field="sku",
        )
    await _run(runtime, "lineup_add", show, sku, product_card(sellable), quantity, _maxlen(runtime))


async def stock_report(runtime: Runtime, show: str) -> list[dict[str, Any]]:
    """Per product: allocated, available, held (being paid or in carts) and sold units.
    Read atomically, so available + held + sold == allocated in every row."""
    async with runtime.redis.pipeline(transaction=True) as pipe:
        pipe.exists(keys.show(show))
        for key in (keys.show_allocated, keys.show_stock, keys.show_held, keys.show_sold):
            pipe.hgetall(key(show))
        exists, allocated, stock, held, sold = await pipe.execute()
    if not exists:
        raise _refused("not_found")
    return [
        {
            "sku": sku,
            "allocated": int(units),
            "stock": int(stock.get(sku, 0)),
            "held": int(held.get(sku, 0)),
            "sold": int(sold.get(sku, 0)),
        }
        for sku, units in sorted(allocated.items())
    ]
