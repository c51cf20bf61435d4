"""Brands and their products: the merchant's catalog, outside any show's slot.

A product's price is in minor units of its currency (cents), an integer; its
commission rate in basis points (1/100 of a percent) of the line total.

Shows take a copy of a product card when the product joins a lineup (see shows/records.py), so
nothing here ever changes a show: editing or deleting a catalog product only affects
lineups made afterwards.

Every write that must agree with what it read (a brand that must exist, an id that must
not, a product moving between brands' indexes) runs as one optimistic transaction:
WATCH the keys read, check, then MULTI/EXEC the writes. A concurrent change to a watched
key makes EXEC fail and the whole step is tried again, so a product is never indexed
under a brand that was deleted meanwhile, and a brand is never deleted while a product
still names it. These keys carry no hash tag: the catalog lives on one Redis node.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, Generic, TypeVar

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from livecart import validation as v
from livecart.errors import Conflict, NotFound
from livecart.paging import PAGE_LIMIT_DEFAULT
from livecart.store import keys

MAX_PRICE_MINOR = 10**11  # a billion in major units: far above any live-shopping item
MAX_PER_USER_LIMIT = 10_000
MAX_COMMISSION_BPS = 10_000  # 100 % of the line total
MAX_NAME_CHARS = 200
MAX_TITLE_CHARS = 200
MAX_DESCRIPTION_CHARS = 5000
# Optimistic transactions retried this often before the caller is told to try again:
# only a key changed by someone else between WATCH and EXEC costs a retry.
MAX_TRANSACTION_ATTEMPTS = 16

T = TypeVar("T")


@dataclass(frozen=True)
class Brand:
    id: str
    name: str

    @classmethod
    def from_dict(cls, data: object) -> Brand:
        d = v.require_mapping(data, "brand")
        v.refuse_unknown_fields(d, BRAND_FIELDS, "a brand")
        return cls(
            id=keys.check_id(d.get("id"), "id"), name=v.text(d, "name", max_len=MAX_NAME_CHARS)
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Product:
    sku: str
    brand: str
    title: str
    price: int
    currency: str
    description: str = ""
    image_url: str = ""
    commission_bps: int = 0
    per_user_limit: int = 0  # 0: no limit per buyer

    @classmethod
    def from_dict(cls, data: object) -> Product:
        """The one validator of a product, whatever it came from (API body, import row).

        The price is at least 1 minor unit: a zero price is far more often a slip than
        a giveaway, and a one-tap buy of a free item would be an easy abuse.
        """
        d = v.require_mapping(data, "product")
        v.refuse_unknown_fields(d, PRODUCT_FIELDS, "a product")
        return cls(
            sku=keys.check_id(d.get("sku"), "sku"),
            brand=keys.check_id(d.get("brand"), "brand"),
            title=v.text(d, "title", max_len=MAX_TITLE_CHARS),
            price=v.whole(d, "price", lo=1, hi=MAX_PRICE_MINOR),
            currency=v.currency(d, "currency"),
            description=v.text(
                d, "description", max_len=MAX_DESCRIPTION_CHARS, default="", multiline=True
            ),
            image_url=v.url(d, "image_url"),
            commission_bps=v.whole(d, "commission_bps", lo=0, hi=MAX_COMMISSION_BPS, default=0),
            per_user_limit=v.whole(d, "per_user_limit", lo=0, hi=MAX_PER_USER_LIMIT, default=0),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


BRAND_FIELDS = tuple(f.name for f in fields(Brand))
PRODUCT_FIELDS = tuple(f.name for f in fields(Product))
REQUIRED_PRODUCT_FIELDS = ("sku", "brand", "title", "price", "currency")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing; ``next`` is the cursor for the following page, None at the end."""

    items: list[T]
    next: str | None


async def optimistic(
    redis: Redis, watched: Sequence[str], attempt: Callable[[Pipeline], Awaitable[T]]
) -> T:
    """Run ``attempt`` with ``watched`` under WATCH until its MULTI/EXEC goes through.

    ``attempt`` reads through the pipeline (immediate mode), raises to refuse, then
    calls ``begin_writes(pipe)`` and queues its writes; an error it raises changes nothing.
    """
    for _ in range(MAX_TRANSACTION_ATTEMPTS):
        async with redis.pipeline(transaction=True) as pipe:
            await pipe.watch(*watched)
            result = await attempt(pipe)
            try:
                await pipe.execute()
            except WatchError:
                continue
            return result
    raise Conflict(
        "the catalog was changed by other requests at the same time, again and again; try again"
    )


def begin_writes(pipe: Pipeline) -> None:
    """End the reads of an ``optimistic`` attempt: what is queued from here on is the MULTI."""
    pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated


def _brand_from_json(raw: str | bytes) -> Brand:
    return Brand(**orjson.loads(raw))


def _product_from_json(raw: str | bytes) -> Product:
    return Product(**orjson.loads(raw))


# --- brands ---------------------------------------------------------------------------


async def save_brand(redis: Redis, brand: Brand) -> None:
    """Create or replace, unchecked: for seeding. The API uses create / update."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(keys.brand(brand.id), orjson.dumps(brand.to_dict()))
        pipe.zadd(keys.brands_index(), {brand.id: 0})
        await pipe.execute()


async def get_brand(redis: Redis, brand_id: str) -> Brand | None:
    raw = await redis.get(keys.brand(brand_id))
    return None if raw is None else _brand_from_json(raw)


async def create_brand(redis: Redis, brand: Brand) -> None:
    """Add a brand; refuse (409) when one with this id exists."""
    key = keys.brand(brand.id)

    async def attempt(pipe: Pipeline) -> None:
        if await pipe.exists(key):
            raise Conflict(f"brand {brand.id!r} already exists", field="id")
        begin_writes(pipe)
        pipe.set(key, orjson.dumps(brand.to_dict()))
        pipe.zadd(keys.brands_index(), {brand.id: 0})

    await optimistic(redis, [key], attempt)


async def update_brand(redis: Redis, brand: Brand) -> None:
    """Replace an existing brand's name; refuse (404) an unknown brand."""
    key = keys.brand(brand.id)

    async def attempt(pipe: Pipeline) -> None:
        if not await pipe.exists(key):
            raise NotFound(f"brand {brand.id!r} does not exist", field="brand")
        begin_writes(pipe)
        pipe.set(key, orjson.dumps(brand.to_dict()))

    await optimistic(redis, [key], attempt)


async def delete_brand(redis: Redis, brand_id: str) -> None:
    """Remove a brand that has no products left; refuse (409) while it still has some."""
    key, products = keys.brand(brand_id), keys.brand_products(brand_id)

    async def attempt(pipe: Pipeline) -> None:
        if not await pipe.exists(key):
            raise NotFound(f"brand {brand_id!r} does not exist", field="brand")
        count = await pipe.zcard(products)
        if count:
            raise Conflict(
                f"brand {brand_id!r} still has {count} products; delete them or move them to "
                "another brand first",
                field="brand",
            )
        begin_writes(pipe)
        pipe.delete(key)
        pipe.zrem(keys.brands_index(), brand_id)

    await optimistic(redis, [key, products], attempt)


async def brand_page(
    redis: Redis, *, after: str = "", limit: int = PAGE_LIMIT_DEFAULT
) -> Page[Brand]:
    """A page of brands in id order, starting after the id ``after``."""
    ids = await lex_page(redis, keys.brands_index(), after, limit)
    raws = await redis.mget([keys.brand(i) for i in ids[:limit]]) if ids else []
    items = [_brand_from_json(raw) for raw in raws if raw is not None]
    return Page(items, ids[limit - 1] if len(ids) > limit else None)


async def lex_page(redis: Redis, index: str, after: str, limit: int) -> list[str]:
    """Up to ``limit + 1`` members after ``after``: the extra one says a next page exists.

    Ids are checked before they get here, and none can start with ``(`` or ``[``, so
    ``after`` always reads as an exclusive bound.
    """
    start = f"({after}" if after else "-"
    members: list[str] = await redis.zrangebylex(  # type: ignore[assignment]
        index, start, "+", start=0, num=limit + 1
    )
    return members


# --- products -------------------------------------------------------------------------


async def save_product(redis: Redis, product: Product) -> None:
    """Create or replace without checking the brand: for seeding and tests of other
    parts. The API uses ``create_product`` and ``replace_product``, which check it.

    A product that moves to another brand leaves the old brand's index in the same MULTI.
    """
    key = keys.product(product.sku)

    async def attempt(pipe: Pipeline) -> None:
        old = await pipe.get(key)
        begin_writes(pipe)
        _queue_product_write(pipe, product, None if old is None else _product_from_json(old))

    await optimistic(redis, [key], attempt)


def _queue_product_write(pipe: Pipeline, product: Product, old: Product | None) -> None:
    pipe.set(keys.product(product.sku), orjson.dumps(product.to_dict()))
    if old is not None and old.brand != product.brand:
        pipe.zrem(keys.brand_products(old.brand), product.sku)
    pipe.zadd(keys.brand_products(product.brand), {product.sku: 0})


async def get_product(redis: Redis, sku: str) -> Product | None:
    raw = await redis.get(keys.product(sku))
    return None if raw is None else _product_from_json(raw)


async def get_products(redis: Redis, skus: Sequence[str]) -> list[Product | None]:
    """The products of ``skus`` in the same order, None where one does not exist."""
    if not skus:
        return []
    raws = await redis.mget([keys.product(sku) for sku in skus])
    return [None if raw is None else _product_from_json(raw) for raw in raws]


async def create_product(redis: Redis, product: Product) -> None:
    """Add a product of an existing brand; refuse (409) a SKU that exists."""
    key, brand_key = keys.product(product.sku), keys.brand(product.brand)

    async def attempt(pipe: Pipeline) -> None:
        if await pipe.exists(key):
            raise Conflict(f"product {product.sku!r} already exists", field="sku")
        if not await pipe.exists(brand_key):
            raise NotFound(f"brand {product.brand!r} does not exist", field="brand")
        begin_writes(pipe)
        _queue_product_write(pipe, product, None)

    await optimistic(redis, [key, brand_key], attempt)


async def replace_product(redis: Redis, product: Product) -> Product:
    """Replace an existing product (its brand may change); returns the one replaced."""
    key, brand_key = keys.product(product.sku), keys.brand(product.brand)

    async def attempt(pipe: Pipeline) -> Product:
        raw = await pipe.get(key)
        if raw is None:
            raise NotFound(f"product {product.sku!r} does not exist", field="sku")
        if not await pipe.exists(brand_key):
            raise NotFound(f"brand {product.brand!r} does not exist", field="brand")
        old = _product_from_json(raw)
        begin_writes(pipe)
        _queue_product_write(pipe, product, old)
        return old

    return await optimistic(redis, [key, brand_key], attempt)


async def delete_product(redis: Redis, sku: str) -> Product:
    """Remove a product from the catalog (shows keep their copies); returns it."""
    key = keys.product(sku)

    async def attempt(pipe: Pipeline) -> Product:
        raw = await pipe.get(key)
        if raw is None:
            raise NotFound(f"product {sku!r} does not exist", field="sku")
        old = _product_from_json(raw)
        begin_writes(pipe)
        pipe.delete(key)
        pipe.zrem(keys.brand_products(old.brand), sku)
        return old

    return await optimistic(redis, [key], attempt)


async def put_products(redis: Redis, products: Sequence[Product]) -> list[Product]:
    """Create or replace every product whose brand exists, in one MULTI.

    Returns the products refused because their brand does not exist (nothing of theirs
    is written). SKUs must be distinct. For bulk imports: one round of WATCH, two reads
    and one EXEC for the whole batch, however many products it holds.
    """
    if not products:
        return []
    product_keys = [keys.product(p.sku) for p in products]
    brand_ids = sorted({p.brand for p in products})
    brand_keys = [keys.brand(b) for b in brand_ids]

    async def attempt(pipe: Pipeline) -> list[Product]:
        brands_found = await pipe.mget(brand_keys)
        known = {b for b, raw in zip(brand_ids, brands_found, strict=True) if raw is not None}
        olds = await pipe.mget(product_keys)
        begin_writes(pipe)
        refused = []
        for product, old in zip(products, olds, strict=True):
            if product.brand not in known:
                refused.append(product)
                continue
            _queue_product_write(pipe, product, None if old is None else _product_from_json(old))
        return refused

    return await optimistic(redis, [*product_keys, *brand_keys], attempt)


async def product_page(
    redis: Redis, brand_id: str, *, after: str = "", limit: int = PAGE_LIMIT_DEFAULT
) -> Page[Product]:
    """A page of the brand's products in SKU order, starting after the SKU ``after``."""
    skus = await lex_page(redis, keys.brand_products(brand_id), after, limit)
    found = await get_products(redis, skus[:limit])
    return Page([p for p in found if p is not None], skus[limit - 1] if len(skus) > limit else None)


async def list_products(
    redis: Redis, brand_id: str, *, after: str = "", limit: int = PAGE_LIMIT_DEFAULT
) -> list[Product]:
    """A page of the brand's products in SKU order, starting after ``after``."""
    return (await product_page(redis, brand_id, after=after, limit=limit)).items
