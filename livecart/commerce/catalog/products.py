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

Variants (sizes, colours): a product may name up to three options and sell up to a
hundred variants, each with its own SKU, the values it takes for each option, and
optionally its own price and image. What a show sells is a *sellable* (``sellable()``):
one variant, or the product itself when it has none. A variant's SKU is unique across
the whole catalog (no other product's SKU, no other product's variant), because shows
key stock, holds and orders by it; the index ``variant_owner`` (variant SKU -> product)
that proves it is written in the same transaction as the product, so it never disagrees
with the products stored.
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
from livecart.errors import Conflict, InvalidInput, LivecartError, NotFound
from livecart.paging import PAGE_LIMIT_DEFAULT
from livecart.store import keys

MAX_PRICE_MINOR = 10**11  # a billion in major units: far above any live-shopping item
MAX_PER_USER_LIMIT = 10_000
MAX_COMMISSION_BPS = 10_000  # 100 % of the line total
MAX_NAME_CHARS = 200
MAX_TITLE_CHARS = 200
MAX_DESCRIPTION_CHARS = 5000
MAX_OPTIONS = 3
MAX_VARIANTS = 100
MAX_OPTION_CHARS = 40  # an option's name and each of its values: a chip's label
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
class Variant:
    """One way a product is sold: its own SKU and one value per option of the product.

    ``price`` None and ``image_url`` "" mean the product's own, so a product's price
    change reaches the variants that do not set their own.
    """

    sku: str
    values: tuple[str, ...]
    price: int | None = None
    image_url: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "values": list(self.values),
            "price": self.price,
            "image_url": self.image_url,
        }


VARIANT_FIELDS = ("sku", "values", "price", "image_url")


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
    options: tuple[str, ...] = ()  # empty: sold under its own SKU, no variants
    variants: tuple[Variant, ...] = ()

    @classmethod
    def from_dict(cls, data: object) -> Product:
        """The one validator of a product, whatever it came from (API body, import row).

        The price is at least 1 minor unit: a zero price is far more often a slip than
        a giveaway, and a one-tap buy of a free item would be an easy abuse.
        """
        d = v.require_mapping(data, "product")
        v.refuse_unknown_fields(d, PRODUCT_FIELDS, "a product")
        sku = keys.check_id(d.get("sku"), "sku")
        options = _options(d.get("options", []))
        return cls(
            sku=sku,
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
            options=options,
            variants=_variants(d.get("variants", []), options, sku),
        )

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> Product:
        """A product as stored (written by ``to_dict`` after ``from_dict`` checked it)."""
        data = dict(data)
        data["options"] = tuple(data.get("options", ()))
        data["variants"] = tuple(
            Variant(
                sku=item["sku"],
                values=tuple(item["values"]),
                price=item.get("price"),
                image_url=item.get("image_url", ""),
            )
            for item in data.get("variants", ())
        )
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """The product as the API answers and Redis stores it. A product without
        variants leaves ``options`` and ``variants`` out (absent means empty), so its
        JSON is what it was before variants existed."""
        body = asdict(self)
        del body["options"], body["variants"]
        if self.variants:
            body["options"] = list(self.options)
            body["variants"] = [variant.to_dict() for variant in self.variants]
        return body

    def sellable(self) -> tuple[Sellable, ...]:
        """What a show can sell of this product: each variant, or the product itself."""
        if not self.variants:
            return (Sellable(self.sku, self, None),)
        return tuple(Sellable(variant.sku, self, variant) for variant in self.variants)


@dataclass(frozen=True)
class Sellable:
    """One unit a show keeps stock of and a buyer buys: a variant, or a plain product."""

    sku: str
    product: Product
    variant: Variant | None

    @property
    def price(self) -> int:
        if self.variant is None or self.variant.price is None:
            return self.product.price
        return self.variant.price

    @property
    def image_url(self) -> str:
        return (self.variant and self.variant.image_url) or self.product.image_url

    @property
    def values(self) -> dict[str, str]:
        """Option name -> value ("Size" -> "S"); empty for a plain product."""
        if self.variant is None:
            return {}
        return dict(zip(self.product.options, self.variant.values, strict=True))


def _one_line(value: object, field: str) -> str:
    """An option name or value: 1..MAX_OPTION_CHARS characters of one line."""
    return v.text({field: value}, field, max_len=MAX_OPTION_CHARS)


def _options(raw: object) -> tuple[str, ...]:
    if not isinstance(raw, list) or len(raw) > MAX_OPTIONS:
        raise InvalidInput(
            f"options must be a list of at most {MAX_OPTIONS} option names (such as "
            '["Size", "Colour"])',
            field="options",
        )
    names: list[str] = []
    for i, item in enumerate(raw):
        name = _one_line(item, f"options[{i}]")
        if name in names:
            raise InvalidInput(f"option {name!r} is named twice", field=f"options[{i}]")
        names.append(name)
    return tuple(names)


def _variants(raw: object, options: tuple[str, ...], product_sku: str) -> tuple[Variant, ...]:
    """The variants of a product with ``options``: none without options, else 1 to
    MAX_VARIANTS, each with one value per option, no two alike, no SKU used twice."""
    if not isinstance(raw, list):
        raise InvalidInput("variants must be a list", field="variants")
    if not options:
        if raw:
            raise InvalidInput(
                "a product without options has no variants; name its options first",
                field="variants",
            )
        return ()
    if not 1 <= len(raw) <= MAX_VARIANTS:
        raise InvalidInput(
            f"a product with options sells 1 to {MAX_VARIANTS} variants", field="variants"
        )
    variants: list[Variant] = []
    skus: set[str] = set()
    combinations: set[tuple[str, ...]] = set()
    for i, item in enumerate(raw):
        path = f"variants[{i}]"
        d = v.require_mapping(item, path)
        v.refuse_unknown_fields(d, VARIANT_FIELDS, "a variant", path=path)
        sku = keys.check_id(d.get("sku"), f"{path}.sku")
        if sku == product_sku:
            raise InvalidInput(
                f"a variant's sku must differ from its product's ({sku!r})", field=f"{path}.sku"
            )
        if sku in skus:
            raise InvalidInput(f"sku {sku!r} names two variants", field=f"{path}.sku")
        skus.add(sku)
        raw_values = d.get("values")
        if not isinstance(raw_values, list) or len(raw_values) != len(options):
            raise InvalidInput(
                f"{path}.values must be a list of {len(options)} values, one per option "
                f"({', '.join(options)})",
                field=f"{path}.values",
            )
        values = tuple(
            _one_line(value, f"{path}.values[{j}]") for j, value in enumerate(raw_values)
        )
        if values in combinations:
            raise InvalidInput(
                f"another variant is already {' / '.join(values)}", field=f"{path}.values"
            )
        combinations.add(values)
        with v.within(path):
            price = (
                None if d.get("price") is None else v.whole(d, "price", lo=1, hi=MAX_PRICE_MINOR)
            )
            image_url = v.url(d, "image_url")
        variants.append(Variant(sku=sku, values=values, price=price, image_url=image_url))
    return tuple(variants)


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


async def watched_exists(pipe: Pipeline, key: str) -> bool:
    """EXISTS read under WATCH. Not ``pipe.exists``: redis-py's cluster pipeline splits
    EXISTS by slot and, under WATCH, drops the reply (it answers the pipeline itself)."""
    return bool(await pipe.execute_command("EXISTS", key))


async def watched_mget(pipe: Pipeline, names: Sequence[str]) -> list[Any]:
    """MGET read under WATCH (the keys of one slot). Not ``pipe.mget``: redis-py's
    cluster pipeline refuses it by name, though the command itself is fine."""
    found: list[Any] = await pipe.execute_command("MGET", *names)  # type: ignore[assignment]
    return found


def begin_writes(pipe: Pipeline) -> None:
    """End the reads of an ``optimistic`` attempt: what is queued from here on is the MULTI."""
    pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated


def _brand_from_json(raw: str | bytes) -> Brand:
    return Brand(**orjson.loads(raw))


def _product_from_json(raw: str | bytes) -> Product:
    return Product.from_stored(orjson.loads(raw))


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
        if await watched_exists(pipe, key):
            raise Conflict(f"brand {brand.id!r} already exists", field="id")
        begin_writes(pipe)
        pipe.set(key, orjson.dumps(brand.to_dict()))
        pipe.zadd(keys.brands_index(), {brand.id: 0})

    await optimistic(redis, [key], attempt)


async def update_brand(redis: Redis, brand: Brand) -> None:
    """Replace an existing brand's name; refuse (404) an unknown brand."""
    key = keys.brand(brand.id)

    async def attempt(pipe: Pipeline) -> None:
        if not await watched_exists(pipe, key):
            raise NotFound(f"brand {brand.id!r} does not exist", field="brand")
        begin_writes(pipe)
        pipe.set(key, orjson.dumps(brand.to_dict()))

    await optimistic(redis, [key], attempt)


async def delete_brand(redis: Redis, brand_id: str) -> None:
    """Remove a brand that has no products left; refuse (409) while it still has some."""
    key, products = keys.brand(brand_id), keys.brand_products(brand_id)

    async def attempt(pipe: Pipeline) -> None:
        if not await watched_exists(pipe, key):
            raise NotFound(f"brand {brand_id!r} does not exist", field="brand")
        count = await pipe.zcard(products)
        if count:
            raise Conflict(
                f"brand {brand_id!r} still has {count} products; delete them or move them to "
                "another brand first",
                field="brand",
            )
        begin_writes(pipe)
        pipe.delete(key, keys.brand_shipping(brand_id))
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
    Its variant SKUs are checked like the API's (a clash raises ``Conflict``).
    """
    key = keys.product(product.sku)

    async def attempt(pipe: Pipeline) -> None:
        old = await pipe.get(key)
        clash = await _sku_clash(pipe, product)
        if clash is not None:
            raise clash
        begin_writes(pipe)
        _queue_product_write(pipe, product, None if old is None else _product_from_json(old))

    await optimistic(redis, [key, *_sku_keys(product)], attempt)


def _sku_keys(product: Product) -> list[str]:
    """The keys that say whether the product's SKUs are free: watched with the product,
    so a concurrent claim of one of them makes the transaction start again."""
    watched = [keys.variant_owner(product.sku)]
    for variant in product.variants:
        watched += [keys.variant_owner(variant.sku), keys.product(variant.sku)]
    return watched


async def _sku_clash(pipe: Pipeline, product: Product) -> LivecartError | None:
    """Why the product's SKUs cannot be stored, or None (see ``_sku_clashes``)."""
    return (await _sku_clashes(pipe, [product]))[0]


async def _sku_clashes(pipe: Pipeline, products: Sequence[Product]) -> list[LivecartError | None]:
    """For each product, why its SKUs cannot be stored, or None: its own SKU is another
    product's variant, or a variant's SKU is another product's SKU or variant. Two
    reads however many products (a bulk import's batch costs no round trip per row)."""
    variant_skus = [variant.sku for product in products for variant in product.variants]
    owner_keys = [keys.variant_owner(p.sku) for p in products]
    owner_keys += [keys.variant_owner(sku) for sku in variant_skus]
    found = await watched_mget(pipe, owner_keys)
    own_owners, variant_owners = found[: len(products)], iter(found[len(products) :])
    variant_keys = [keys.product(sku) for sku in variant_skus]
    products_found = await watched_mget(pipe, variant_keys) if variant_keys else []
    existing = iter(products_found)
    clashes: list[LivecartError | None] = []
    for product, owner in zip(products, own_owners, strict=True):
        clash: LivecartError | None = None
        if owner is not None and owner != product.sku:
            clash = Conflict(
                f"sku {product.sku!r} is already a variant of product {owner!r}", field="sku"
            )
        for i, variant in enumerate(product.variants):
            other_owner, other_product = next(variant_owners), next(existing)
            if clash is not None:
                continue
            if other_owner is not None and other_owner != product.sku:
                clash = Conflict(
                    f"sku {variant.sku!r} is already a variant of product {other_owner!r}",
                    field=f"variants[{i}].sku",
                )
            elif other_product is not None:
                clash = Conflict(
                    f"sku {variant.sku!r} is already a product's sku", field=f"variants[{i}].sku"
                )
        clashes.append(clash)
    return clashes


def _queue_product_write(pipe: Pipeline, product: Product, old: Product | None) -> None:
    pipe.set(keys.product(product.sku), orjson.dumps(product.to_dict()))
    if old is not None and old.brand != product.brand:
        pipe.zrem(keys.brand_products(old.brand), product.sku)
    pipe.zadd(keys.brand_products(product.brand), {product.sku: 0})
    kept = {variant.sku for variant in product.variants}
    for variant in old.variants if old is not None else ():
        if variant.sku not in kept:
            pipe.delete(keys.variant_owner(variant.sku))
    for sku in kept:
        pipe.set(keys.variant_owner(sku), product.sku)


async def get_product(redis: Redis, sku: str) -> Product | None:
    raw = await redis.get(keys.product(sku))
    return None if raw is None else _product_from_json(raw)


async def get_products(redis: Redis, skus: Sequence[str]) -> list[Product | None]:
    """The products of ``skus`` in the same order, None where one does not exist."""
    if not skus:
        return []
    raws = await redis.mget([keys.product(sku) for sku in skus])
    return [None if raw is None else _product_from_json(raw) for raw in raws]


async def get_sellable(redis: Redis, sku: str, *, field: str = "sku") -> Sellable:
    """What a show sells under ``sku``: a plain product, or a variant found through
    the index. A product that has variants is not sold as itself: refused (400) with
    the variant SKUs to name instead. ``field`` names the request's field."""
    product = await get_product(redis, sku)
    if product is None:
        owner: str | None = await redis.get(keys.variant_owner(sku))  # type: ignore[assignment]
        product = None if owner is None else await get_product(redis, owner)
        found = [s for s in product.sellable() if s.sku == sku] if product is not None else []
        if not found:
            raise NotFound(f"product {sku!r} does not exist", field=field)
        return found[0]
    if product.variants:
        raise InvalidInput(
            f"product {sku!r} is sold by its variants; name one of them: "
            + ", ".join(variant.sku for variant in product.variants),
            field=field,
        )
    return product.sellable()[0]


async def create_product(redis: Redis, product: Product) -> None:
    """Add a product of an existing brand; refuse (409) a SKU that exists, as a
    product or as a variant, and variant SKUs that do."""
    key, brand_key = keys.product(product.sku), keys.brand(product.brand)

    async def attempt(pipe: Pipeline) -> None:
        if await watched_exists(pipe, key):
            raise Conflict(f"product {product.sku!r} already exists", field="sku")
        if not await watched_exists(pipe, brand_key):
            raise NotFound(f"brand {product.brand!r} does not exist", field="brand")
        clash = await _sku_clash(pipe, product)
        if clash is not None:
            raise clash
        begin_writes(pipe)
        _queue_product_write(pipe, product, None)

    await optimistic(redis, [key, brand_key, *_sku_keys(product)], attempt)


async def replace_product(redis: Redis, product: Product) -> Product:
    """Replace an existing product (its brand and variants may change); returns the one
    replaced. Variants it no longer has free their SKUs in the same MULTI."""
    key, brand_key = keys.product(product.sku), keys.brand(product.brand)

    async def attempt(pipe: Pipeline) -> Product:
        raw = await pipe.get(key)
        if raw is None:
            raise NotFound(f"product {product.sku!r} does not exist", field="sku")
        if not await watched_exists(pipe, brand_key):
            raise NotFound(f"brand {product.brand!r} does not exist", field="brand")
        clash = await _sku_clash(pipe, product)
        if clash is not None:
            raise clash
        old = _product_from_json(raw)
        begin_writes(pipe)
        _queue_product_write(pipe, product, old)
        return old

    return await optimistic(redis, [key, brand_key, *_sku_keys(product)], attempt)


async def delete_product(redis: Redis, sku: str) -> Product:
    """Remove a product from the catalog (shows keep their copies); returns it. Its
    variant SKUs are free again."""
    key = keys.product(sku)

    async def attempt(pipe: Pipeline) -> Product:
        raw = await pipe.get(key)
        if raw is None:
            raise NotFound(f"product {sku!r} does not exist", field="sku")
        old = _product_from_json(raw)
        begin_writes(pipe)
        pipe.delete(key)
        pipe.zrem(keys.brand_products(old.brand), sku)
        for variant in old.variants:
            pipe.delete(keys.variant_owner(variant.sku))
        return old

    return await optimistic(redis, [key], attempt)


@dataclass(frozen=True)
class PutRefusal:
    """A product ``put_products_checked`` did not write, and why (field named)."""

    product: Product
    error: LivecartError


async def put_products(redis: Redis, products: Sequence[Product]) -> list[Product]:
    """``put_products_checked``, returning only the products refused."""
    return [refusal.product for refusal in await put_products_checked(redis, products)]


async def put_products_checked(redis: Redis, products: Sequence[Product]) -> list[PutRefusal]:
    """Create or replace every product whose brand exists and whose SKUs are free, in
    one MULTI.

    Returns the products refused (nothing of theirs is written): brand unknown, or a
    SKU clash with the catalog or with an earlier product of the same batch. SKUs must
    be distinct. For bulk imports: one round of WATCH, a few reads and one EXEC for the
    whole batch, however many products it holds.
    """
    if not products:
        return []
    product_keys = [keys.product(p.sku) for p in products]
    brand_ids = sorted({p.brand for p in products})
    brand_keys = [keys.brand(b) for b in brand_ids]
    sku_keys = [key for p in products for key in _sku_keys(p)]

    async def attempt(pipe: Pipeline) -> list[PutRefusal]:
        brands_found = await watched_mget(pipe, brand_keys)
        known = {b for b, raw in zip(brand_ids, brands_found, strict=True) if raw is not None}
        olds = await watched_mget(pipe, product_keys)
        clashes = await _sku_clashes(pipe, products)
        begin_writes(pipe)
        refused = []
        batch_skus = {p.sku for p in products}
        claimed: dict[str, str] = {}  # variant sku -> product of this batch that has it
        for product, old, clash in zip(products, olds, clashes, strict=True):
            if product.brand not in known:
                error: LivecartError | None = NotFound(
                    f"brand {product.brand!r} does not exist", field="brand"
                )
            else:
                error = clash or _batch_clash(product, batch_skus, claimed)
            if error is not None:
                refused.append(PutRefusal(product, error))
                continue
            claimed.update((variant.sku, product.sku) for variant in product.variants)
            _queue_product_write(pipe, product, None if old is None else _product_from_json(old))
        return refused

    return await optimistic(redis, [*product_keys, *brand_keys, *sku_keys], attempt)


def _batch_clash(
    product: Product, batch_skus: set[str], claimed: dict[str, str]
) -> LivecartError | None:
    """A clash with another product of the same batch, which the store cannot show yet."""
    if product.sku in claimed:
        return Conflict(
            f"sku {product.sku!r} is a variant of product {claimed[product.sku]!r}", field="sku"
        )
    for i, variant in enumerate(product.variants):
        if variant.sku in batch_skus:
            return Conflict(
                f"sku {variant.sku!r} is also a product's sku", field=f"variants[{i}].sku"
            )
        if variant.sku in claimed:
            return Conflict(
                f"sku {variant.sku!r} is already a variant of product {claimed[variant.sku]!r}",
                field=f"variants[{i}].sku",
            )
    return None


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
