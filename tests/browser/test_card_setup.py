"""The viewer page's card sheet in a real Chromium, on a node that charges cards through
Stripe (the local double of Stripe's API): a buyer with no card taps Buy, is asked for
one, and, since this test network cannot reach js.stripe.com, is told in words that
the card form could not load. Stripe.js is not faked: what it does is Stripe's; what
is checked here is livecart's part around it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser, expect
from redis.asyncio import Redis

from livecart.config import Settings
from tests.browser.live_show import SHOW, buyer_token, card, connected, opened, pin, seed_live_show
from tests.commerce.conftest import units
from tests.helpers import LiveServer, serve_app
from tests.stripe_double import StripeDouble, double, stripe_settings

pytestmark = pytest.mark.browser

BUY = re.compile(r"^Buy ")


__all__ = ["double"]


@pytest.fixture
async def live(settings: Settings, redis: Redis, double: StripeDouble) -> AsyncIterator[LiveServer]:
    async with serve_app(stripe_settings(settings, double)) as server:
        await seed_live_show(server.runtime, server.url)
        yield server


async def test_a_buyer_without_a_card_is_asked_for_one_and_told_when_stripe_cannot_load(
    browser: Browser, live: LiveServer, double: StripeDouble, redis: Redis
) -> None:
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as http:
        _, token = await buyer_token(http, "Ana")
        async with opened(browser, f"{live.url}/shows/{SHOW}#token={token}") as page:
            stripe_js: list[str] = []
            page.on(
                "request",
                lambda request: (
                    stripe_js.append(request.url) if "js.stripe.com" in request.url else None
                ),
            )
            await connected(page)
            await pin(http, "nw-socks")
            await expect(card(page)).to_contain_text("40 left")
            assert stripe_js == []  # loaded only when a card is needed

            await card(page).get_by_role("button", name=BUY).click()
            sheet = page.get_by_role("dialog", name="Add a card to buy")
            await expect(sheet).to_be_visible()
            await expect(sheet.get_by_role("status")).to_have_text(
                re.compile(r"^The secure card form \(Stripe\) couldn't load"), timeout=15_000
            )
            assert stripe_js == ["https://js.stripe.com/v3"]
            await expect(sheet.get_by_role("button", name="Save card")).to_be_disabled()
            assert len(double.customers) == 1 and len(double.setup_intents) == 1

            await sheet.get_by_role("button", name="Cancel").click()
            await expect(sheet).to_be_hidden()
            await expect(card(page).locator(".lc-result")).to_have_text(
                "Add a card to buy with one tap"
            )
    assert double.payment_intents == {}
    u = await units(redis, "nw-socks", SHOW)
    assert (u.stock, u.held, u.sold) == (40, 0, 0)
