"""One edge for every request (issue 15), checked as a property over every HTTP endpoint.

For each endpoint the table below says what the docs say it takes: who may call it, the
ids in its path, the fields of its JSON body and the query parameters it accepts.
Hypothesis makes requests with one thing wrong (an unknown field, a wrong type, a value
out of range, a control character in text, a body that is not a JSON object, a body
sent to an endpoint that takes none, a bad query, a malformed or unknown id, an unknown
path or method) and each must be refused with the documented shape,
``{"error": CODE, "message": TEXT, "field": NAME}`` as JSON, naming what was wrong, and
leave every key in Redis as it was (tests/keyspace.py).

Requests carry valid credentials so that the checks after authentication are reached.
One real server (uvicorn on a free port, the bundled Redis) serves the whole module: a
server per test would cost more than the examples themselves on a 2-core machine.
"""

from __future__ import annotations

import json
import string
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis
from starlette.routing import Match

from livecart.commerce.auctions import awards
from livecart.commerce.catalog.products import Brand, Product, save_brand, save_product
from livecart.commerce.orders.webhooks import put_endpoint
from livecart.config import Settings
from livecart.runtime import Runtime
from livecart.store.embedded import EmbeddedRedis
from tests.bad_input import (
    ID_CHARS,
    PROBLEMS,
    BadBody,
    Flag,
    Id,
    IdList,
    Kind,
    Obj,
    ObjList,
    OneOf,
    Pattern,
    Problem,
    Text,
    Url,
    Whole,
    bad_bodies,
    field_names,
    json_values,
    malformed_ids,
)
from tests.commerce.conftest import seed_show
from tests.helpers import STRONG_ADMIN_KEY, STRONG_SECRET, LiveServer, bearer, serve_app
from tests.keyspace import Snapshot, differences, snapshot

pytestmark = pytest.mark.asyncio(loop_scope="module")


# About 280 tests (endpoint x kind of problem) share one server: 20 examples where a body
# has many fields to break, 12 where the choices are few (a query, an id in the path, a
# body where none is taken). About 4 000 requests, under a minute on 2 cores.
def _examples(count: int) -> settings:
    return settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        # No shrinking: an example is already one problem in one field, and shrinking
        # would replay hundreds of requests (each with two keyspace reads) on a real server.
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
    )


examples = _examples(20)
few_examples = _examples(12)

# --- the table: every endpoint of docs/api*.md and docs/video.md ------------------------


@dataclass(frozen=True)
class PathId:
    field: str  # what a refusal calls it
    existing: str  # an id that names something in the world (or, if none can, a placeholder)
    codes: tuple[str, ...] = ("not_found",)  # the 404's code for a well-formed unknown id


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # with {param} for each id
    who: str  # admin (API key), buyer / user (a viewer's token), publisher, anyone
    ids: Mapping[str, PathId] = field(default_factory=dict)
    body: Obj | None = None  # None: takes no body
    valid: Mapping[str, Any] = field(default_factory=dict)  # a body that passes every check
    query: Mapping[str, Kind] = field(default_factory=dict)
    valid_query: Mapping[str, str] = field(default_factory=dict)  # required parameters
    raw: str | None = None  # "sdp", "import": a body the handler reads itself

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))  # how hypothesis shows it in a falsifying example

    def url(self, **ids: str) -> str:
        values = {name: pid.existing for name, pid in self.ids.items()} | ids
        return self.path.format(**{k: quote(v, safe="") for k, v in values.items()})


SHOW = PathId("show", "s1")
SKU_IN_SHOW = PathId("sku", "p-plain", codes=("not_found", "not_in_lineup"))
BRAND = PathId("brand", "b1")
CREATOR = PathId("creator", "c1")
SESSION = PathId("session", "in_0123456789abcdef01234567")  # no session exists: unknown too

# An auction and a giveaway running in s1 all through the module (seed_world).
AUCTION_PATH = "/api/shows/{show}/auctions/{auction}"
AUCTION_IDS = {"show": SHOW, "auction": PathId("auction", "a_edge", codes=("no_auction",))}
GIVEAWAY_PATH = "/api/shows/{show}/giveaways/{giveaway}"
GIVEAWAY_IDS = {"show": SHOW, "giveaway": PathId("giveaway", "g_edge", codes=("no_giveaway",))}

PAGE: dict[str, Kind] = {"after": Id(), "limit": Whole(1, 200)}
PRODUCT_FIELDS: dict[str, Kind | Obj | ObjList] = {
    "sku": Id(required=True),
    "brand": Id(required=True),
    "title": Text(200, required=True),
    "price": Whole(1, 10**11, required=True),
    "currency": Pattern(
        st.text(max_size=5).filter(lambda s: not (len(s) == 3 and s.isascii() and s.isupper())),
        required=True,
    ),
    "description": Text(5000, multiline=True),
    "image_url": Url(),
    "commission_bps": Whole(0, 10_000),
    "per_user_limit": Whole(0, 10_000),
}
PRODUCT = Obj(PRODUCT_FIELDS)
VALID_PRODUCT = {
    "sku": "p-new",
    "brand": "b1",
    "title": "Rib-knit beanie",
    "price": 2400,
    "currency": "EUR",
    "description": "Merino.\nOne size.",
    "image_url": "https://images.example.com/beanie.jpg",
    "commission_bps": 800,
    "per_user_limit": 5,
}
NOT_EMAILS = st.sampled_from(
    ["maya", "maya@", "@example.com", "maya@example", "ma ya@example.com", "a@b@example.com"]
) | st.just("m" * 250 + "@example.com")
NOT_POSTAL_CODES = st.sampled_from(["#1", "111_22", "11*22", "1/2", "1" * 21, "-"])
NOT_COUNTRIES = st.sampled_from(["se", "SWE", "XX", "S", "S E", "ZZ"])
PROFILE = Obj(
    {
        "name": Text(100, required=True),
        "email": Pattern(NOT_EMAILS, required=True),
        "address": Obj(
            {
                "line1": Text(200, required=True),
                "line2": Text(200),
                "city": Text(100, required=True),
                "postal_code": Pattern(NOT_POSTAL_CODES, required=True),
                "region": Text(100),
                "country": Pattern(NOT_COUNTRIES, required=True),
            },
            required=True,
        ),
    }
)
VALID_PROFILE = {
    "name": "Maya Lindqvist",
    "email": "maya@example.com",
    "address": {
        "line1": "Storgatan 1",
        "line2": "",
        "city": "Stockholm",
        "postal_code": "111 22",
        "region": "",
        "country": "SE",
    },
}
NOT_SETUP_INTENTS = st.sampled_from(["pi_1Abc", "seti_", "seti_a-b", "SETI_1", "seti_a b", "x"])
BUY_FIELDS: dict[str, Kind | Obj | ObjList] = {
    "sku": Id(required=True),
    "quantity": Whole(1, 100),
    "price": Whole(0, 10**11),
    "ref": Id(),
}

TABLE: tuple[Endpoint, ...] = (
    # shows, buying and the cart: docs/api-shows.md
    Endpoint(
        "POST",
        "/api/shows",
        "admin",
        body=Obj(
            {
                "id": Id(required=True),
                "title": Text(200, required=True),
                "creator": Id(),  # absent or null: the brand's own show
                "brand": Id(required=True),
                "scheduled_at_ms": Whole(0, 2**53),
                "lineup": ObjList(
                    Obj({"sku": Id(required=True), "quantity": Whole(1, 1_000_000, required=True)}),
                    max_items=200,
                    filler=lambda i: {"sku": f"p{i}", "quantity": 1},
                ),
            }
        ),
        valid={
            "id": "edge-new-show",
            "title": "Sunday drop",
            "creator": "c1",
            "brand": "b1",
            "scheduled_at_ms": 1795600000000,
            "lineup": [{"sku": "p-plain", "quantity": 2}],
        },
    ),
    Endpoint(
        "GET",
        "/api/shows",
        "anyone",
        query={
            "state": OneOf(("live", "scheduled", "ended")),
            "creator": Id(),
            "brand": Id(),
            "from": Whole(0, 2**53),
            "to": Whole(0, 2**53),
            **PAGE,
        },
    ),
    Endpoint("GET", "/api/shows/{show}", "anyone", ids={"show": SHOW}),
    Endpoint(
        "POST",
        "/api/shows/{show}/lineup",
        "admin",
        ids={"show": SHOW},
        body=Obj({"sku": Id(required=True), "quantity": Whole(1, 1_000_000, required=True)}),
        valid={"sku": "p-extra", "quantity": 5},
    ),
    Endpoint("GET", "/api/shows/{show}/stock", "admin", ids={"show": SHOW}),
    Endpoint(
        "POST",
        "/api/shows/{show}/stock/{sku}",
        "admin",
        ids={"show": SHOW, "sku": SKU_IN_SHOW},
        body=Obj({"delta": Whole(-1_000_000, 1_000_000, required=True, also_bad=(0,))}),
        valid={"delta": 1},
    ),
    # a brand's inventory and moves to and from shows: docs/api-shows.md, docs/api-catalog.md
    Endpoint(
        "POST",
        "/api/shows/{show}/allocations",
        "admin",
        ids={"show": SHOW},
        body=Obj(
            {
                "sku": Id(required=True),
                "units": Whole(1, 1_000_000, required=True),
                "id": Id(),
            }
        ),
        valid={"sku": "p-plain", "units": 1, "id": "edge-move"},
    ),
    Endpoint(
        "POST",
        "/api/shows/{show}/allocations/return",
        "admin",
        ids={"show": SHOW},
        body=Obj({"sku": Id(required=True), "units": Whole(1, 1_000_000), "id": Id()}),
        valid={"sku": "p-plain", "units": 1, "id": "edge-return"},
    ),
    Endpoint("GET", "/api/brands/{brand}/shipping", "admin", ids={"brand": BRAND}),
    Endpoint(
        "PUT",
        "/api/brands/{brand}/shipping",
        "admin",
        ids={"brand": BRAND},
        body=Obj({"flat": Whole(0, 10**11, required=True), "free_over": Whole(1, 10**11)}),
        valid={"flat": 490, "free_over": 5000},
    ),
    Endpoint("GET", "/api/brands/{brand}/inventory", "admin", ids={"brand": BRAND}),
    Endpoint(
        "PUT",
        "/api/brands/{brand}/inventory/{sku}",
        "admin",
        ids={"brand": BRAND, "sku": PathId("sku", "p-plain")},
        body=Obj({"units": Whole(0, 1_000_000_000, required=True)}),
        valid={"units": 5},
    ),
    Endpoint("POST", "/api/shows/{show}/start", "admin", ids={"show": SHOW}),
    # A show of its own: a body ignored here would end the show the others use.
    Endpoint("POST", "/api/shows/{show}/end", "admin", ids={"show": PathId("show", "s-end")}),
    Endpoint(
        "POST",
        "/api/shows/{show}/sales",
        "admin",
        ids={"show": SHOW},
        body=Obj({"state": OneOf(("paused", "open"), required=True), "reason": Text(200)}),
        valid={"state": "open", "reason": "back soon"},
    ),
    Endpoint(
        "PUT",
        "/api/shows/{show}/pin",
        "admin",
        ids={"show": SHOW},
        body=Obj({"sku": Id(required=True)}),
        valid={"sku": "p-plain"},
    ),
    Endpoint("DELETE", "/api/shows/{show}/pin", "admin", ids={"show": SHOW}),
    Endpoint(
        "POST",
        "/api/shows/{show}/flash",
        "admin",
        ids={"show": SHOW},
        body=Obj(
            {
                "sku": Id(required=True),
                "price": Whole(0, 10**11, required=True),
                "quantity": Whole(1, 1_000_000, required=True),
                "per_buyer_limit": Whole(0, 100),
                "countdown_s": Whole(0, 3600),
                "duration_s": Whole(1, 21_600, required=True),
            }
        ),
        valid={
            "sku": "p-plain",
            "price": 800,
            "quantity": 5,
            "per_buyer_limit": 1,
            "countdown_s": 10,
            "duration_s": 60,
        },
    ),
    Endpoint("DELETE", "/api/shows/{show}/flash", "admin", ids={"show": SHOW}),
    # auctions and giveaways: docs/api-shows.md
    Endpoint(
        "POST",
        "/api/shows/{show}/auctions",
        "admin",
        ids={"show": SHOW},
        body=Obj(
            {
                "sku": Id(required=True),
                "start_price": Whole(0, 10**11, required=True),
                "increment": Whole(1, 10**11),
                "duration_s": Whole(5, 600, required=True),
                "mode": OneOf(("sudden_death", "extended")),
                "extend_s": Whole(1, 60),
            }
        ),
        valid={
            "sku": "p-plain",
            "start_price": 1000,
            "increment": 100,
            "duration_s": 60,
            "mode": "extended",
            "extend_s": 10,
        },
    ),
    Endpoint("GET", "/api/shows/{show}/auctions", "admin", ids={"show": SHOW}),
    Endpoint("GET", AUCTION_PATH, "anyone", ids=AUCTION_IDS),
    Endpoint("GET", f"{AUCTION_PATH}/bids", "admin", ids=AUCTION_IDS),
    Endpoint(
        "POST",
        f"{AUCTION_PATH}/bids",
        "buyer",
        ids=AUCTION_IDS,
        body=Obj({"amount": Whole(1, 10**11, required=True), "max": Whole(1, 10**11)}),
        valid={"amount": 10**9, "max": 2 * 10**9},
    ),
    Endpoint(
        "POST",
        f"{AUCTION_PATH}/cancel",
        "admin",
        ids=AUCTION_IDS,
        body=Obj({"reason": Text(200)}),
        valid={"reason": "wrong lot"},
    ),
    Endpoint(
        "DELETE",
        f"{AUCTION_PATH}/bidders/{{user}}",
        "admin",
        ids={**AUCTION_IDS, "user": PathId("user", "ana", codes=("not_found", "not_bidder"))},
    ),
    Endpoint(
        "POST",
        f"{AUCTION_PATH}/offer",
        "admin",
        ids=AUCTION_IDS,
        body=Obj({"seconds": Whole(10, 3600)}),
        valid={"seconds": 60},
    ),
    Endpoint("POST", f"{AUCTION_PATH}/accept", "buyer", ids=AUCTION_IDS),
    Endpoint("POST", f"{AUCTION_PATH}/release", "admin", ids=AUCTION_IDS),
    Endpoint(
        "POST",
        "/api/shows/{show}/giveaways",
        "admin",
        ids={"show": SHOW},
        body=Obj(
            {
                "sku": Id(required=True),
                "duration_s": Whole(5, 600, required=True),
                "shipping": OneOf(("free", "winner_pays")),
            }
        ),
        valid={"sku": "p-plain", "duration_s": 60, "shipping": "free"},
    ),
    Endpoint("GET", "/api/shows/{show}/giveaways", "admin", ids={"show": SHOW}),
    Endpoint("GET", GIVEAWAY_PATH, "anyone", ids=GIVEAWAY_IDS),
    Endpoint("POST", f"{GIVEAWAY_PATH}/entries", "buyer", ids=GIVEAWAY_IDS),
    Endpoint("POST", f"{GIVEAWAY_PATH}/draw", "admin", ids=GIVEAWAY_IDS),
    Endpoint("POST", f"{GIVEAWAY_PATH}/redraw", "admin", ids=GIVEAWAY_IDS),
    Endpoint(
        "POST",
        f"{GIVEAWAY_PATH}/cancel",
        "admin",
        ids=GIVEAWAY_IDS,
        body=Obj({"reason": Text(200)}),
        valid={"reason": "wrong item"},
    ),
    Endpoint("POST", f"{GIVEAWAY_PATH}/release", "admin", ids=GIVEAWAY_IDS),
    Endpoint(
        "POST",
        "/api/shows/{show}/buy",
        "buyer",
        ids={"show": SHOW},
        body=Obj({**BUY_FIELDS, "idempotency_key": Id(required=True)}),
        valid={"sku": "p-plain", "quantity": 1, "idempotency_key": "edge-tap", "price": 1000},
    ),
    Endpoint("GET", "/api/shows/{show}/cart", "buyer", ids={"show": SHOW}),
    Endpoint(
        "POST",
        "/api/shows/{show}/cart",
        "buyer",
        ids={"show": SHOW},
        body=Obj(BUY_FIELDS),
        valid={"sku": "p-plain", "quantity": 1, "price": 1000, "ref": "c1"},
    ),
    Endpoint(
        "DELETE",
        "/api/shows/{show}/cart/{sku}",
        "buyer",
        ids={"show": SHOW, "sku": SKU_IN_SHOW},
        query={"quantity": Whole(0, 100)},
    ),
    Endpoint(
        "POST",
        "/api/shows/{show}/cart/checkout",
        "buyer",
        ids={"show": SHOW},
        body=Obj({"idempotency_key": Id(required=True)}),
        valid={"idempotency_key": "edge-checkout"},
    ),
    # buyers: docs/api-buyers.md
    Endpoint("POST", "/api/buyers", "anyone", body=PROFILE, valid=VALID_PROFILE),
    Endpoint("GET", "/api/me", "user"),
    Endpoint("PUT", "/api/me", "user", body=PROFILE, valid=VALID_PROFILE),
    # catalog and creators: docs/api-catalog.md
    Endpoint(
        "POST",
        "/api/brands",
        "admin",
        body=Obj({"id": Id(required=True), "name": Text(200, required=True)}),
        valid={"id": "b-new", "name": "Northwind Outfitters"},
    ),
    Endpoint("GET", "/api/brands", "admin", query=PAGE),
    Endpoint("GET", "/api/brands/{brand}", "admin", ids={"brand": BRAND}),
    Endpoint(
        "PUT",
        "/api/brands/{brand}",
        "admin",
        ids={"brand": BRAND},
        body=Obj({"id": Id(), "name": Text(200, required=True)}),
        valid={"name": "Brand One"},  # the id comes from the path
    ),
    # b1 still has products: a body ignored here meets 409, not a deletion.
    Endpoint("DELETE", "/api/brands/{brand}", "admin", ids={"brand": BRAND}),
    Endpoint("POST", "/api/products", "admin", body=PRODUCT, valid=VALID_PRODUCT),
    Endpoint(
        "GET",
        "/api/products",
        "admin",
        query={"brand": Id(), **PAGE},
        valid_query={"brand": "b1"},
    ),
    Endpoint("GET", "/api/products/{sku}", "admin", ids={"sku": PathId("sku", "p-plain")}),
    Endpoint(
        "PUT",
        "/api/products/{sku}",
        "admin",
        ids={"sku": PathId("sku", "p-spare")},
        body=Obj({**PRODUCT_FIELDS, "sku": Id()}),
        valid={k: v for k, v in VALID_PRODUCT.items() if k != "sku"},  # from the path
    ),
    # A product nothing else uses: a body ignored here deletes it.
    Endpoint("DELETE", "/api/products/{sku}", "admin", ids={"sku": PathId("sku", "p-doomed")}),
    Endpoint("POST", "/api/catalog/import", "admin", raw="import"),
    Endpoint(
        "POST",
        "/api/creators",
        "admin",
        body=Obj({"id": Id(required=True), "name": Text(200, required=True)}),
        valid={"id": "c-new", "name": "Maya Lindqvist"},
    ),
    Endpoint("GET", "/api/creators", "admin", query=PAGE),
    Endpoint("GET", "/api/creators/{creator}", "anyone", ids={"creator": CREATOR}),
    Endpoint(
        "PUT",
        "/api/creators/{creator}/showcase",
        "admin",
        ids={"creator": CREATOR},
        body=Obj(
            {"skus": IdList(200, required=True, existing=("p-plain", "p-limited", "p-scarce"))}
        ),
        valid={"skus": ["p-plain", "p-limited"]},
    ),
    Endpoint("GET", "/api/creators/{creator}/showcase", "anyone", ids={"creator": CREATOR}),
    Endpoint(
        "GET",
        "/api/creators/{creator}/share-link",
        "anyone",
        ids={"creator": CREATOR},
        query={"show": Id()},
        valid_query={"show": "s1"},
    ),
    # orders, earnings and webhooks: docs/api-orders.md
    Endpoint(
        "GET",
        "/api/orders",
        "admin",
        query={
            "show": Id(),
            "status": OneOf(("confirmed", "fulfilled", "delivered", "cancelled", "refunded")),
            "since_ms": Whole(0, 2**53),
            "until_ms": Whole(0, 2**53),
            **PAGE,
        },
    ),
    # No order exists in the world: the placeholder is well-formed and names nothing.
    Endpoint("GET", "/api/orders/{order}", "admin", ids={"order": PathId("order", "o_edge")}),
    Endpoint("GET", "/api/me/orders", "user", query=PAGE),
    Endpoint(
        "GET",
        "/api/orders.csv",
        "admin",
        query={
            "show": Id(),
            "status": OneOf(("confirmed", "fulfilled", "delivered", "cancelled", "refunded")),
            "since_ms": Whole(0, 2**53),
            "until_ms": Whole(0, 2**53),
            "after": Id(),
        },
    ),
    # The order lifecycle (no order exists: a bad body is refused before the lookup).
    Endpoint(
        "POST",
        "/api/orders/{order}/fulfil",
        "admin",
        ids={"order": PathId("order", "o_edge")},
        body=Obj(
            {
                "carrier": Text(200, required=True),
                "tracking_number": Text(200, required=True),
                "tracking_url": Url(),
            }
        ),
        valid={
            "carrier": "PostNord",
            "tracking_number": "00370712345",
            "tracking_url": "https://tracking.example/00370712345",
        },
    ),
    Endpoint(
        "POST", "/api/orders/{order}/deliver", "admin", ids={"order": PathId("order", "o_edge")}
    ),
    Endpoint(
        "POST",
        "/api/orders/{order}/cancel",
        "admin",
        ids={"order": PathId("order", "o_edge")},
        body=Obj({"reason": Text(500)}),
        valid={"reason": "the buyer asked"},
    ),
    Endpoint(
        "POST",
        "/api/orders/{order}/refund",
        "admin",
        ids={"order": PathId("order", "o_edge")},
        body=Obj({"amount": Whole(1, 10**15, required=True), "reason": Text(500)}),
        valid={"amount": 500, "reason": "arrived damaged"},
    ),
    Endpoint(
        "GET", "/api/creators/{creator}/earnings", "admin", ids={"creator": CREATOR}, query=PAGE
    ),
    Endpoint(
        "PUT",
        "/api/brands/{brand}/webhook",
        "admin",
        ids={"brand": PathId("brand", "b-hook")},
        body=Obj({"url": Url(required=True), "rotate_secret": Flag()}),
        valid={"url": "https://shop.example/hooks/livecart", "rotate_secret": False},
    ),
    Endpoint(
        "GET", "/api/brands/{brand}/webhook", "admin", ids={"brand": PathId("brand", "b-hook")}
    ),
    Endpoint(
        "DELETE", "/api/brands/{brand}/webhook", "admin", ids={"brand": PathId("brand", "b-hook")}
    ),
    Endpoint(
        "GET", "/api/brands/{brand}/webhook/deliveries", "admin", ids={"brand": BRAND}, query=PAGE
    ),
    Endpoint("GET", "/api/webhooks/dead", "admin", query=PAGE),
    # No delivery exists in the world: the placeholder is well-formed and names nothing.
    Endpoint(
        "POST",
        "/api/webhooks/dead/{delivery}/redeliver",
        "admin",
        ids={"delivery": PathId("webhook", "msg_o_edge")},
    ),
    Endpoint(
        "GET",
        "/api/webhooks/{delivery}",
        "admin",
        ids={"delivery": PathId("webhook", "msg_o_edge")},
    ),
    # tokens: docs/api.md
    Endpoint(
        "POST",
        "/api/tokens",
        "admin",
        body=Obj(
            {
                "sub": Id(required=True),
                "role": OneOf(("viewer", "streamer", "moderator", "admin")),
                "show": Id(),
                "ttl_s": Whole(1, 31_622_400),
            }
        ),
        valid={"sub": "alice", "role": "viewer", "ttl_s": 600},
    ),
    # a card on file: docs/api-buyers.md; Stripe's webhook (its signature checked by the
    # handler): docs/payments.md, tests/api/test_card_api.py
    Endpoint("POST", "/api/me/card/setup", "user"),
    Endpoint(
        "POST",
        "/api/me/card",
        "user",
        body=Obj({"setup_intent": Pattern(NOT_SETUP_INTENTS, required=True)}),
        valid={"setup_intent": "seti_1Abc"},
    ),
    Endpoint("DELETE", "/api/me/card", "user"),
    Endpoint("POST", "/api/payments/stripe/webhook", "anyone", raw="stripe event"),
    # video: docs/video.md (SDP bodies, read by the handler; their checks are tests/media's)
    Endpoint("POST", "/api/shows/{show}/whip", "publisher", ids={"show": SHOW}, raw="sdp"),
    Endpoint(
        "DELETE",
        "/api/shows/{show}/whip/{session}",
        "publisher",
        ids={"show": SHOW, "session": SESSION},
    ),
    Endpoint("POST", "/api/shows/{show}/whep", "anyone", ids={"show": SHOW}, raw="sdp"),
    Endpoint(
        "DELETE",
        "/api/shows/{show}/whep/{session}",
        "anyone",
        ids={"show": SHOW, "session": SESSION},
    ),
    # Janus relay: docs/video.md "Large audiences" (its checks are tests/media/test_janus.py)
    Endpoint(
        "POST", "/api/shows/{show}/janus", "anyone", ids={"show": SHOW}, query={"avoid": Id()}
    ),
    Endpoint(
        "POST",
        "/api/shows/{show}/janus/{session}/answer",
        "anyone",
        ids={"show": SHOW, "session": SESSION},
        raw="sdp",
    ),
    Endpoint(
        "POST",
        "/api/shows/{show}/janus/{session}/keepalive",
        "anyone",
        ids={"show": SHOW, "session": SESSION},
    ),
    Endpoint(
        "DELETE",
        "/api/shows/{show}/janus/{session}",
        "anyone",
        ids={"show": SHOW, "session": SESSION},
    ),
)

# Routes of the app that take no input to check: WHIP/WHEP's CORS preflight, and PATCH,
# which RFC 9725 answers 405 (no trickle ICE) by design.
NOT_IN_TABLE = {
    ("OPTIONS", "/api/shows/{}/whip"),
    ("OPTIONS", "/api/shows/{}/whep"),
    ("OPTIONS", "/api/shows/{}/whip/{}"),
    ("OPTIONS", "/api/shows/{}/whep/{}"),
    ("PATCH", "/api/shows/{}/whip/{}"),
    ("PATCH", "/api/shows/{}/whep/{}"),
}

JSON_BODIED = [e for e in TABLE if e.body is not None]
BODILESS_WRITES = [e for e in TABLE if e.body is None and e.raw is None and e.method != "GET"]
WITH_IDS = [e for e in TABLE if e.ids]


def credentials(who: str) -> dict[str, str]:
    if who == "admin":
        return {"X-API-Key": STRONG_ADMIN_KEY}
    if who in ("buyer", "user"):
        return bearer("ana")
    if who == "publisher":
        return bearer("root", "admin")
    return {}


# --- the world, and one server for the module -------------------------------------------


class Api:
    """The module's server, an HTTP client on it, and a Redis client for snapshots."""

    def __init__(self, live: LiveServer, http: httpx.AsyncClient, redis: Redis) -> None:
        self.live, self.http = live, http
        self.redis = redis  # raw bytes, for DUMP
        self.known: Snapshot | None = None  # the keyspace after the last refusal
        self.failures: dict[tuple[str, str, str], str] = {}

    async def keyspace_before(self) -> Snapshot:
        """The keyspace now: the one read after the previous request when that request
        changed nothing (nothing else writes between two examples), else read again."""
        return self.known if self.known is not None else await snapshot(self.redis)

    def __repr__(self) -> str:
        return f"Api({self.live.url})"

    async def refused(
        self,
        endpoint: Endpoint | str,
        what: str,
        url: str,
        *,
        method: str | None = None,
        status: int,
        codes: tuple[str, ...],
        fields: tuple[str, ...] | None,
        content: bytes | None = None,
        params: list[tuple[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Send one request; it must be refused with ``status``, one of ``codes`` and
        (unless ``fields`` is None) a field among ``fields``, and change no key."""
        if isinstance(endpoint, Endpoint):
            method = endpoint.method
            sent = {
                **credentials(endpoint.who),
                **({"Content-Type": "application/json"} if content is not None else {}),
                **(headers or {}),
            }
        else:
            sent = dict(headers or {})
        assert method is not None
        before = await self.keyspace_before()
        self.known = None
        response = await self.http.request(
            method, url, content=content, params=tuple(params or ()), headers=sent
        )
        after = await snapshot(self.redis)
        wrong = refusal_problems(response, status, codes, fields)
        changed = differences(before, after)
        if not changed:
            self.known = after
        if wrong or changed:
            shown = response.text if len(response.text) < 300 else response.text[:300] + "..."
            report = "\n".join(
                [
                    f"{endpoint}: {what}",
                    f"  {method} {response.request.url.raw_path.decode()} -> "
                    f"{response.status_code} {response.headers.get('content-type')} {shown}",
                    *(f"  {line}" for line in wrong),
                    *(f"  keyspace: {line}" for line in changed),
                ]
            )
            # Hypothesis runs a failing example again to report it; when the first run
            # wrote something, the second meets a changed world: report the first.
            key = (method, str(response.request.url), what)
            first = self.failures.setdefault(key, report)
            raise AssertionError(first if first == report else f"{first}\n(sent again: {report})")


def refusal_problems(
    response: httpx.Response, status: int, codes: tuple[str, ...], fields: tuple[str, ...] | None
) -> list[str]:
    """How ``response`` differs from the documented refusal."""
    problems = []
    if response.status_code != status:
        problems.append(f"wanted HTTP {status} {'/'.join(codes)} naming {fields}")
    if not response.headers.get("content-type", "").startswith("application/json"):
        problems.append("the error is not JSON (Content-Type: application/json)")
        return problems
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return [*problems, "the body is not JSON"]
    if not isinstance(body, dict):
        return [*problems, "the body is not a JSON object"]
    if body.get("error") not in codes:
        problems.append(f"error is {body.get('error')!r}, wanted {' or '.join(codes)}")
    if not isinstance(body.get("message"), str) or not body["message"]:
        problems.append("message is missing or empty")
    if fields is not None and body.get("field") not in fields:
        problems.append(f"field is {body.get('field')!r}, wanted {' or '.join(map(repr, fields))}")
    if "field" in body and not isinstance(body["field"], str):
        problems.append("field is not a string")
    return problems


async def seed_world(runtime: Runtime) -> None:
    """Show s1 live with four products (tests/commerce/conftest.py), a second live show
    for POST .../end, two products outside any lineup and one to delete, and a brand
    with a webhook endpoint and no products (so no delivery is ever attempted)."""
    redis = runtime.redis
    await seed_show(runtime, "s1")
    await seed_show(runtime, "s-end")
    for sku in ("p-extra", "p-spare", "p-doomed"):
        product = Product(sku=sku, brand="b1", title=sku, price=900, currency="EUR")
        await save_product(redis, product)
    await save_brand(redis, Brand(id="b-hook", name="Hooked"))
    await put_endpoint(redis, "b-hook", "https://shop.example/hooks", rotate_secret=False)
    # Ten minutes each, named so the table can point at them.
    await awards.run(
        runtime,
        "auction_start",
        "s1",
        "auction",
        "a_edge",
        "a_edge",
        "p-plain",
        1000,
        "[[0,100]]",
        "sudden_death",
        0,
        600_000,
        1000,
    )
    await awards.run(
        runtime,
        "giveaway_start",
        "s1",
        "giveaway",
        "g_edge",
        "g_edge",
        "p-plain",
        600_000,
        "free",
        1000,
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(redis_server: EmbeddedRedis) -> AsyncIterator[Api]:
    server_settings = Settings().with_overrides(
        {
            "redis": {"url": redis_server.url},
            "auth": {"secret": STRONG_SECRET, "admin_api_key": STRONG_ADMIN_KEY},
            "server": {"port": 0},
        }
    )
    raw = Redis.from_url(server_settings.redis.url)
    await raw.flushall()
    async with serve_app(server_settings) as live:
        await seed_world(live.runtime)
        async with httpx.AsyncClient(base_url=live.url, timeout=10.0) as http:
            yield Api(live, http, raw)
    await raw.aclose()


@pytest.fixture(autouse=True)
def fresh_keyspace(api: Api) -> None:
    """Each test reads the keyspace afresh before its first request."""
    api.known = None


# --- the table covers the app -----------------------------------------------------------


def _shape(path: str) -> str:
    parts = path.split("/")
    return "/".join("{}" if p.startswith("{") else p for p in parts)


async def test_the_table_names_every_api_route(api: Api) -> None:
    routes = {
        (method, _shape(getattr(route, "path", "")))
        for route in api.live.app.routes
        if getattr(route, "path", "").startswith("/api/")
        for method in (getattr(route, "methods", None) or ())
        if method != "HEAD"
    }
    table = {(e.method, _shape(e.path)) for e in TABLE}
    assert routes - NOT_IN_TABLE - table == set(), "routes the edge table does not check"
    assert table - routes == set(), "table rows with no route"


# --- bodies -----------------------------------------------------------------------------


def orjson_or_json(value: Any) -> bytes:
    """JSON text of ``value``; integers beyond 64 bits too (orjson refuses those)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value).encode()


def with_problem(problem: Problem) -> list[Endpoint]:
    """The endpoints whose body has a field where ``problem`` can be made."""
    return [e for e in JSON_BODIED if e.body and bad_bodies(e.body, e.valid, problem) is not None]


_strategies: dict[tuple[str, Problem], st.SearchStrategy[BadBody]] = {}


async def refused_body(api: Api, endpoint: Endpoint, problem: Problem, data: st.DataObject) -> None:
    assert endpoint.body is not None
    strategy = _strategies.get((str(endpoint), problem))
    if strategy is None:
        strategy = bad_bodies(endpoint.body, endpoint.valid, problem)
        assert strategy is not None
        _strategies[str(endpoint), problem] = strategy
    bad: BadBody = data.draw(strategy)
    await api.refused(
        endpoint,
        bad.what,
        endpoint.url(),
        status=400,
        codes=("invalid",),
        fields=bad.fields,
        content=orjson_or_json(bad.body),
    )


@pytest.mark.parametrize("endpoint", with_problem("unknown"), ids=str)
@examples
@given(data=st.data())
async def test_an_unknown_body_field_is_refused_by_name(
    api: Api, endpoint: Endpoint, data: st.DataObject
) -> None:
    await refused_body(api, endpoint, "unknown", data)


@pytest.mark.parametrize("endpoint", with_problem("type"), ids=str)
@examples
@given(data=st.data())
async def test_a_body_field_of_the_wrong_type_is_refused_by_name(
    api: Api, endpoint: Endpoint, data: st.DataObject
) -> None:
    await refused_body(api, endpoint, "type", data)


@pytest.mark.parametrize("endpoint", with_problem("range"), ids=str)
@examples
@given(data=st.data())
async def test_a_body_value_out_of_range_is_refused_by_name(
    api: Api, endpoint: Endpoint, data: st.DataObject
) -> None:
    await refused_body(api, endpoint, "range", data)


@pytest.mark.parametrize("endpoint", with_problem("control"), ids=str)
@examples
@given(data=st.data())
async def test_body_text_with_a_control_character_is_refused_by_name(
    api: Api, endpoint: Endpoint, data: st.DataObject
) -> None:
    await refused_body(api, endpoint, "control", data)


not_json = st.sampled_from(
    [b"", b" ", b"{", b"{'sku': 1}", b'{"sku": }', b"nul", b"\xff\xfe", b'{"a": 1} x', b"NaN"]
)
json_not_objects = st.one_of(
    st.lists(json_values, max_size=3), st.text(max_size=8), st.integers(), st.booleans(), st.none()
).map(orjson_or_json)


@pytest.mark.parametrize("endpoint", JSON_BODIED, ids=str)
@examples
@given(content=not_json | json_not_objects)
async def test_a_body_that_is_not_a_json_object_is_refused_naming_body(
    api: Api, endpoint: Endpoint, content: bytes
) -> None:
    await api.refused(
        endpoint,
        f"body {content[:60]!r}",
        endpoint.url(),
        status=400,
        codes=("invalid",),
        fields=("body",),
        content=content,
    )


@pytest.mark.parametrize("endpoint", BODILESS_WRITES, ids=str)
@few_examples
@given(body=st.dictionaries(field_names, json_values, min_size=1, max_size=3))
async def test_a_body_sent_where_none_is_taken_is_refused_naming_body(
    api: Api, endpoint: Endpoint, body: dict[str, Any]
) -> None:
    await api.refused(
        endpoint,
        f"a body {body!r} where none is taken",
        endpoint.url(),
        status=400,
        codes=("invalid",),
        fields=("body",),
        content=orjson_or_json(body),
    )


# --- queries ----------------------------------------------------------------------------

query_names = st.text(
    alphabet=string.ascii_letters + string.digits + "_-.", min_size=1, max_size=16
)


def bad_query_values(kind: Kind) -> st.SearchStrategy[str]:
    """Query values that break ``kind`` (every query value is text)."""
    if isinstance(kind, Whole):
        numbers = st.integers(max_value=kind.lo - 1) | st.integers(min_value=kind.hi + 1)
        return numbers.map(str) | st.text(max_size=6).filter(
            lambda s: not (s.isascii() and s.isdigit())
        )
    if isinstance(kind, OneOf):
        return st.text(max_size=12).filter(lambda s: s not in kind.choices)
    return malformed_ids


def a_good_value(name: str, kind: Kind) -> str:
    if isinstance(kind, Whole):
        return str(max(kind.lo, min(kind.hi, 5)))
    if isinstance(kind, OneOf):
        return kind.choices[0]
    return {"show": "s1", "creator": "c1", "brand": "b1"}.get(name, "zz-cursor")


@st.composite
def bad_queries(draw: st.DrawFn, endpoint: Endpoint) -> tuple[str, list[tuple[str, str]], str]:
    """(what, query items, the parameter the refusal must name)."""
    base = list(endpoint.valid_query.items())
    ways = ["unknown"] + (["twice", "empty", "malformed"] if endpoint.query else [])
    way = draw(st.sampled_from(ways))
    if way == "unknown":
        name = draw(query_names.filter(lambda n: n not in endpoint.query))
        value = draw(st.text(max_size=8))
        return f"unknown query parameter {name}={value!r}", [*base, (name, value)], name
    name = draw(st.sampled_from(sorted(endpoint.query)))
    kind = endpoint.query[name]
    rest = [(k, v) for k, v in base if k != name]
    if way == "twice":
        one, two = a_good_value(name, kind), a_good_value(name, kind)
        return f"{name} given twice", [*rest, (name, one), (name, two)], name
    if way == "empty":
        return f"{name}= (empty)", [*rest, (name, "")], name
    value = draw(bad_query_values(kind))
    return f"{name}={value!r}", [*rest, (name, value)], name


@pytest.mark.parametrize("endpoint", TABLE, ids=str)
@few_examples
@given(data=st.data())
async def test_a_bad_query_is_refused_naming_the_parameter(
    api: Api, endpoint: Endpoint, data: st.DataObject
) -> None:
    what, params, name = data.draw(bad_queries(endpoint))
    await api.refused(
        endpoint,
        what,
        endpoint.url(),
        status=400,
        codes=("invalid",),
        fields=(name,),
        params=params,
        content=valid_content(endpoint),
        headers=raw_headers(endpoint),
    )


def valid_content(endpoint: Endpoint) -> bytes | None:
    """A body that passes every check of its own (so that only the query or the path is
    wrong), or None for an endpoint that takes none."""
    if endpoint.body is not None:
        return orjson.dumps(endpoint.valid)
    if endpoint.raw == "import":
        return orjson.dumps([{**VALID_PRODUCT, "sku": "p-imported"}])
    if endpoint.raw == "sdp":
        return b""
    return None


def raw_headers(endpoint: Endpoint) -> dict[str, str]:
    return {"Content-Type": "application/sdp"} if endpoint.raw == "sdp" else {}


# --- ids in the path --------------------------------------------------------------------

path_segments = st.text(min_size=1, max_size=20).filter(
    lambda s: "/" not in s and not all(c in ID_CHARS for c in s)
) | st.text(alphabet=ID_CHARS, min_size=65, max_size=80)
unknown_ids = st.text(alphabet=ID_CHARS, max_size=20).map(lambda s: "zz-" + s)


@pytest.mark.parametrize("endpoint", WITH_IDS, ids=str)
@few_examples
@given(data=st.data())
async def test_a_malformed_id_in_the_path_is_refused_naming_it(
    api: Api, endpoint: Endpoint, data: st.DataObject
) -> None:
    param = data.draw(st.sampled_from(sorted(endpoint.ids)))
    value = data.draw(path_segments)
    await api.refused(
        endpoint,
        f"malformed {param} {value!r}",
        endpoint.url(**{param: value}),
        status=400,
        codes=("invalid",),
        fields=(endpoint.ids[param].field,),
        params=list(endpoint.valid_query.items()),
        content=valid_content(endpoint),
        headers=raw_headers(endpoint),
    )


@pytest.mark.parametrize("endpoint", WITH_IDS, ids=str)
@few_examples
@given(data=st.data())
async def test_an_unknown_id_in_the_path_is_not_found_before_any_write(
    api: Api, endpoint: Endpoint, data: st.DataObject
) -> None:
    # One id at a time names nothing; the others name what exists.
    param = data.draw(st.sampled_from(sorted(endpoint.ids)))
    value = data.draw(unknown_ids)
    pid = endpoint.ids[param]
    await api.refused(
        endpoint,
        f"unknown {param} {value!r}",
        endpoint.url(**{param: value}),
        status=404,
        codes=pid.codes,
        fields=(pid.field,),
        params=list(endpoint.valid_query.items()),
        content=valid_content(endpoint),
        headers=raw_headers(endpoint),
    )


# --- paths and methods ------------------------------------------------------------------

API_PREFIXES = ("shows", "buyers", "me", "brands", "products", "catalog", "creators", "orders")
segments = st.text(alphabet=ID_CHARS, min_size=1, max_size=10).filter(lambda s: set(s) != {"."})
accepts = st.sampled_from(["*/*", "application/json", "text/html,application/xhtml+xml,*/*;q=0.8"])


def _matches(api: Api, path: str, method: str) -> Match:
    scope = {"type": "http", "path": path, "method": method, "root_path": ""}
    best = Match.NONE
    for route in api.live.app.routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return match
        if match is Match.PARTIAL:
            best = match
    return best


@examples
@given(
    first=st.sampled_from(API_PREFIXES) | segments,
    rest=st.lists(segments, max_size=4),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    accept=accepts,
)
async def test_an_unknown_api_path_or_method_gets_a_json_error(
    api: Api, first: str, rest: list[str], method: str, accept: str
) -> None:
    path = "/api/" + "/".join([first, *rest])
    match = _matches(api, path, method)
    if match is Match.FULL:
        return  # a route: the other tests check it
    status, code = (405, "method_not_allowed") if match is Match.PARTIAL else (404, "not_found")
    headers = {"X-API-Key": STRONG_ADMIN_KEY, "Accept": accept}
    content = b"{}" if method in ("POST", "PUT", "PATCH") else None
    if content is not None:
        headers["Content-Type"] = "application/json"
    await api.refused(
        f"{method} {path}",
        f"Accept: {accept}",
        path,
        method=method,
        status=status,
        codes=(code,),
        fields=None,
        content=content,
        headers=headers,
    )


@examples
@given(data=st.data())
async def test_a_method_a_route_does_not_take_gets_405_json(api: Api, data: st.DataObject) -> None:
    endpoint = data.draw(st.sampled_from(TABLE))
    path = endpoint.url()
    taken = {
        m for m in ("GET", "POST", "PUT", "DELETE", "PATCH") if _matches(api, path, m) is Match.FULL
    }
    others = sorted({"GET", "POST", "PUT", "DELETE", "PATCH"} - taken)
    method = data.draw(st.sampled_from(others))
    await api.refused(
        f"{method} {endpoint.path}",
        "a method the route does not take",
        path,
        method=method,
        status=405,
        codes=("method_not_allowed",),
        fields=None,
        content=b"{}",
        headers={**credentials(endpoint.who), "Content-Type": "application/json"},
    )


# --- the catalog import: bad rows are reported, and nothing is written ------------------


@pytest.mark.parametrize("problem", PROBLEMS)
@examples
@given(data=st.data())
async def test_an_imported_row_with_a_problem_is_reported_by_name_and_not_written(
    api: Api, problem: Problem, data: st.DataObject
) -> None:
    strategy = bad_bodies(PRODUCT, {**VALID_PRODUCT, "sku": "p-imported"}, problem)
    assert strategy is not None
    bad: BadBody = data.draw(strategy)
    before = await snapshot(api.redis)
    response = await api.http.post(
        "/api/catalog/import",
        content=orjson_or_json([bad.body]),
        headers={"X-API-Key": STRONG_ADMIN_KEY, "Content-Type": "application/json"},
    )
    changed = differences(before, await snapshot(api.redis))
    report = response.json() if response.status_code == 200 else None
    rejected = report["rejected"] if report else []
    assert (
        report is not None
        and report["imported"] == 0
        and len(rejected) == 1
        and rejected[0]["error"] == "invalid"
        and rejected[0]["field"] in bad.fields
        and not changed
    ), (
        f"POST /api/catalog/import: row with {bad.what}\n"
        f"  -> {response.status_code} {response.text[:300]}\n"
        f"  wanted 200, imported 0, the row rejected as invalid naming {bad.fields}"
        + "".join(f"\n  keyspace: {line}" for line in changed)
    )


@examples
@given(content=not_json | json_not_objects.filter(lambda c: not c.startswith(b"[")))
async def test_an_import_that_is_not_a_json_array_is_refused_naming_body(
    api: Api, content: bytes
) -> None:
    endpoint = next(e for e in TABLE if e.raw == "import")
    await api.refused(
        endpoint,
        f"body {content[:60]!r}",
        endpoint.url(),
        status=400,
        codes=("invalid",),
        fields=("body",),
        content=content,
    )


# --- 413 and 415: separate, as the lead's choices for these may still move --------------

LARGE = 1 << 20  # docs/api.md: at most 1 MiB per request


@pytest.mark.parametrize(
    ("endpoint", "size"),
    [
        *((e, LARGE + 1) for e in JSON_BODIED if e.path != "/api/buyers" and e.path != "/api/me"),
        *((e, 8192 + 1) for e in JSON_BODIED if e.path in ("/api/buyers", "/api/me")),
    ],
    ids=lambda v: str(v),
)
async def test_a_body_too_large_is_refused_with_413(
    api: Api, endpoint: Endpoint, size: int
) -> None:
    padded = orjson.dumps(endpoint.valid)
    content = padded[:-1] + b" " * (size - len(padded)) + b"}"
    await api.refused(
        endpoint,
        f"a body of {size} bytes",
        endpoint.url(),
        status=413,
        codes=("too_large", "payload_too_large", "invalid"),
        fields=("body",),
        content=content,
    )


WRONG_TYPES = ["text/plain", "application/xml", "multipart/form-data; boundary=x", "text/csv"]


@pytest.mark.parametrize("endpoint", JSON_BODIED, ids=str)
@settings(max_examples=len(WRONG_TYPES) * 2, deadline=None, suppress_health_check=list(HealthCheck))
@given(content_type=st.sampled_from(WRONG_TYPES))
async def test_a_json_body_sent_as_another_type_is_refused_with_415(
    api: Api, endpoint: Endpoint, content_type: str
) -> None:
    await api.refused(
        endpoint,
        f"a valid body sent as {content_type}",
        endpoint.url(),
        status=415,
        codes=("unsupported_media_type",),
        fields=None,
        content=orjson.dumps(endpoint.valid),
        headers={"Content-Type": content_type},
    )


async def test_an_import_sent_as_text_plain_is_refused_with_415(api: Api) -> None:
    endpoint = next(e for e in TABLE if e.raw == "import")
    await api.refused(
        endpoint,
        "an import sent as text/plain",
        endpoint.url(),
        status=415,
        codes=("unsupported_media_type",),
        fields=None,
        content=valid_content(endpoint),
        headers={"Content-Type": "text/plain"},
    )
