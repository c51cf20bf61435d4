"""Variants on the viewer page in a real Chromium: the pinned tee shows a size picker
(the sold-out size greyed and not selectable), the price and stock follow the size
picked, Buy buys that size, and the cart and confirmation name it. A plain product
pinned next still buys with one tap, with no picker."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect
from redis.asyncio import Redis

from livecart.commerce.catalog.products import Product, save_product
from livecart.commerce.shows import control as show_control
from livecart.config import Settings
from livecart.store import keys
from tests.browser.conftest import DESKTOP
from tests.browser.live_show import (
    KEY,
    SHOW,
    buyer_token,
    card,
    connected,
    opened,
    pin,
    seed_live_show,
    serious_violations,
    sign_up,
)
from tests.helpers import LiveServer
from tests.hub.live import token

pytestmark = pytest.mark.browser

BUY = re.compile(r"^Buy ")
ORDERED = re.compile(r"^Ordered ✓ #[0-9a-f]{8}$")
ORDERED_M = re.compile(r"^Ordered ✓ #[0-9a-f]{8} · M$")
# size -> (sku, price in cents or None for the tee's, units for the show)
SIZES = {"S": ("tee-s", None, 6), "M": ("tee-m", 2700, 7), "L": ("tee-l", None, 1)}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides({"hub": {"tick_ms": 10}})


@pytest.fixture
async def live(server: LiveServer, redis: Redis) -> LiveServer:
    await seed_live_show(server.runtime, server.url)
    variants = [
        {"sku": sku, "values": [size], **({"price": price} if price else {})}
        for size, (sku, price, _) in SIZES.items()
    ]
    tee = {
        "sku": "tee",
        "brand": "northwind",
        "title": "Trail tee",
        "price": 2500,
        "currency": "EUR",
        "image_url": f"{server.url}/static/img/product.svg",
        "options": ["Size"],
        "variants": variants,
    }
    await save_product(server.runtime.redis, Product.from_dict(tee))
    for sku, _, units in SIZES.values():
        await show_control.add_to_lineup(server.runtime, SHOW, sku, units)
    await show_control.adjust_stock(server.runtime, SHOW, "tee-l", -1)  # L: sold out
    return server


@pytest.fixture
async def http(live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
        yield client


async def stock(redis: Redis) -> dict[str, int]:
    found = await redis.hgetall(keys.show_stock(SHOW))
    return {sku: int(n) for sku, n in found.items()}


async def test_a_viewer_picks_a_size_and_buys_it_and_a_plain_product_stays_one_tap(
    browser: Browser, live: LiveServer, http: httpx.AsyncClient, redis: Redis, screenshots: Path
) -> None:
    before = await stock(redis)
    async with opened(browser, f"{live.url}/shows/{SHOW}") as page:
        await connected(page)
        await pin(http, "tee")
        pinned = card(page)
        await expect(pinned).to_contain_text("Trail tee")
        chips = pinned.get_by_role("group", name="Size").get_by_role("button")
        await expect(chips).to_have_text(["S", "M", "L"])
        # The first size in stock is chosen; the sold-out size cannot be.
        await expect(chips.nth(0)).to_have_attribute("aria-pressed", "true")
        await expect(pinned).to_contain_text("€25.00")
        await expect(pinned).to_contain_text("6 left")
        await expect(chips.nth(2)).to_be_disabled()
        await expect(chips.nth(2)).to_have_accessible_name("Size L, sold out")

        # Picking M: its own price and stock.
        await chips.nth(1).click()
        await expect(chips.nth(1)).to_have_attribute("aria-pressed", "true")
        await expect(pinned.locator(".product-card__price")).to_have_text("€27.00")
        await expect(pinned).to_contain_text("7 left")
        await page.screenshot(path=screenshots / "viewer-variant-picker-phone.png")
        assert await serious_violations(page) == []

        await pinned.get_by_role("button", name=BUY).click()
        await sign_up(page)
        await expect(pinned.locator(".lc-result")).to_have_text(ORDERED_M)
        await expect(pinned).to_contain_text("6 left")  # M's stock, live
        await page.screenshot(path=screenshots / "viewer-variant-ordered-phone.png")
        after = await stock(redis)
        assert after == {**before, "tee-m": before["tee-m"] - 1}  # no other sku moved

        orders = (await http.get(f"/api/orders?show={SHOW}", headers=KEY)).json()["items"]
        assert len(orders) == 1
        line = orders[0]["lines"][0]
        assert (line["sku"], line["product"], line["variant"]) == ("tee-m", "tee", {"Size": "M"})
        assert line["unit_price"] == 2700

        # Back to S, into the cart: the cart line names the size.
        await chips.nth(0).click()
        await expect(pinned.locator(".product-card__price")).to_have_text("€25.00")
        await pinned.get_by_role("button", name=re.compile("^Add ")).click()
        await expect(pinned.locator(".lc-result")).to_have_text("In your cart ✓ (1)")
        await page.get_by_role("button", name="Your cart, 1 item").click()
        cart = page.get_by_role("dialog", name="Your cart")
        await expect(cart.locator(".cart-line__title")).to_have_text("Trail tee — S")
        await cart.get_by_role("button", name="Close").click()

        # A plain product: no picker, one tap buys it.
        await pin(http, "nw-socks")
        await expect(pinned).to_contain_text("Hiking socks")
        await expect(pinned.locator(".variant-picker")).to_be_hidden()
        await pinned.get_by_role("button", name=BUY).click()
        await expect(pinned.locator(".lc-result")).to_have_text(ORDERED)
        await expect(pinned).to_contain_text("39 left")


async def test_a_product_with_one_variant_buys_with_one_tap_and_no_picker(
    browser: Browser, live: LiveServer, http: httpx.AsyncClient
) -> None:
    mug = {
        "sku": "mug",
        "brand": "northwind",
        "title": "Camp mug",
        "price": 1200,
        "currency": "EUR",
        "options": ["Colour"],
        "variants": [{"sku": "mug-green", "values": ["Green"]}],
    }
    await save_product(live.runtime.redis, Product.from_dict(mug))
    await show_control.add_to_lineup(live.runtime, SHOW, "mug-green", 3)
    _, ana_token = await buyer_token(http, "Ana")
    async with opened(browser, f"{live.url}/shows/{SHOW}#token={ana_token}") as page:
        await connected(page)
        await pin(http, "mug")
        pinned = card(page)
        await expect(pinned).to_contain_text("Camp mug")
        await expect(pinned.locator(".product-card__variant")).to_have_text("Green")
        await expect(pinned.locator(".variant-picker")).to_be_hidden()
        await pinned.get_by_role("button", name=BUY).click()
        await expect(pinned.locator(".lc-result")).to_have_text(
            re.compile(r"^Ordered ✓ #[0-9a-f]{8} · Green$")
        )
        await expect(pinned).to_contain_text("2 left")


async def test_the_studio_lists_variants_under_their_product_and_pins_the_product(
    browser: Browser, live: LiveServer, screenshots: Path
) -> None:
    studio = f"{live.url}/studio/{SHOW}#token={token('maya', 'streamer', SHOW)}"
    async with (
        opened(browser, studio, viewport=DESKTOP) as page,
        opened(browser, f"{live.url}/shows/{SHOW}") as watcher,
    ):
        await expect(page.locator("#show-title")).to_have_text(
            "Sunday trail gear drop", timeout=10_000
        )
        await connected(watcher)
        rows = page.locator("#lineup-panel tbody tr")
        titles = [re.sub(r"\s+", " ", t).strip() for t in await rows.all_inner_texts()]
        at = next(i for i, t in enumerate(titles) if t.startswith("Trail tee"))
        product = rows.nth(at)
        await expect(product).to_contain_text("from €25.00")
        await expect(product).to_contain_text("13 of 13")  # S 6 + M 7 + L 0
        sizes = page.locator("#lineup-panel tr.studio-variant")
        await expect(sizes).to_have_count(3)
        await expect(sizes.locator("th")).to_have_text(["S", "M", "L"])
        for i, size in enumerate(["S", "M", "L"]):  # right under their product
            await expect(rows.nth(at + 1 + i)).to_contain_text(size)
        await expect(sizes.nth(1)).to_contain_text("€27.00")
        await expect(sizes.nth(2).locator("td").nth(1)).to_have_text("0")  # L: sold out
        await expect(sizes.get_by_role("button")).to_have_count(0)  # pinned as a whole

        await product.get_by_role("button", name="Pin Trail tee").click()
        await expect(page.locator("#pin-result")).to_have_text("Pinned Trail tee ✓")
        chips = card(watcher).get_by_role("group", name="Size").get_by_role("button")
        await expect(chips).to_have_text(["S", "M", "L"])
        await page.screenshot(path=screenshots / "studio-variants-desktop.png")


async def test_with_two_options_a_tap_leads_to_a_variant_in_stock_never_a_sold_out_one(
    browser: Browser, live: LiveServer, http: httpx.AsyncClient, screenshots: Path
) -> None:
    cap = {
        "sku": "cap",
        "brand": "northwind",
        "title": "Trail cap",
        "price": 1500,
        "currency": "EUR",
        "options": ["Size", "Colour"],
        "variants": [
            {"sku": "cap-s-red", "values": ["S", "Red"]},
            {"sku": "cap-s-blue", "values": ["S", "Blue"], "price": 1600},
            {"sku": "cap-m-red", "values": ["M", "Red"], "price": 1700},
        ],
    }
    await save_product(live.runtime.redis, Product.from_dict(cap))
    for sku, units in (("cap-s-red", 1), ("cap-s-blue", 2), ("cap-m-red", 3)):
        await show_control.add_to_lineup(live.runtime, SHOW, sku, units)
    await show_control.adjust_stock(live.runtime, SHOW, "cap-s-red", -1)  # S / Red: sold out
    async with opened(browser, f"{live.url}/shows/{SHOW}") as page:
        await connected(page)
        await pin(http, "cap")
        pinned = card(page)
        size = pinned.get_by_role("group", name="Size").get_by_role("button")
        colour = pinned.get_by_role("group", name="Colour").get_by_role("button")
        await expect(size).to_have_text(["S", "M"])
        await expect(colour).to_have_text(["Red", "Blue"])
        # S / Red is sold out: the first variant in stock, S / Blue, is chosen.
        price = pinned.locator(".product-card__price")
        await expect(price).to_have_text("€16.00")
        await expect(pinned.locator("article")).to_have_attribute("data-chosen", "cap-s-blue")
        # Red with S would be sold out: shown so, but a tap on it leads to M / Red.
        await expect(colour.nth(0)).to_have_class(re.compile(r"\bis-sold-out\b"))
        await expect(colour.nth(0)).to_be_enabled()
        await colour.nth(0).click()
        await expect(pinned.locator("article")).to_have_attribute("data-chosen", "cap-m-red")
        await expect(size.nth(1)).to_have_attribute("aria-pressed", "true")
        await expect(price).to_have_text("€17.00")
        await expect(pinned).to_contain_text("3 left")
        # Blue exists only in S: a tap on it leads back to S / Blue.
        await colour.nth(1).click()
        await expect(pinned.locator("article")).to_have_attribute("data-chosen", "cap-s-blue")
        await expect(pinned).to_contain_text("2 left")
        await page.screenshot(path=screenshots / "viewer-variant-two-options-phone.png")
