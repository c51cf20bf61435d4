"""The merchant's catalog over HTTP: brands, products and bulk import. API key only.

Every handler checks the key, then the whole request, before it writes anything
(invariant 8); the writes themselves are the catalog's transactions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livecart.api.edge import json_response, read_body, read_json, require_admin, runtime_of
from livecart.commerce import catalog
from livecart.commerce.catalog import PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, Brand, Page, Product
from livecart.commerce.catalog_import import (
    MAX_IMPORT_BYTES,
    format_for_content_type,
    import_file,
)
from livecart.errors import InvalidInput, NotFound
from livecart.store.keys import check_id

_DIGITS = "0123456789"
_MAX_LIMIT_CHARS = 9


def object_body(data: object) -> Mapping[str, Any]:
    """A request body that must be a JSON object; anything else is refused naming ``body``."""
    if not isinstance(data, Mapping):
        raise InvalidInput("the body must be a JSON object", field="body")
    return data


def query_param(request: Request, name: str) -> str | None:
    """A query parameter given at most once (two values would leave which one wins unsaid)."""
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise InvalidInput(f"{name} is given {len(values)} times; give it once", field=name)
    return values[0] if values else None


def page_args(request: Request) -> tuple[str, int]:
    """``after`` (an id, or empty for the first page) and ``limit`` (1..PAGE_LIMIT_MAX)."""
    after = query_param(request, "after") or ""
    if after:
        check_id(after, "after")
    raw = query_param(request, "limit")
    if raw is None:
        return after, PAGE_LIMIT_DEFAULT
    if not raw or len(raw) > _MAX_LIMIT_CHARS or any(c not in _DIGITS for c in raw):
        raise InvalidInput(
            f"limit must be a whole number from 1 to {PAGE_LIMIT_MAX}", field="limit"
        )
    limit = int(raw)
    if not 1 <= limit <= PAGE_LIMIT_MAX:
        raise InvalidInput(f"limit must be between 1 and {PAGE_LIMIT_MAX}", field="limit")
    return after, limit


def page_body(page: Page[Brand] | Page[Product]) -> dict[str, Any]:
    return {"items": [item.to_dict() for item in page.items], "next": page.next}


def _id_in_body_matches(body: Mapping[str, Any], name: str, path_value: str) -> None:
    """An id repeated in the body must be the one in the path, which wins."""
    if name in body and body[name] != path_value:
        raise InvalidInput(
            f"{name} in the body ({str(body[name])[:80]!r}) differs from the {name} in the "
            f"path ({path_value!r}); the path names the {name}, which cannot be changed",
            field=name,
        )


# --- brands ---------------------------------------------------------------------------


async def create_brand(request: Request) -> Response:
    require_admin(request)
    brand = Brand.from_dict(object_body(await read_json(request)))
    await catalog.create_brand(runtime_of(request).redis, brand)
    return json_response(brand.to_dict(), status=201)


async def list_brands(request: Request) -> Response:
    require_admin(request)
    after, limit = page_args(request)
    page = await catalog.brand_page(runtime_of(request).redis, after=after, limit=limit)
    return json_response(page_body(page))


async def get_brand(request: Request) -> Response:
    require_admin(request)
    brand_id = check_id(request.path_params["brand_id"], "brand")
    brand = await catalog.get_brand(runtime_of(request).redis, brand_id)
    if brand is None:
        raise NotFound(f"brand {brand_id!r} does not exist", field="brand")
    return json_response(brand.to_dict())


async def update_brand(request: Request) -> Response:
    require_admin(request)
    brand_id = check_id(request.path_params["brand_id"], "brand")
    body = object_body(await read_json(request))
    _id_in_body_matches(body, "id", brand_id)
    brand = Brand.from_dict({**body, "id": brand_id})
    await catalog.update_brand(runtime_of(request).redis, brand)
    return json_response(brand.to_dict())


async def delete_brand(request: Request) -> Response:
    require_admin(request)
    brand_id = check_id(request.path_params["brand_id"], "brand")
    await catalog.delete_brand(runtime_of(request).redis, brand_id)
    return Response(status_code=204)


# --- products -------------------------------------------------------------------------


async def create_product(request: Request) -> Response:
    require_admin(request)
    product = Product.from_dict(object_body(await read_json(request)))
    await catalog.create_product(runtime_of(request).redis, product)
    return json_response(product.to_dict(), status=201)


async def list_products(request: Request) -> Response:
    require_admin(request)
    brand_id = query_param(request, "brand")
    if not brand_id:
        raise InvalidInput("brand is required: GET /api/products?brand=BRAND", field="brand")
    check_id(brand_id, "brand")
    after, limit = page_args(request)
    redis = runtime_of(request).redis
    if await catalog.get_brand(redis, brand_id) is None:
        raise NotFound(f"brand {brand_id!r} does not exist", field="brand")
    page = await catalog.product_page(redis, brand_id, after=after, limit=limit)
    return json_response(page_body(page))


async def get_product(request: Request) -> Response:
    require_admin(request)
    sku = check_id(request.path_params["sku"], "sku")
    product = await catalog.get_product(runtime_of(request).redis, sku)
    if product is None:
        raise NotFound(f"product {sku!r} does not exist", field="sku")
    return json_response(product.to_dict())


async def replace_product(request: Request) -> Response:
    require_admin(request)
    sku = check_id(request.path_params["sku"], "sku")
    body = object_body(await read_json(request))
    _id_in_body_matches(body, "sku", sku)
    product = Product.from_dict({**body, "sku": sku})
    await catalog.replace_product(runtime_of(request).redis, product)
    return json_response(product.to_dict())


async def delete_product(request: Request) -> Response:
    require_admin(request)
    sku = check_id(request.path_params["sku"], "sku")
    await catalog.delete_product(runtime_of(request).redis, sku)
    return Response(status_code=204)


# --- bulk import ----------------------------------------------------------------------


async def import_catalog(request: Request) -> Response:
    require_admin(request)
    fmt = format_for_content_type(request.headers.get("content-type"))
    data = await read_body(request, MAX_IMPORT_BYTES)
    report = await import_file(runtime_of(request).redis, data, fmt)
    return json_response(report.to_dict())


routes = [
    Route("/api/brands", create_brand, methods=["POST"]),
    Route("/api/brands", list_brands, methods=["GET"]),
    Route("/api/brands/{brand_id}", get_brand, methods=["GET"]),
    Route("/api/brands/{brand_id}", update_brand, methods=["PUT"]),
    Route("/api/brands/{brand_id}", delete_brand, methods=["DELETE"]),
    Route("/api/products", create_product, methods=["POST"]),
    Route("/api/products", list_products, methods=["GET"]),
    Route("/api/products/{sku}", get_product, methods=["GET"]),
    Route("/api/products/{sku}", replace_product, methods=["PUT"]),
    Route("/api/products/{sku}", delete_product, methods=["DELETE"]),
    Route("/api/catalog/import", import_catalog, methods=["POST"]),
]
