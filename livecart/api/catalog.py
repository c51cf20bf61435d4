"""The merchant's catalog over HTTP: brands, products and bulk import. API key only.

Every handler checks the key, then the whole request, before it writes anything
(invariant 8); the writes themselves are the catalog's transactions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from livecart.api.edge import json_response, page_args, query_id, read_body, runtime_of
from livecart.api.endpoint import RAW, Body, endpoint
from livecart.commerce.catalog import products as catalog
from livecart.commerce.catalog.imports import (
    MAX_IMPORT_BYTES,
    format_for_content_type,
    import_file,
)
from livecart.commerce.catalog.products import BRAND_FIELDS, PRODUCT_FIELDS, Brand, Page, Product
from livecart.errors import InvalidInput, NotFound

BRAND = Body("a brand", BRAND_FIELDS, lambda d, s: Brand.from_dict(d))
PRODUCT = Body("a product", PRODUCT_FIELDS, lambda d, s: Product.from_dict(d))
# A PUT's body may leave out the id the path names: decoded once the path's id is in.
BRAND_PUT = Body("a brand", BRAND_FIELDS, lambda d, s: d)
PRODUCT_PUT = Body("a product", PRODUCT_FIELDS, lambda d, s: d)


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


async def create_brand(request: Request, brand: Brand) -> Response:
    await catalog.create_brand(runtime_of(request).redis, brand)
    return json_response(brand.to_dict(), status=201)


async def list_brands(request: Request) -> Response:
    after, limit = page_args(request)
    page = await catalog.brand_page(runtime_of(request).redis, after=after or "", limit=limit)
    return json_response(page_body(page))


async def get_brand(request: Request) -> Response:
    brand_id: str = request.path_params["brand_id"]
    brand = await catalog.get_brand(runtime_of(request).redis, brand_id)
    if brand is None:
        raise NotFound(f"brand {brand_id!r} does not exist", field="brand")
    return json_response(brand.to_dict())


async def update_brand(request: Request, body: Mapping[str, Any]) -> Response:
    brand_id: str = request.path_params["brand_id"]
    _id_in_body_matches(body, "id", brand_id)
    brand = Brand.from_dict({**body, "id": brand_id})
    await catalog.update_brand(runtime_of(request).redis, brand)
    return json_response(brand.to_dict())


async def delete_brand(request: Request) -> Response:
    brand_id: str = request.path_params["brand_id"]
    await catalog.delete_brand(runtime_of(request).redis, brand_id)
    return Response(status_code=204)


# --- products -------------------------------------------------------------------------


async def create_product(request: Request, product: Product) -> Response:
    await catalog.create_product(runtime_of(request).redis, product)
    return json_response(product.to_dict(), status=201)


async def list_products(request: Request) -> Response:
    brand_id = query_id(request, "brand")
    if brand_id is None:
        raise InvalidInput("brand is required: GET /api/products?brand=BRAND", field="brand")
    after, limit = page_args(request)
    redis = runtime_of(request).redis
    if await catalog.get_brand(redis, brand_id) is None:
        raise NotFound(f"brand {brand_id!r} does not exist", field="brand")
    page = await catalog.product_page(redis, brand_id, after=after or "", limit=limit)
    return json_response(page_body(page))


async def get_product(request: Request) -> Response:
    sku: str = request.path_params["sku"]
    product = await catalog.get_product(runtime_of(request).redis, sku)
    if product is None:
        raise NotFound(f"product {sku!r} does not exist", field="sku")
    return json_response(product.to_dict())


async def replace_product(request: Request, body: Mapping[str, Any]) -> Response:
    sku: str = request.path_params["sku"]
    _id_in_body_matches(body, "sku", sku)
    product = Product.from_dict({**body, "sku": sku})
    await catalog.replace_product(runtime_of(request).redis, product)
    return json_response(product.to_dict())


async def delete_product(request: Request) -> Response:
    sku: str = request.path_params["sku"]
    await catalog.delete_product(runtime_of(request).redis, sku)
    return Response(status_code=204)


# --- bulk import ----------------------------------------------------------------------


async def import_catalog(request: Request) -> Response:
    fmt = format_for_content_type(request.headers.get("content-type"))
    data = await read_body(request, MAX_IMPORT_BYTES)
    report = await import_file(runtime_of(request).redis, data, fmt)
    return json_response(report.to_dict())


PAGE = ("after", "limit")
routes = [
    endpoint("/api/brands", "POST", create_brand, body=BRAND, admin=True),
    endpoint("/api/brands", "GET", list_brands, query=PAGE, admin=True),
    endpoint("/api/brands/{brand_id}", "GET", get_brand, admin=True),
    endpoint("/api/brands/{brand_id}", "PUT", update_brand, body=BRAND_PUT, admin=True),
    endpoint("/api/brands/{brand_id}", "DELETE", delete_brand, admin=True),
    endpoint("/api/products", "POST", create_product, body=PRODUCT, admin=True),
    endpoint("/api/products", "GET", list_products, query=("brand", *PAGE), admin=True),
    endpoint("/api/products/{sku}", "GET", get_product, admin=True),
    endpoint("/api/products/{sku}", "PUT", replace_product, body=PRODUCT_PUT, admin=True),
    endpoint("/api/products/{sku}", "DELETE", delete_product, admin=True),
    endpoint("/api/catalog/import", "POST", import_catalog, body=RAW, admin=True),
]
