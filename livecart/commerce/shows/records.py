"""Shows: a creator's live session (or a brand's own, with no creator), its lineup of
products and their stock.

The catalog lives outside the show's slot, so a show takes a copy of each product card
(price included) when the product joins its lineup: every later script that sells in
the show reads only the show's own keys (invariant 6).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson
from redis.asyncio import Redis

from livecart import validation as v
from livecart.commerce.accounts.creators import get_creator
from livecart.commerce.auctions.keys import award_keys
from livecart.commerce.catalog.products import Sellable, get_brand, get_sellable
from livecart.commerce.sales.keys import sale_keys
from livecart.commerce.sales.shipping import get_rule
from livecart.commerce.shows.listing import index_show
from livecart.errors import InvalidInput, NotFound
from livecart.media.state import stream_view
from livecart.store import keys
from livecart.store.clock import redis_now_ms
from livecart.store.scripts import Scripts

MAX_LINEUP = 200
MAX_ALLOCATION = 1_000_000


@dataclass(frozen=True)
class LineupEntry:
    sku: str
    quantity: int


LINEUP_ENTRY_FIELDS = ("sku", "quantity")


@dataclass(frozen=True)
class NewShow:
    FIELDS: ClassVar[tuple[str, ...]] = (
        "id",
        "title",
        "creator",
        "brand",
        "lineup",
        "scheduled_at_ms",
    )

    id: str
    title: str
    creator: str | None  # None: the brand's own show, which credits no creator
    brand: str
    lineup: tuple[LineupEntry, ...]
    scheduled_at_ms: int | None = None

    @classmethod
    def from_dict(cls, data: object) -> NewShow:
        d = v.require_mapping(data, "body")
        raw_lineup = d.get("lineup", [])
        if not isinstance(raw_lineup, list) or len(raw_lineup) > MAX_LINEUP:
            raise InvalidInput(
                f"lineup must be a list of at most {MAX_LINEUP} items", field="lineup"
            )
        lineup = []
        seen: set[str] = set()
        for i, item in enumerate(raw_lineup):
            entry = v.require_mapping(item, f"lineup[{i}]")
            v.refuse_unknown_fields(
                entry, LINEUP_ENTRY_FIELDS, "a lineup entry", path=f"lineup[{i}]"
            )
            sku = keys.check_id(entry.get("sku"), f"lineup[{i}].sku")
            if sku in seen:
                raise InvalidInput(f"sku {sku!r} is in the lineup twice", field=f"lineup[{i}].sku")
            seen.add(sku)
            with v.within(f"lineup[{i}]"):
                quantity = v.whole(entry, "quantity", lo=1, hi=MAX_ALLOCATION)
            lineup.append(LineupEntry(sku=sku, quantity=quantity))
        scheduled = d.get("scheduled_at_ms")
        if scheduled is not None:
            scheduled = v.whole(d, "scheduled_at_ms", lo=0, hi=2**53)
        return cls(
            id=keys.check_id(d.get("id"), "id"),
            title=v.text(d, "title", max_len=200),
            creator=_creator_of(d),
            brand=keys.check_id(d.get("brand"), "brand"),
            lineup=tuple(lineup),
            scheduled_at_ms=scheduled,
        )


def _creator_of(d: Mapping[str, Any]) -> str | None:
    """The show's creator: an id, or None (absent or null) for the brand's own show.
    An empty string is refused: it reads as a form left blank by mistake, and a client
    meaning "no creator" says so with null."""
    raw = d.get("creator")
    if raw is None:
        return None
    if raw == "":
        raise InvalidInput(
            "creator must be a creator id, or null (or left out) for the brand's own show",
            field="creator",
        )
    return keys.check_id(raw, "creator")


@dataclass(frozen=True)
class ShowCreated:
    created: bool  # False: a show with this id already existed and nothing changed
    epoch: str


async def create_show(
    redis: Redis, scripts: Scripts, show: NewShow, *, stream_max_events: int
) -> ShowCreated:
    """Check every reference first, then create the show in one script, then put it in
    the listing's indexes (they span shows, so no show script writes them)."""
    if show.creator is not None and await get_creator(redis, show.creator) is None:
        raise NotFound(f"creator {show.creator!r} does not exist", field="creator")
    if await get_brand(redis, show.brand) is None:
        raise NotFound(f"brand {show.brand!r} does not exist", field="brand")
    products: list[tuple[Sellable, int]] = []
    for i, entry in enumerate(show.lineup):
        sellable = await get_sellable(redis, entry.sku, field=f"lineup[{i}].sku")
        if sellable.product.brand != show.brand:
            raise InvalidInput(
                f"product {entry.sku!r} belongs to brand {sellable.product.brand!r}, "
                f"not {show.brand!r}",
                field=f"lineup[{i}].sku",
            )
        products.append((sellable, entry.quantity))

    event = {
        "show": show.id,
        "title": show.title,
        "state": "scheduled",
        "lineup": [p.sku for p, _ in products],
    }
    args: list[str | int] = [
        show.id,
        show.title,
        show.creator or "",
        show.brand,
        "" if show.scheduled_at_ms is None else show.scheduled_at_ms,
        stream_max_events,
        orjson.dumps(event).decode(),
    ]
    for product, quantity in products:
        args += [product.sku, product_card(product), quantity]
    reply = await scripts["create_show"](keys=sale_keys(show.id), args=args)
    # The indexes span shows, so they are written after the script (invariant 6), on
    # a retry too (a crash may have come between): NX keeps a show's place unmoved.
    await index_show(redis, show.id)
    return ShowCreated(created=reply[0] == "created", epoch=reply[1])


def product_card(sellable: Sellable) -> str:
    """The copy of a sellable a show keeps: what viewers see and what a buy is priced at.

    The product's fields, with ``sku`` the sellable's, ``product`` the product's SKU and
    ``variant`` its option values ({} for a plain product). A variant's card also has
    ``options`` (the order to show the values in: Lua does not keep an object's key
    order), its ``position`` among the product's variants, and its own price and image.
    The product's list of variants stays out: the lineup holds one card per variant.
    """
    card = sellable.product.to_dict()
    card.pop("variants", None)
    card.pop("options", None)
    card.update(sku=sellable.sku, product=sellable.product.sku, variant=sellable.values)
    if sellable.variant is not None:
        card.update(
            options=list(sellable.product.options),
            position=sellable.product.variants.index(sellable.variant),
            price=sellable.price,
            image_url=sellable.image_url,
        )
    return orjson.dumps(card).decode()


async def show_snapshot(
    redis: Redis, show_id: str, scripts: Scripts | None = None
) -> dict[str, Any]:
    """Show state, lineup with live stock, flash sale, newest event id and Redis' clock,
    read in one atomic step so they agree with each other. With ``scripts`` (every
    snapshot a client gets), the latest auction and giveaway too, read just after: a
    bid between the two reads is also in the events that follow the snapshot."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hgetall(keys.show(show_id))
        pipe.hgetall(keys.show_lineup(show_id))
        pipe.hgetall(keys.show_stock(show_id))
        pipe.hgetall(keys.show_allocated(show_id))
        pipe.hgetall(keys.show_flash(show_id))
        pipe.xrevrange(keys.show_events(show_id), count=1)
        show, lineup, stock, allocated, flash, newest = await pipe.execute()
    # Read just after the MULTI (a Cluster's MULTI takes only the slot's keys), from the
    # server whose clock the show's scripts read.
    now_ms = await redis_now_ms(redis, near=keys.show(show_id))
    if not show:
        raise NotFound(f"show {show_id!r} does not exist", field="show")
    # The brand's rule lives outside the show's slot: read after, not in the MULTI.
    shipping = await get_rule(redis, show["brand"])
    awards = {} if scripts is None else await latest_awards(scripts, show_id, show)
    products = []
    for sku, card_json in sorted(lineup.items()):
        card = orjson.loads(card_json)
        card["stock"] = int(stock.get(sku, 0))
        card["allocated"] = int(allocated.get(sku, 0))
        products.append(card)
    pinned_product = pinned_card(show["pinned"], products) if show["pinned"] else None
    return {
        "id": show["id"],
        "title": show["title"],
        "creator": show.get("creator") or None,  # None: the brand's own show
        "brand": show["brand"],
        "shipping": shipping.to_dict(),
        "state": show["state"],
        "sales": show["sales"],
        "sales_reason": show.get("sales_reason") or None,
        "pinned": show["pinned"] or None,
        "pinned_product": pinned_product,
        "viewers": int(show.get("viewers") or 0),  # summed across nodes by the hub
        "scheduled_at_ms": int(show["scheduled_at"]) if show["scheduled_at"] else None,
        "created_at_ms": int(show["created_at"]),
        "started_at_ms": int(show["started_at"]) if show.get("started_at") else None,
        "ended_at_ms": int(show["ended_at"]) if show.get("ended_at") else None,
        "epoch": show["epoch"],
        "last_event_id": newest[0][0] if newest else None,
        "server_time_ms": now_ms,
        "flash_sale": _flash_view(flash, now_ms),
        "stream": stream_view(show),
        "lineup": products,
        **awards,
    }


async def latest_awards(scripts: Scripts, show_id: str, show: Mapping[str, str]) -> dict[str, Any]:
    """``auction`` and ``giveaway``: the show's latest of each, as its view (or None)."""
    found: dict[str, Any] = {}
    for kind in ("auction", "giveaway"):
        item = show.get(kind)
        raw = None
        if item:
            raw = await scripts["award_view"](keys=award_keys(show_id, kind, item), args=[])
        found[kind] = orjson.loads(raw) if raw else None
    return found


def pinned_card(pinned: str, lineup: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What the ``pinned`` event carries for ``pinned`` (pin_product.lua builds the same
    from the show's keys): a plain product's card with its stock, or, for a product
    sold by variants, its first variant's card standing for the product (``sku`` the
    product's, ``stock`` the variants' total) with ``variants``: each variant in the
    lineup with its live stock, in the product's order. ``lineup``: cards with stock."""
    for card in lineup:
        if card["sku"] == pinned:
            return {k: value for k, value in card.items() if k != "allocated"}
    variants = sorted(
        (card for card in lineup if card.get("product") == pinned),
        key=lambda card: int(card.get("position", 0)),
    )
    if not variants:
        return None
    group = {k: value for k, value in variants[0].items() if k not in _VARIANT_ONLY}
    group["sku"] = pinned
    group["stock"] = sum(card["stock"] for card in variants)
    group["variants"] = [
        {key: card[key] for key in ("sku", "variant", "price", "image_url", "stock")}
        for card in variants
    ]
    return group


_VARIANT_ONLY = ("variant", "position", "allocated")


def _flash_view(flash: dict[str, str], now_ms: int) -> dict[str, Any] | None:
    """The flash sale as a page shows it: its numbers and whether it is coming, on or over
    by Redis' clock (the same clock the buy script decides by)."""
    if not flash:
        return None
    starts, ends = int(flash["starts_ms"]), int(flash["ends_ms"])
    phase = "ended" if now_ms >= ends else "running" if now_ms >= starts else "countdown"
    return {
        "id": flash["id"],
        "sku": flash["sku"],
        "price": int(flash["price"]),
        "quantity": int(flash["quantity"]),
        "remaining": int(flash["remaining"]),
        "per_buyer_limit": int(flash["per_buyer_limit"]),
        "starts_ms": starts,
        "ends_ms": ends,
        "phase": phase,
    }
