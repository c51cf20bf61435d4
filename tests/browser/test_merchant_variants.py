"""Products with variants in the merchant console (/merchant), driven in a real Chromium
as a merchant would: name an option and its values, make every combination, price one
size apart, see the product listed with its variants, then give a show units of each
size and restock one. Every refusal is read on the screen, on the input it is about."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, expect
from redis.asyncio import Redis

from livecart.store import keys
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.test_merchant import KEY, result_of, serious_violations, sign_in, viewport
from tests.helpers import LiveServer

pytestmark = pytest.mark.browser

# The console writes a span of prices with an en dash between them.
EN_DASH = "\u2013"


@pytest.fixture
async def http(server: LiveServer, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture
async def page(browser: Browser, server: LiveServer) -> AsyncIterator[Page]:
    """The console at desktop size. A script error on the page fails the test."""
    context = await browser.new_context(viewport=viewport(DESKTOP))
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    await opened.goto(f"{server.url}/merchant")
    yield opened
    await context.close()
    assert errors == []


async def seed_brand_and_creator(http: httpx.AsyncClient) -> None:
    for path, body in (
        ("/api/brands", {"id": "northwind", "name": "Northwind Outfitters"}),
        ("/api/creators", {"id": "maya", "name": "Maya Lindqvist"}),
    ):
        response = await http.post(path, json=body, headers=KEY)
        assert response.status_code == 201, response.text


async def seed_tee(http: httpx.AsyncClient) -> None:
    """A tee in two sizes, the M priced apart, made over HTTP."""
    tee = {
        "sku": "nw-tee",
        "brand": "northwind",
        "title": "Logo tee",
        "price": 2500,
        "currency": "EUR",
        "options": ["Size"],
        "variants": [
            {"sku": "nw-tee-s", "values": ["S"]},
            {"sku": "nw-tee-m", "values": ["M"], "price": 2700},
        ],
    }
    response = await http.post("/api/products", json=tee, headers=KEY)
    assert response.status_code == 201, response.text


def variant_rows(dialog: Locator) -> Locator:
    return dialog.locator("#variants-body tr[data-variant]")


async def test_a_product_in_two_sizes_is_made_listed_and_given_units_per_size_in_a_show(
    page: Page, http: httpx.AsyncClient, redis: Redis, screenshots: Path
) -> None:
    await seed_brand_and_creator(http)
    await sign_in(page)
    await page.get_by_role("button", name="New product").click()
    dialog = page.locator("#product-dialog")
    await dialog.get_by_label("SKU", exact=True).fill("nw-tee")
    await dialog.get_by_label("Title").fill("Logo tee")
    await dialog.get_by_label("Price", exact=True).fill("25")
    await dialog.get_by_label("Currency").fill("EUR")
    # No option named: the product is sold as one item and there is no variants table.
    await expect(dialog.locator("#variants-area")).to_be_hidden()

    await dialog.get_by_label("Option 1", exact=True).fill("Size")
    await expect(dialog.locator("#variants-head")).to_contain_text("Size")
    # Asked to combine values before any is written: refused on the values' input.
    await dialog.get_by_role("button", name="Make every combination").click()
    values = dialog.get_by_label("Option 1 values, comma-separated")
    await expect(result_of(dialog)).to_have_text("Write the values of Size, separated by commas")
    await expect(values).to_have_attribute("aria-invalid", "true")

    await values.fill("S, M")
    await dialog.get_by_role("button", name="Make every combination").click()
    await expect(result_of(dialog)).to_have_text("2 variants made. Save the product to keep them.")
    rows = variant_rows(dialog)
    await expect(rows).to_have_count(2)
    await expect(dialog.get_by_label("SKU, variant 1")).to_have_value("nw-tee-s")
    await expect(dialog.get_by_label("Size, variant 2")).to_have_value("M")

    # A variant SKU the server refuses is marked on that variant's input, nothing saved.
    await dialog.get_by_label("SKU, variant 2").fill("nw tee m")
    await dialog.get_by_label("Price, variant 2").fill("27")
    await dialog.get_by_role("button", name="Save product").click()
    await expect(result_of(dialog)).to_contain_text("'nw tee m' is not a valid id")
    await expect(dialog.get_by_label("SKU, variant 2")).to_have_attribute("aria-invalid", "true")
    await expect(dialog.get_by_label("SKU, variant 1")).not_to_have_attribute(
        "aria-invalid", "true"
    )
    assert await redis.get(keys.product("nw-tee")) is None

    await dialog.get_by_label("SKU, variant 2").fill("nw-tee-m")
    await dialog.get_by_role("button", name="Save product").click()
    await expect(result_of(dialog)).to_have_text(
        f"Saved nw-tee at €25.00{EN_DASH}€27.00, in 2 variants."
    )
    stored = (await http.get("/api/products/nw-tee", headers=KEY)).json()
    assert stored["options"] == ["Size"]
    assert [(v["sku"], v["values"], v["price"]) for v in stored["variants"]] == [
        ("nw-tee-s", ["S"], None),
        ("nw-tee-m", ["M"], 2700),
    ]
    assert await serious_violations(page) == [], "product dialog with variants"
    await dialog.locator("#variants-area").scroll_into_view_if_needed()
    await page.screenshot(path=screenshots / "merchant-variants-editor-desktop.png")
    await dialog.get_by_role("button", name="Close").click()

    listed = page.locator("#products-body tr", has_text="nw-tee")
    await expect(listed).to_contain_text("2 variants")
    await expect(listed).to_contain_text(f"€25.00{EN_DASH}€27.00")

    # A show gets units of each size: the lineup offers the sizes, not the product.
    await page.get_by_role("link", name="Shows").click()
    form = page.locator("#show-form")
    await form.get_by_label("Show id").fill("tees")
    await form.get_by_label("Title").fill("Tee drop")
    await form.get_by_label("Creator").select_option("maya")
    first = form.get_by_label("Product 1")
    await expect(first).to_have_value("nw-tee-s")
    offered = await first.locator("option").evaluate_all("(os) => os.map((o) => o.value)")
    assert offered == ["nw-tee-s", "nw-tee-m"]
    await expect(first.locator("optgroup")).to_have_attribute("label", "Logo tee (nw-tee)")
    await form.locator("#lineup-qty-0").fill("12")
    await form.get_by_role("button", name="Add a product").click()
    # The new line starts on the size no other line has.
    await expect(form.get_by_label("Product 2")).to_have_value("nw-tee-m")
    await form.locator("#lineup-qty-1").fill("5")
    await form.get_by_role("button", name="Create show").click()
    await expect(result_of(form)).to_contain_text(
        "Show tees is scheduled with 2 products (17 units)"
    )
    stock = (await http.get("/api/shows/tees/stock", headers=KEY)).json()["stock"]
    assert {s["sku"]: s["allocated"] for s in stock} == {"nw-tee-s": 12, "nw-tee-m": 5}

    await (
        page.locator("#shows-body tr", has_text="tees").get_by_role("button", name="Stock").click()
    )
    stock_dialog = page.locator("#stock-dialog")
    medium = stock_dialog.locator("#stock-body tr", has_text="nw-tee-m")
    await expect(medium).to_contain_text("Logo tee · M")
    restock = stock_dialog.locator("#restock-form")
    await restock.get_by_label("Product").select_option("nw-tee-m")
    await restock.get_by_label("Units to add (negative to withdraw)").fill("3")
    await restock.get_by_role("button", name="Change stock").click()
    await expect(result_of(restock)).to_have_text("nw-tee-m: 8 available of 8 allocated.")
    await expect(medium.locator("td").nth(3)).to_have_text("8")
    await expect(
        stock_dialog.locator("#stock-body tr", has_text="nw-tee-s").locator("td").nth(3)
    ).to_have_text("12")
    assert await serious_violations(page) == [], "stock dialog with variants"
    await page.screenshot(path=screenshots / "merchant-variants-stock-desktop.png")


async def test_editing_a_product_keeps_its_variants_and_every_combination_adds_the_new_ones(
    browser: Browser, server: LiveServer, http: httpx.AsyncClient, screenshots: Path
) -> None:
    await seed_brand_and_creator(http)
    await seed_tee(http)
    for name, size in (("desktop", DESKTOP), ("phone", PHONE)):
        context = await browser.new_context(viewport=viewport(size))
        page = await context.new_page()
        await page.goto(f"{server.url}/merchant")
        await sign_in(page)
        row = page.locator("#products-body tr", has_text="nw-tee")
        await row.get_by_role("button", name="Edit").click()
        dialog = page.locator("#product-dialog")
        await expect(dialog.get_by_label("Option 1", exact=True)).to_have_value("Size")
        await expect(dialog.get_by_label("Option 1 values, comma-separated")).to_have_value("S, M")
        await expect(variant_rows(dialog)).to_have_count(2)
        await expect(dialog.get_by_label("Price, variant 2")).to_have_value("27.00")
        assert await serious_violations(page) == [], f"product editor, {name}"
        assert await page.evaluate("document.documentElement.scrollWidth") <= size["width"]
        # The variants table scrolls in its own box; the dialog never scrolls sideways.
        assert await dialog.evaluate("(d) => d.scrollWidth <= d.clientWidth"), name
        await dialog.locator("#variants-area").scroll_into_view_if_needed()
        await page.screenshot(path=screenshots / f"merchant-variants-{name}.png")
        await context.close()

    context = await browser.new_context(viewport=viewport(DESKTOP))
    page = await context.new_page()
    await page.goto(f"{server.url}/merchant")
    await sign_in(page)
    await (
        page.locator("#products-body tr", has_text="nw-tee")
        .get_by_role("button", name="Edit")
        .click()
    )
    dialog = page.locator("#product-dialog")
    await dialog.get_by_label("Option 2", exact=True).fill("Colour")
    await dialog.get_by_label("Option 1 values, comma-separated").fill("S, M, L")
    await dialog.get_by_label("Option 2 values, comma-separated").fill("Red, Blue")
    await dialog.get_by_role("button", name="Make every combination").click()
    await expect(result_of(dialog)).to_have_text("6 variants made. Save the product to keep them.")
    await expect(variant_rows(dialog)).to_have_count(6)
    await expect(dialog.get_by_label("SKU, variant 6")).to_have_value("nw-tee-l-blue")
    # One of them is dropped before saving.
    await dialog.get_by_role("button", name="Remove variant 6").click()
    await expect(variant_rows(dialog)).to_have_count(5)
    await dialog.get_by_role("button", name="Save product").click()
    await expect(result_of(dialog)).to_have_text("Saved nw-tee at €25.00, in 5 variants.")
    stored = (await http.get("/api/products/nw-tee", headers=KEY)).json()
    assert stored["options"] == ["Size", "Colour"]
    assert [v["values"] for v in stored["variants"]] == [
        ["S", "Red"],
        ["S", "Blue"],
        ["M", "Red"],
        ["M", "Blue"],
        ["L", "Red"],
    ]
    await dialog.get_by_role("button", name="Close").click()
    await expect(page.locator("#products-body tr", has_text="nw-tee")).to_contain_text("5 variants")

    # Clearing the options sells it as one item again.
    await (
        page.locator("#products-body tr", has_text="nw-tee")
        .get_by_role("button", name="Edit")
        .click()
    )
    await dialog.get_by_label("Option 1", exact=True).fill("")
    await dialog.get_by_label("Option 2", exact=True).fill("")
    await expect(dialog.locator("#variants-area")).to_be_hidden()
    await dialog.get_by_role("button", name="Save product").click()
    await expect(result_of(dialog)).to_have_text("Saved nw-tee at €25.00.")
    stored = (await http.get("/api/products/nw-tee", headers=KEY)).json()
    # A product without variants may leave both lists out: absent means empty.
    assert stored.get("options", []) == [] and stored.get("variants", []) == []
    await context.close()
