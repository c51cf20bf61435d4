"""Brands and their products: the merchant's catalog, outside any show's slot.

A product's price is in minor units of its currency (cents), an integer; its
commission rate in basis points (1/100 of a percent) of the line total.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from livecart import validation as v
from livecart.store import keys

MAX_PRICE_MINOR = 10**11  # a billion in major units: far above any live-shopping item
MAX_PER_USER_LIMIT = 10_000


@dataclass(frozen=True)
class Brand:
    id: str
    name: str

    @classmethod
    def from_dict(cls, data: object) -> Brand:
        d = v.require_mapping(data, "brand")
        return cls(id=keys.check_id(d.get("id"), "id"), name=v.text(d, "name", max_len=200))


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
        d = v.require_mapping(data, "product")
        return cls(
            sku=keys.check_id(d.get("sku"), "sku"),
            brand=keys.check_id(d.get("brand"), "brand"),
            title=v.text(d, "title", max_len=200),
            price=v.whole(d, "price", lo=0, hi=MAX_PRICE_MINOR),
            currency=v.currency(d, "currency"),
            description=v.text(d, "description", max_len=5000, default=""),
            image_url=v.url(d, "image_url"),
            commission_bps=v.whole(d, "commission_bps", lo=0, hi=10_000, default=0),
            per_user_limit=v.whole(d, "per_user_limit", lo=0, hi=MAX_PER_USER_LIMIT, default=0),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


async def save_brand(redis: Redis, brand: Brand) -> None:
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(keys.brand(brand.id), orjson.dumps(asdict(brand)))
        pipe.zadd(keys.brands_index(), {brand.id: 0})
        await pipe.execute()


async def get_brand(redis: Redis, brand_id: str) -> Brand | None:
    raw = await redis.get(keys.brand(brand_id))
    return None if raw is None else Brand(**orjson.loads(raw))


async def save_product(redis: Redis, product: Product) -> None:
    """Create or replace; the brand index and the product move together (MULTI)."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(keys.product(product.sku), orjson.dumps(product.to_dict()))
        pipe.zadd(keys.brand_products(product.brand), {product.sku: 0})
        await pipe.execute()


async def get_product(redis: Redis, sku: str) -> Product | None:
    raw = await redis.get(keys.product(sku))
    return None if raw is None else Product(**orjson.loads(raw))


async def list_products(
    redis: Redis, brand_id: str, *, after: str = "", limit: int = 50
) -> list[Product]:
    """A page of the brand's products in SKU order, starting after ``after``."""
    start = f"({after}" if after else "-"
    skus: list[str] = await redis.zrangebylex(  # type: ignore[assignment]
        keys.brand_products(brand_id), start, "+", start=0, num=limit
    )
    if not skus:
        return []
    raws = await redis.mget([keys.product(sku) for sku in skus])
    return [Product(**orjson.loads(raw)) for raw in raws if raw is not None]
