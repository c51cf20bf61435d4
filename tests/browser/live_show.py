"""What the viewer and landing tests share: a live show with images, a page opened as a
person would (phone or desktop), signing up through the form, and the staff acting
through the HTTP API or a moderator's hub socket."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, expect

from livecart.commerce.accounts.creators import Creator, save_creator
from livecart.commerce.catalog.products import Brand, Product, save_brand, save_product
from livecart.commerce.shows.control import start_show
from livecart.commerce.shows.records import LineupEntry, NewShow, create_show
from livecart.runtime import Runtime
from tests.browser.conftest import PHONE
from tests.helpers import STRONG_ADMIN_KEY, bearer

SHOW = "s1"
KEY = {"X-API-Key": STRONG_ADMIN_KEY}


def streamer() -> dict[str, str]:
    """The show's streamer token, made when used: a token made at import would expire
    (600 s) before the tests at the end of a long run."""
    return bearer("maya", "streamer", SHOW)


# sku -> title, price (cents), units for the show
PRODUCTS = {
    "nw-beanie": ("Rib-knit beanie", 2400, 5),
    "nw-socks": ("Hiking socks, 3 pairs", 1900, 40),
    "nw-bottle": ("Insulated trail bottle", 2900, 1),
}
PROFILE = {
    "name": "Maya Berg",
    "email": "maya.berg@example.com",
    "line1": "Storgatan 1",
    "city": "Uppsala",
    "postal_code": "753 20",
    "country": "Sweden",
}


async def seed_live_show(runtime: Runtime, base_url: str, *, start: bool = True) -> None:
    """Show s1 by creator maya, three products whose image the node itself serves."""
    redis = runtime.redis
    await save_brand(redis, Brand(id="northwind", name="Northwind Outfitters"))
    await save_creator(redis, Creator(id="maya", name="Maya Lindqvist"))
    await save_creator(redis, Creator(id="leo", name="Leo Park"))
    for sku, (title, price, _) in PRODUCTS.items():
        await save_product(
            redis,
            Product(
                sku=sku,
                brand="northwind",
                title=title,
                price=price,
                currency="EUR",
                image_url=f"{base_url}/static/img/product.svg",
                commission_bps=1000,
            ),
        )
    await create_show(
        redis,
        runtime.scripts,
        NewShow(
            id=SHOW,
            title="Sunday trail gear drop",
            creator="maya",
            brand="northwind",
            lineup=tuple(LineupEntry(sku, units) for sku, (_, _, units) in PRODUCTS.items()),
        ),
        stream_max_events=runtime.settings.hub.stream_max_events,
    )
    if start:
        await start_show(runtime, SHOW)


@asynccontextmanager
async def opened(
    browser: Browser,
    url: str,
    *,
    viewport: dict[str, int] = PHONE,
    init_script: str | None = None,
) -> AsyncIterator[Page]:
    """A page in its own browser context (its own storage: another person). A script
    error on the page fails the test."""
    context = await browser.new_context(viewport=viewport, locale="en-US", timezone_id="UTC")
    if init_script:
        await context.add_init_script(init_script)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        await page.goto(url)
        yield page
    finally:
        await context.close()
    assert errors == [], errors


async def connected(page: Page) -> None:
    """The page has its hello: the show's title is on screen."""
    await expect(page.locator("#live-badge")).not_to_have_text("…", timeout=10_000)


def card(page: Page) -> Any:
    return page.locator("#pinned")


async def sign_up(page: Page, **fields: str) -> None:
    """Fill the sign-up form that a tap opened and send it."""
    values = {**PROFILE, **fields}
    dialog = page.get_by_role("dialog", name="Sign up to buy")
    await expect(dialog).to_be_visible()
    await dialog.get_by_label("Full name").fill(values["name"])
    await dialog.get_by_label("Email").fill(values["email"])
    await dialog.get_by_label("Address", exact=True).fill(values["line1"])
    await dialog.get_by_label("City").fill(values["city"])
    await dialog.get_by_label("Postal code").fill(values["postal_code"])
    if values["country"]:
        await dialog.get_by_label("Country").select_option(label=values["country"])
    else:
        await dialog.get_by_label("Country").select_option(value="")
    await dialog.get_by_role("button", name="Continue").click()


async def pin(http: httpx.AsyncClient, sku: str) -> None:
    response = await http.put(f"/api/shows/{SHOW}/pin", headers=streamer(), json={"sku": sku})
    assert response.status_code == 200, response.text


async def buyer_token(http: httpx.AsyncClient, name: str) -> tuple[str, str]:
    """A buyer made through the API: (id, token)."""
    body = {
        "name": name,
        "email": f"{name.lower().replace(' ', '.')}@example.com",
        "address": {"line1": "Main St 1", "city": "Oslo", "postal_code": "0150", "country": "NO"},
    }
    response = await http.post("/api/buyers", json=body)
    assert response.status_code == 201, response.text
    made = response.json()
    return made["buyer"]["id"], made["token"]


async def serious_violations(page: Page, exclude: Sequence[str] = ()) -> list[str]:
    """axe-core's critical and serious findings on the page as it is now."""
    results = await Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
        if v["impact"] in ("critical", "serious") and v["id"] not in exclude
    ]
