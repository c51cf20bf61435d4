"""A creator's showcase (/c/{creator}) in a real Chromium: their picks with the live
show's price and stock, which changes as units are bought; their live show, linked with
their ref; share links that copy; and clear pages for a creator that is not there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect
from redis.asyncio import Redis

from livecart.config import Settings
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.test_merchant import (
    KEY,
    buy,
    seed_shop,
    serious_violations,
    sign_up_buyer,
    viewport,
)
from tests.helpers import LiveServer

pytestmark = pytest.mark.browser

PUBLIC_URL = "https://shop.example"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Share links start with the address buyers reach (``server.public_url``)."""
    return settings.with_overrides({"server": {"public_url": PUBLIC_URL}})


@pytest.fixture
async def http(server: LiveServer, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    """The shop of the console's tests (live show `drop` by maya, selling the beanie and
    the socks), a cap that no show sells, a scheduled show, and maya's showcase."""
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        await seed_shop(client)
        cap = {
            "sku": "nw-cap",
            "brand": "northwind",
            "title": "Trail cap",
            "price": 1500,
            "currency": "EUR",
        }
        assert (await client.post("/api/products", json=cap, headers=KEY)).status_code == 201
        later = {
            "id": "later",
            "title": "Winter layers",
            "creator": "maya",
            "brand": "northwind",
            "scheduled_at_ms": 1_950_000_000_000,
            "lineup": [{"sku": "nw-cap", "quantity": 3}],
        }
        assert (await client.post("/api/shows", json=later, headers=KEY)).status_code == 201
        showcase = {"skus": ["nw-beanie", "nw-socks", "nw-cap"]}
        put = await client.put("/api/creators/maya/showcase", json=showcase, headers=KEY)
        assert put.status_code == 200
        yield client


@pytest.fixture
async def page(browser: Browser, server: LiveServer) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=viewport(PHONE))
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    await context.close()
    assert errors == []


async def test_the_showcase_shows_live_stock_that_drops_when_a_unit_is_bought(
    page: Page, server: LiveServer, http: httpx.AsyncClient
) -> None:
    await page.goto(f"{server.url}/c/maya")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Maya Lindqvist's picks")
    beanie = page.locator("article[data-sku='nw-beanie']")
    socks = page.locator("article[data-sku='nw-socks']")
    cap = page.locator("article[data-sku='nw-cap']")
    await expect(beanie).to_contain_text("20 left in the live show")
    await expect(beanie).to_contain_text("€24.00")
    await expect(socks).to_contain_text("9 left in the live show")
    await expect(cap).to_contain_text("Not in a live show right now")
    await expect(cap).to_contain_text("€15.00")
    await expect(cap.get_by_role("link", name="Buy in the live show")).to_be_hidden()
    await expect(beanie.get_by_role("link", name="Buy in the live show")).to_have_attribute(
        "href", "/shows/drop?ref=maya"
    )
    live = page.get_by_role("region", name="Sunday drop")
    await expect(live.get_by_role("link", name="Watch and shop")).to_have_attribute(
        "href", "/shows/drop?ref=maya"
    )

    token = await sign_up_buyer(http)
    await buy(http, token, "tap-1")
    await expect(beanie).to_contain_text("19 left in the live show")
    response = await http.post(
        "/api/shows/drop/buy",
        json={"sku": "nw-socks", "quantity": 9, "idempotency_key": "tap-all-socks"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text
    await expect(socks).to_contain_text("Sold out")

    # The show ends: the picks go back to the catalog's words, with no stale stock.
    assert (await http.post("/api/shows/drop/end", headers=KEY)).status_code == 200
    await expect(beanie).to_contain_text("Not in a live show right now")
    await expect(live).to_contain_text("The show has just ended.")


async def test_share_links_credit_the_creator_and_copy(
    page: Page, server: LiveServer, http: httpx.AsyncClient
) -> None:
    await page.goto(f"{server.url}/c/maya")
    links = page.get_by_role("region", name="Share a show")
    live_link = links.get_by_label("Sunday drop, live now")
    await expect(live_link).to_have_value(f"{PUBLIC_URL}/shows/drop?ref=maya")
    later_link = links.get_by_label("Winter layers", exact=False)
    await expect(later_link).to_have_value(f"{PUBLIC_URL}/shows/later?ref=maya")
    copy = links.get_by_role("button", name="Copy link").first
    await copy.click()
    await expect(links.get_by_role("button", name="Copied ✓")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == (
        f"{PUBLIC_URL}/shows/drop?ref=maya"
    )


async def test_a_creator_that_is_not_there_is_said_so(
    page: Page, server: LiveServer, http: httpx.AsyncClient
) -> None:
    await page.goto(f"{server.url}/c/nobody")
    await expect(page.get_by_role("status").filter(has_text="no creator")).to_have_text(
        "There is no creator here. Check the link."
    )
    response = await page.goto(f"{server.url}/c/not:an-id")
    assert response is not None and response.status == 404
    await expect(page.get_by_role("heading", level=1)).to_have_text("There is no such page")


async def test_the_showcase_has_no_serious_accessibility_violation(
    browser: Browser, server: LiveServer, http: httpx.AsyncClient, screenshots: Path
) -> None:
    for name, size in (("phone", PHONE), ("desktop", DESKTOP)):
        context = await browser.new_context(viewport=viewport(size))
        page = await context.new_page()
        await page.goto(f"{server.url}/c/maya")
        await expect(page.locator("article[data-sku='nw-beanie']")).to_contain_text("left")
        assert await serious_violations(page) == [], name
        assert await page.evaluate("document.documentElement.scrollWidth") <= size["width"]
        await page.screenshot(path=screenshots / f"showcase-{name}.png", full_page=True)
        await context.close()
