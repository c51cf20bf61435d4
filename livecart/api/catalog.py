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

from livecart.api.edge import (
    json_response,
    object_body,
    page_args,
    query_param,
    read_body,
    read_json,
    require_admin,
    runtime_of,
)
from livecart.commerce import catalog
from livecart.commerce.catalog import Brand, Page, Product
from livecart.commerce.catalog_import import (
    MAX_IMPORT_BYTES,
    format_for_content_type,
    import_file,
)
from livecart.errors import InvalidInput, NotFound
from livecart.store.keys import check_id


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
    page = await catalog.brand_page(runtime_of(request).redis, after=after or "", limit=limit)
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
    page = await catalog.product_page(redis, brand_id, after=after or "", limit=limit)
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
