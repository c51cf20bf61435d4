"""Creators: the people who stream and earn commission on what they sell.

A creator has a showcase (the products they recommend, in their order) and share links
to shows. A share link carries the creator as ``ref``; the buyer's page passes that ref
along when it buys, and the order remembers who brought the buyer (attribution itself
lives with checkout and the commission ledger).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any
from urllib.parse import quote

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from livecart import validation as v
from livecart.commerce.catalog.products import (
    MAX_NAME_CHARS,
    Page,
    Product,
    begin_writes,
    get_products,
    lex_page,
    optimistic,
    watched_exists,
    watched_mget,
)
from livecart.errors import Conflict, InvalidInput, NotFound
from livecart.paging import PAGE_LIMIT_DEFAULT
from livecart.store import keys

MAX_SHOWCASE = 200


@dataclass(frozen=True)
class Creator:
    id: str
    name: str

    @classmethod
    def from_dict(cls, data: object) -> Creator:
        d = v.require_mapping(data, "creator")
        v.refuse_unknown_fields(d, CREATOR_FIELDS, "a creator")
        return cls(
            id=keys.check_id(d.get("id"), "id"), name=v.text(d, "name", max_len=MAX_NAME_CHARS)
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


CREATOR_FIELDS = tuple(f.name for f in fields(Creator))


def showcase_from_dict(data: Mapping[str, Any]) -> tuple[str, ...]:
    """The SKUs of a showcase body ``{"skus": [...]}``: ids, distinct, at most MAX_SHOWCASE."""
    v.refuse_unknown_fields(data, ("skus",), "a showcase")
    raw = data.get("skus")
    if raw is None:
        raise InvalidInput("skus is required (a list of SKUs, [] to clear)", field="skus")
    if not isinstance(raw, list):
        raise InvalidInput("skus must be a list of SKUs", field="skus")
    if len(raw) > MAX_SHOWCASE:
        raise InvalidInput(
            f"skus has {len(raw)} items; a showcase holds at most {MAX_SHOWCASE}", field="skus"
        )
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        sku = keys.check_id(item, f"skus[{i}]")
        if sku in seen:
            raise InvalidInput(
                f"sku {sku!r} is in the showcase twice (skus[{seen[sku]}] and skus[{i}])",
                field=f"skus[{i}]",
            )
        seen[sku] = i
    return tuple(raw)


async def save_creator(redis: Redis, creator: Creator) -> None:
    """Create or replace, unchecked: for seeding. The API uses ``create_creator``."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(keys.creator(creator.id), orjson.dumps(creator.to_dict()))
        pipe.zadd(keys.creators_index(), {creator.id: 0})
        await pipe.execute()


async def get_creator(redis: Redis, creator_id: str) -> Creator | None:
    raw = await redis.get(keys.creator(creator_id))
    return None if raw is None else Creator(**orjson.loads(raw))


async def creator_page(
    redis: Redis, *, after: str = "", limit: int = PAGE_LIMIT_DEFAULT
) -> Page[Creator]:
    """A page of creators in id order, starting after the id ``after``: the merchant's
    console lists them to pick one for a show or to read their earnings."""
    ids = await lex_page(redis, keys.creators_index(), after, limit)
    raws = await redis.mget([keys.creator(i) for i in ids[:limit]]) if ids else []
    items = [Creator(**orjson.loads(raw)) for raw in raws if raw is not None]
    return Page(items, ids[limit - 1] if len(ids) > limit else None)


async def create_creator(redis: Redis, creator: Creator) -> None:
    """Add a creator; refuse (409) when one with this id exists."""
    key = keys.creator(creator.id)

    async def attempt(pipe: Pipeline) -> None:
        if await watched_exists(pipe, key):
            raise Conflict(f"creator {creator.id!r} already exists", field="id")
        begin_writes(pipe)
        pipe.set(key, orjson.dumps(creator.to_dict()))
        pipe.zadd(keys.creators_index(), {creator.id: 0})

    await optimistic(redis, [key], attempt)


async def set_showcase(redis: Redis, creator_id: str, skus: tuple[str, ...]) -> None:
    """Replace the creator's showcase with ``skus`` in that order; every SKU must exist.

    The products are watched until the write, so one deleted meanwhile is refused
    rather than showcased.
    """
    creator_key = keys.creator(creator_id)
    product_keys = [keys.product(sku) for sku in skus]
    showcase_key = keys.creator_showcase(creator_id)

    async def attempt(pipe: Pipeline) -> None:
        if not await watched_exists(pipe, creator_key):
            raise NotFound(f"creator {creator_id!r} does not exist", field="creator")
        if product_keys:
            found = await watched_mget(pipe, product_keys)
            for i, (sku, raw) in enumerate(zip(skus, found, strict=True)):
                if raw is None:
                    raise NotFound(f"product {sku!r} does not exist", field=f"skus[{i}]")
        begin_writes(pipe)
        pipe.delete(showcase_key)
        if skus:
            pipe.zadd(showcase_key, {sku: i for i, sku in enumerate(skus)})

    await optimistic(redis, [creator_key, *product_keys], attempt)


async def get_showcase(redis: Redis, creator_id: str) -> list[Product]:
    """The showcased products in the creator's order, leaving out those deleted since."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.exists(keys.creator(creator_id))
        pipe.zrange(keys.creator_showcase(creator_id), 0, MAX_SHOWCASE - 1)
        exists, skus = await pipe.execute()
    if not exists:
        raise NotFound(f"creator {creator_id!r} does not exist", field="creator")
    return [p for p in await get_products(redis, skus) if p is not None]


@dataclass(frozen=True)
class ShareLink:
    url: str
    ref: str
    show: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def share_url(base_url: str, creator_id: str, show_id: str) -> str:
    """``BASE/shows/SHOW?ref=CREATOR``. Ids need no escaping in a path segment, but in a
    query ``+`` reads as a space, and ``@`` is escaped too so every parser agrees."""
    return f"{base_url}/shows/{show_id}?ref={quote(creator_id, safe='')}"


async def share_link(redis: Redis, base_url: str, creator_id: str, show_id: str) -> ShareLink:
    """A link to ``show_id`` that credits ``creator_id``; both must exist (404 naming which).

    Any creator may share any show: a creator earns on the buyers their link brings,
    whoever streams.
    """
    async with redis.pipeline(transaction=False) as pipe:
        pipe.exists(keys.creator(creator_id))
        pipe.exists(keys.show(show_id))
        creator_exists, show_exists = await pipe.execute()
    if not creator_exists:
        raise NotFound(f"creator {creator_id!r} does not exist", field="creator")
    if not show_exists:
        raise NotFound(f"show {show_id!r} does not exist", field="show")
    return ShareLink(url=share_url(base_url, creator_id, show_id), ref=creator_id, show=show_id)
