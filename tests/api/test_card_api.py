"""A buyer's card on file over HTTP (docs/api-buyers.md, "Card on file"), against a
local double of Stripe's API: set up, save, show, forget; one Stripe customer per
buyer; no secret ever shown; bad input refused by field with nothing changed, here or
at Stripe."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from redis.asyncio import Redis

from livecart.config import Settings
from tests.helpers import LiveServer, bearer, serve_app
from tests.keyspace import differences, snapshot
from tests.stripe_double import (
    PROFILE,
    PUBLISHABLE_KEY,
    StripeDouble,
    double,
    save_a_card,
    stripe_settings,
)

MAYA = bearer(sub="maya")
ANA = bearer(sub="ana")


__all__ = ["double"]


@pytest.fixture
async def live(settings: Settings, redis: Redis, double: StripeDouble) -> AsyncIterator[LiveServer]:
    async with serve_app(stripe_settings(settings, double)) as server:
        yield server


@pytest.fixture
async def http(live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
        yield client


def stripe_state(double: StripeDouble) -> dict[str, Any]:
    return copy.deepcopy(
        {
            "customers": double.customers,
            "setup_intents": double.setup_intents,
            "payment_methods": double.payment_methods,
            "payment_intents": double.payment_intents,
        }
    )


async def test_a_buyer_saves_a_card_once_and_sees_it_by_brand_and_last_four(
    http: httpx.AsyncClient, double: StripeDouble
) -> None:
    await http.put("/api/me", headers=MAYA, json=PROFILE)
    first = await http.post("/api/me/card/setup", headers=MAYA)
    again = await http.post("/api/me/card/setup", headers=MAYA)
    assert first.status_code == again.status_code == 201
    assert set(first.json()) == {"client_secret", "publishable_key"}
    assert first.json()["publishable_key"] == PUBLISHABLE_KEY
    assert len(double.customers) == 1  # one Stripe customer per buyer, made once
    (customer,) = double.customers.values()
    assert (customer["email"], customer["metadata"]) == (
        PROFILE["email"],
        {"livecart_buyer": "maya"},
    )
    assert {i["usage"] for i in double.setup_intents.values()} == {"off_session"}

    me = await save_a_card(http, double, MAYA, number="5555555555554444")
    assert me["card"] == {"brand": "mastercard", "last4": "4444"}
    shown = orjson.dumps(me).decode()
    for secret in ("cus_", "pm_", "seti_", "secret", "stripe"):
        assert secret not in shown

    # Changing the profile keeps the card.
    moved = {**PROFILE, "address": {**PROFILE["address"], "city": "Göteborg"}}
    changed = await http.put("/api/me", headers=MAYA, json=moved)
    assert changed.json()["card"] == {"brand": "mastercard", "last4": "4444"}
    assert len(double.customers) == 1


async def test_a_forgotten_card_is_detached_at_stripe_and_no_longer_shown(
    http: httpx.AsyncClient, double: StripeDouble
) -> None:
    await save_a_card(http, double, MAYA)
    forgotten = await http.delete("/api/me/card", headers=MAYA)
    assert forgotten.status_code == 200 and forgotten.json()["card"] is None
    assert (await http.get("/api/me", headers=MAYA)).json()["card"] is None
    (method,) = double.payment_methods.values()
    assert method["customer"] is None
    again = await http.delete("/api/me/card", headers=MAYA)
    assert again.status_code == 404 and again.json()["field"] == "card"


async def refused_with_nothing_changed(
    live: LiveServer,
    double: StripeDouble,
    method: str,
    path: str,
    *,
    headers: dict[str, str],
    content: bytes | None,
    status: int,
    field: str,
) -> None:
    raw = Redis.from_url(live.runtime.settings.redis.url)
    try:
        before, at_stripe = await snapshot(raw), stripe_state(double)
        async with httpx.AsyncClient(base_url=live.url, timeout=10) as http:
            answer = await http.request(
                method,
                path,
                content=content,
                headers={**headers, "content-type": "application/json"},
            )
        assert answer.status_code == status, answer.text
        assert answer.json()["field"] == field, answer.text
        assert differences(before, await snapshot(raw)) == []
        assert stripe_state(double) == at_stripe
    finally:
        await raw.aclose()


BAD_SAVES = [
    (None, 400, "body"),
    (b"not json", 400, "body"),
    (b"[]", 400, "body"),
    (b"{}", 400, "setup_intent"),
    (b'{"setup_intent": 5}', 400, "setup_intent"),
    (b'{"setup_intent": "pi_123"}', 400, "setup_intent"),
    (b'{"setup_intent": "seti_a\\u0000b"}', 400, "setup_intent"),
    (b'{"setup_intent": "seti_x", "card": "4242"}', 400, "card"),
    (b'{"setup_intent": "seti_doesnotexist"}', 404, "setup_intent"),
]


@pytest.mark.parametrize(("content", "status", "field"), BAD_SAVES)
async def test_a_bad_card_save_is_refused_by_field_and_changes_nothing(
    live: LiveServer,
    http: httpx.AsyncClient,
    double: StripeDouble,
    content: bytes | None,
    status: int,
    field: str,
) -> None:
    await save_a_card(http, double, MAYA)
    await refused_with_nothing_changed(
        live,
        double,
        "POST",
        "/api/me/card",
        headers=MAYA,
        content=content,
        status=status,
        field=field,
    )


async def test_a_setup_intent_of_another_buyer_or_not_confirmed_is_refused(
    live: LiveServer, http: httpx.AsyncClient, double: StripeDouble
) -> None:
    await save_a_card(http, double, MAYA)
    await http.put("/api/me", headers=ANA, json=PROFILE)
    setup = await http.post("/api/me/card/setup", headers=ANA)
    anas = setup.json()["client_secret"].split("_secret_")[0]
    body = orjson.dumps({"setup_intent": anas})
    # Ana's intent, not confirmed yet: refused for Ana.
    await refused_with_nothing_changed(
        live,
        double,
        "POST",
        "/api/me/card",
        headers=ANA,
        content=body,
        status=400,
        field="setup_intent",
    )
    double.confirm_setup(anas)
    # Ana's intent, confirmed: refused for Maya, whose customer it is not.
    await refused_with_nothing_changed(
        live,
        double,
        "POST",
        "/api/me/card",
        headers=MAYA,
        content=body,
        status=400,
        field="setup_intent",
    )
    assert (await http.get("/api/me", headers=MAYA)).json()["card"]["last4"] == "4242"


@pytest.mark.parametrize(
    ("method", "path", "headers", "content", "status", "field"),
    [
        ("POST", "/api/me/card/setup", MAYA, b'{"usage": "on_session"}', 400, "body"),
        ("POST", "/api/me/card/setup", {}, None, 401, None),
        ("POST", "/api/me/card/setup", bearer(sub="no-profile"), None, 404, "profile"),
        ("POST", "/api/me/card/setup?x=1", MAYA, None, 400, "x"),
        ("POST", "/api/me/card", {}, b'{"setup_intent": "seti_abc"}', 401, None),
        ("DELETE", "/api/me/card", MAYA, b'{"card": "all"}', 400, "body"),
        ("DELETE", "/api/me/card", {}, None, 401, None),
        ("DELETE", "/api/me/card", bearer(sub="no-profile"), None, 404, "profile"),
    ],
)
async def test_bad_card_requests_are_refused_and_change_nothing(
    live: LiveServer,
    http: httpx.AsyncClient,
    double: StripeDouble,
    method: str,
    path: str,
    headers: dict[str, str],
    content: bytes | None,
    status: int,
    field: str | None,
) -> None:
    await save_a_card(http, double, MAYA)
    raw = Redis.from_url(live.runtime.settings.redis.url)
    try:
        before, at_stripe = await snapshot(raw), stripe_state(double)
        answer = await http.request(
            method, path, content=content, headers={**headers, "content-type": "application/json"}
        )
        assert answer.status_code == status, answer.text
        assert answer.json().get("field") == field, answer.text
        assert differences(before, await snapshot(raw)) == []
        assert stripe_state(double) == at_stripe
    finally:
        await raw.aclose()


async def test_without_the_stripe_provider_there_is_no_card_to_keep(
    settings: Settings, redis: Redis
) -> None:
    async with (
        serve_app(settings) as server,
        httpx.AsyncClient(base_url=server.url, timeout=10) as http,
    ):
        await http.put("/api/me", headers=MAYA, json=PROFILE)
        for method, path in (("POST", "/api/me/card/setup"), ("DELETE", "/api/me/card")):
            answer = await http.request(method, path, headers=MAYA)
            assert answer.status_code == 404 and answer.json()["field"] == "card"
        hook = await http.post("/api/payments/stripe/webhook", content=b"{}")
        assert hook.status_code == 404
        assert (await http.get("/api/me", headers=MAYA)).json()["card"] is None
