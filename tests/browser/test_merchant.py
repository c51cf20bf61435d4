"""The merchant console (/merchant) driven as a merchant would in a real Chromium: paste
the key, build the catalog, import a CSV, create a show, find an order bought over the
HTTP API, set a webhook endpoint and send a dead letter again, make staff links. Every
refusal is read on the screen, in words, on the field it names."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from axe_playwright_python.async_playwright import Axe  # type: ignore[import-untyped]
from playwright.async_api import Browser, FilePayload, Locator, Page, ViewportSize, expect
from redis.asyncio import Redis

from livecart.auth.tokens import verify_token
from livecart.config import Settings
from livecart.store import keys
from tests.api.test_catalog_api import store_snapshot
from tests.browser.conftest import DESKTOP, PHONE
from tests.commerce.order_fixtures import FAST_WEBHOOKS, Receiver, serving
from tests.helpers import STRONG_ADMIN_KEY, STRONG_SECRET, LiveServer

pytestmark = pytest.mark.browser

KEY = {"X-API-Key": STRONG_ADMIN_KEY}
BUYER_PROFILE = {
    "name": "Ana Berg",
    "email": "ana@example.com",
    "address": {
        "line1": "Storgatan 1",
        "city": "Uppsala",
        "postal_code": "753 20",
        "country": "SE",
    },
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Webhooks that retry fast, so a dead letter is made within the test."""
    return settings.with_overrides(FAST_WEBHOOKS)


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


async def sign_in(page: Page) -> None:
    await page.get_by_label("API key", exact=True).fill(STRONG_ADMIN_KEY)
    await page.get_by_role("button", name="Open the console").click()
    await expect(page.get_by_role("navigation", name="Console sections")).to_be_visible()


async def seed_shop(http: httpx.AsyncClient) -> None:
    """A brand with two products, a creator, and the live show `drop` selling both."""
    calls: list[tuple[str, dict[str, Any]]] = [
        ("/api/brands", {"id": "northwind", "name": "Northwind Outfitters"}),
        (
            "/api/products",
            {
                "sku": "nw-beanie",
                "brand": "northwind",
                "title": "Rib-knit beanie",
                "price": 2400,
                "currency": "EUR",
                "commission_bps": 800,
            },
        ),
        (
            "/api/products",
            {
                "sku": "nw-socks",
                "brand": "northwind",
                "title": "Hiking socks",
                "price": 1900,
                "currency": "EUR",
            },
        ),
        ("/api/creators", {"id": "maya", "name": "Maya Lindqvist"}),
        (
            "/api/shows",
            {
                "id": "drop",
                "title": "Sunday drop",
                "creator": "maya",
                "brand": "northwind",
                "lineup": [
                    {"sku": "nw-beanie", "quantity": 20},
                    {"sku": "nw-socks", "quantity": 9},
                ],
            },
        ),
    ]
    for path, body in calls:
        response = await http.post(path, json=body, headers=KEY)
        assert response.status_code == 201, response.text
    assert (await http.post("/api/shows/drop/start", headers=KEY)).status_code == 200


async def buy(http: httpx.AsyncClient, token: str, key: str, sku: str = "nw-beanie") -> str:
    response = await http.post(
        "/api/shows/drop/buy",
        json={"sku": sku, "quantity": 1, "idempotency_key": key},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.text
    order_id: str = response.json()["order"]["id"]
    return order_id


async def sign_up_buyer(http: httpx.AsyncClient) -> str:
    response = await http.post("/api/buyers", json=BUYER_PROFILE)
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def viewport(size: dict[str, int]) -> ViewportSize:
    return {"width": size["width"], "height": size["height"]}


def result_of(scope: Any) -> Any:
    return scope.locator(".lc-result").first


async def serious_violations(page: Page) -> list[str]:
    results = await Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
        if v["impact"] in ("critical", "serious")
    ]


# --- the key ----------------------------------------------------------------------------


async def test_a_wrong_api_key_is_refused_in_words_and_the_right_one_opens_the_console(
    page: Page, redis: Redis
) -> None:
    before = await store_snapshot(redis)
    key_input = page.get_by_label("API key", exact=True)
    await key_input.fill("not-the-key-at-all")
    await page.get_by_role("button", name="Open the console").click()
    gate = page.locator("#key-form")
    await expect(result_of(gate)).to_have_text("That API key isn't right")
    await expect(key_input).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#console")).to_be_hidden()
    assert await store_snapshot(redis) == before

    await sign_in(page)
    await expect(page.get_by_role("link", name="Catalog")).to_have_attribute("aria-current", "page")
    # The key is kept for this tab only: sessionStorage, never localStorage.
    kept = await page.evaluate("sessionStorage.getItem('livecart.merchant.api_key')")
    assert kept == STRONG_ADMIN_KEY
    assert await page.evaluate("localStorage.length") == 0
    await page.reload()
    await expect(page.get_by_role("navigation", name="Console sections")).to_be_visible()

    await page.get_by_role("button", name="Forget the key").click()
    await expect(page.locator("#key-gate")).to_be_visible()
    assert await page.evaluate("sessionStorage.getItem('livecart.merchant.api_key')") is None


# --- catalog ----------------------------------------------------------------------------


async def test_a_brand_and_products_are_created_and_edited_and_a_bad_field_is_marked(
    page: Page, http: httpx.AsyncClient, redis: Redis
) -> None:
    await sign_in(page)
    brand_form = page.locator("#brand-form")
    await brand_form.get_by_label("Brand id").fill("north wind")
    await brand_form.get_by_label("Name").fill("Northwind Outfitters")
    await brand_form.get_by_role("button", name="Create brand").click()
    await expect(result_of(brand_form)).to_contain_text("'north wind' is not a valid id")
    await expect(brand_form.get_by_label("Brand id")).to_have_attribute("aria-invalid", "true")
    assert await redis.zcard(keys.brands_index()) == 0

    await brand_form.get_by_label("Brand id").fill("northwind")
    await brand_form.get_by_role("button", name="Create brand").click()
    await expect(result_of(brand_form)).to_have_text("Brand northwind created.")
    await expect(brand_form.get_by_label("Brand id")).not_to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#brands-body")).to_contain_text("Northwind Outfitters")

    await page.get_by_role("button", name="New product").click()
    dialog = page.locator("#product-dialog")
    await expect(dialog).to_be_visible()
    await dialog.get_by_label("SKU").fill("nw-beanie")
    await dialog.get_by_label("Title").fill("Rib-knit beanie")
    await dialog.get_by_label("Price").fill("24.001")
    await dialog.get_by_label("Currency").fill("eur")
    await dialog.get_by_label("Creator commission (%)").fill("8.5")
    await dialog.get_by_label("Most units per buyer").fill("5")
    await dialog.get_by_role("button", name="Save product").click()
    await expect(result_of(dialog)).to_have_text("EUR has at most 2 decimal places")
    await expect(dialog.get_by_label("Price")).to_have_attribute("aria-invalid", "true")

    # A refusal only the server can find (a URL that is not http) lands on its field too.
    await dialog.get_by_label("Price").fill("24")
    await dialog.get_by_label("Image URL").fill("ftp://images.example.com/beanie.jpg")
    await dialog.get_by_role("button", name="Save product").click()
    await expect(result_of(dialog)).to_contain_text("Image_url must")
    await expect(dialog.get_by_label("Image URL")).to_have_attribute("aria-invalid", "true")
    assert await redis.get(keys.product("nw-beanie")) is None

    await dialog.get_by_label("Image URL").fill("")
    await dialog.get_by_role("button", name="Save product").click()
    await expect(result_of(dialog)).to_have_text("Saved nw-beanie at €24.00.")
    stored = (await http.get("/api/products/nw-beanie", headers=KEY)).json()
    assert stored["price"] == 2400 and stored["currency"] == "EUR"
    assert stored["commission_bps"] == 850 and stored["per_user_limit"] == 5
    await dialog.get_by_role("button", name="Close").click()
    row = page.locator("#products-body tr", has_text="nw-beanie")
    await expect(row).to_contain_text("€24.00")
    await expect(row).to_contain_text("8.5 %")

    await row.get_by_role("button", name="Edit").click()
    await expect(dialog.get_by_label("Price")).to_have_value("24.00")
    await expect(dialog.get_by_label("SKU")).to_have_attribute("readonly", "")
    await dialog.get_by_label("Title").fill("Merino beanie")
    await dialog.get_by_label("Price").fill("26.50")
    await dialog.get_by_role("button", name="Save product").click()
    await expect(result_of(dialog)).to_have_text("Saved nw-beanie at €26.50.")
    await dialog.get_by_role("button", name="Close").click()
    await expect(row).to_contain_text("Merino beanie")
    stored = (await http.get("/api/products/nw-beanie", headers=KEY)).json()
    assert stored["title"] == "Merino beanie" and stored["price"] == 2650

    await (
        page.locator("#brands-body tr", has_text="northwind")
        .get_by_role("button", name="Rename")
        .click()
    )
    rename = page.locator("#brand-dialog")
    await rename.get_by_label("Name").fill("Northwind Co.")
    await rename.get_by_role("button", name="Save name").click()
    await expect(result_of(rename)).to_contain_text("Renamed.")
    assert (await http.get("/api/brands/northwind", headers=KEY)).json()["name"] == "Northwind Co."


async def test_a_brands_shipping_is_set_in_its_currency_and_a_bad_amount_is_marked(
    page: Page, http: httpx.AsyncClient, redis: Redis, screenshots: Path
) -> None:
    await seed_shop(http)
    await sign_in(page)
    await (
        page.locator("#brands-body tr", has_text="northwind")
        .get_by_role("button", name="Shipping")
        .click()
    )
    dialog = page.locator("#shipping-dialog")
    await expect(dialog.get_by_label("Fee per order (EUR)")).to_have_value("0.00")
    await dialog.get_by_label("Fee per order").fill("4.999")
    await dialog.get_by_role("button", name="Save shipping").click()
    await expect(result_of(dialog)).to_have_text("EUR has at most 2 decimal places")
    await expect(dialog.get_by_label("Fee per order")).to_have_attribute("aria-invalid", "true")
    assert await redis.get(keys.brand_shipping("northwind")) is None

    await dialog.get_by_label("Fee per order").fill("4.90")
    await dialog.get_by_label("Free when the items come to").fill("50")
    await dialog.get_by_role("button", name="Save shipping").click()
    await expect(result_of(dialog)).to_have_text(
        "Saved: shipping €4.90 per order, free from €50.00."
    )
    stored = (await http.get("/api/brands/northwind/shipping", headers=KEY)).json()
    assert (stored["flat"], stored["free_over"]) == (490, 5000)
    assert await serious_violations(page) == []
    await page.screenshot(path=screenshots / "merchant-shipping-desktop.png")


async def test_a_csv_import_shows_the_rejected_row_with_its_reason(
    page: Page, http: httpx.AsyncClient
) -> None:
    await http.post("/api/brands", json={"id": "northwind", "name": "Northwind"}, headers=KEY)
    await sign_in(page)
    csv = (
        "sku,brand,title,price,currency,commission_bps\n"
        "nw-cap,northwind,Trail cap,1500,EUR,500\n"
        'nw-mitts,northwind,"Mitts, wool",12.50,EUR,0\n'
        "nw-lamp,northwind,Headlamp,3400,EUR,700\n"
    )
    form = page.locator("#import-form")
    await form.get_by_label("CSV or JSON file").set_input_files(
        files=[FilePayload(name="catalog.csv", mimeType="text/csv", buffer=csv.encode())]
    )
    await form.get_by_role("button", name="Import").click()
    await expect(result_of(form)).to_have_text(
        "2 products imported; 1 row was not imported (below)."
    )
    rejected = page.locator("#import-rejected-body tr")
    await expect(rejected).to_have_count(1)
    cells = await rejected.first.locator("td").all_inner_texts()
    assert cells == ["3", "nw-mitts", "price", "price must be a whole number"]
    await expect(page.locator("#products-body")).to_contain_text("Trail cap")
    await expect(page.locator("#products-body")).to_contain_text("Headlamp")
    assert (await http.get("/api/products/nw-mitts", headers=KEY)).status_code == 404

    # A file that cannot be read at all is refused whole, in words, and imports nothing.
    await form.get_by_label("CSV or JSON file").set_input_files(
        files=[FilePayload(name="bad.csv", mimeType="text/csv", buffer=b'sku,"brand\nx,y\n')]
    )
    await form.get_by_role("button", name="Import").click()
    await expect(result_of(form)).to_have_attribute("data-kind", "refused")
    await expect(result_of(form)).to_contain_text("The CSV file is malformed at line")
    await expect(form.get_by_label("CSV or JSON file")).to_have_attribute("aria-invalid", "true")
    listed = (await http.get("/api/products", params={"brand": "northwind"}, headers=KEY)).json()
    assert [p["sku"] for p in listed["items"]] == ["nw-cap", "nw-lamp"]


# --- shows ------------------------------------------------------------------------------


async def test_a_show_is_created_with_a_lineup_and_a_bad_line_is_marked(
    page: Page, http: httpx.AsyncClient, redis: Redis
) -> None:
    await seed_shop(http)
    await sign_in(page)
    await page.get_by_role("link", name="Shows").click()
    form = page.locator("#show-form")
    await expect(form.get_by_label("Product 1")).to_be_visible()
    await form.get_by_label("Show id").fill("autumn")
    await form.get_by_label("Title").fill("Autumn layers")
    await form.get_by_label("Brand").select_option("northwind")
    await form.get_by_label("Creator").select_option("maya")
    await form.get_by_label("Scheduled for").fill("2031-10-05T18:30")
    await form.get_by_label("Product 1").select_option("nw-beanie")
    await form.get_by_label("Units").first.fill("30")
    await form.get_by_role("button", name="Add a product").click()
    await form.get_by_label("Product 2").select_option("nw-beanie")
    await form.get_by_label("Units").nth(1).fill("5")
    before = await store_snapshot(redis)
    await form.get_by_label("Show id").fill("drop")
    await form.get_by_role("button", name="Create show").click()
    await expect(result_of(form)).to_have_text(
        "A show with the id drop exists already. Choose another id"
    )
    await expect(form.get_by_label("Show id")).to_have_attribute("aria-invalid", "true")
    await form.get_by_label("Show id").fill("autumn")
    await form.get_by_role("button", name="Create show").click()
    await expect(result_of(form)).to_contain_text("'nw-beanie' is in the lineup twice")
    await expect(form.get_by_label("Product 2")).to_have_attribute("aria-invalid", "true")
    assert await store_snapshot(redis) == before

    await form.get_by_label("Product 2").select_option("nw-socks")
    await form.get_by_role("button", name="Create show").click()
    await expect(result_of(form)).to_have_text(
        "Show autumn is scheduled with 2 products (35 units). Open its studio or make staff "
        "links from the list above."
    )
    snapshot = (await http.get("/api/shows/autumn")).json()
    assert [(p["sku"], p["allocated"]) for p in snapshot["lineup"]] == [
        ("nw-beanie", 30),
        ("nw-socks", 5),
    ]
    assert snapshot["creator"] == "maya" and snapshot["scheduled_at_ms"] is not None
    row = page.locator("#shows-body tr", has_text="autumn")
    await expect(row).to_contain_text("Scheduled")
    await expect(row).to_contain_text("2031")

    await row.get_by_role("button", name="Stock").click()
    stock = page.locator("#stock-dialog")
    await expect(stock.locator("#stock-body tr")).to_have_count(2)
    await stock.get_by_label("Units to add (negative to withdraw)").fill("-50")
    await stock.get_by_role("button", name="Change stock").click()
    await expect(stock.locator("#restock-form .lc-result")).to_contain_text(
        "There isn't enough stock for that ("
    )
    assert (await http.get("/api/shows/autumn/stock", headers=KEY)).json()["stock"][0] == {
        "sku": "nw-beanie",
        "allocated": 30,
        "stock": 30,
        "held": 0,
        "sold": 0,
    }
    await stock.get_by_label("Units to add (negative to withdraw)").fill("10")
    await stock.get_by_role("button", name="Change stock").click()
    await expect(stock.locator("#restock-form .lc-result")).to_have_text(
        "nw-beanie: 40 available of 40 allocated."
    )
    await expect(stock.locator("#stock-body tr", has_text="nw-beanie")).to_contain_text("40")


async def test_staff_links_carry_a_token_for_the_show_in_the_fragment(
    page: Page, http: httpx.AsyncClient, server: LiveServer
) -> None:
    await seed_shop(http)
    await sign_in(page)
    await page.get_by_role("link", name="Shows").click()
    await (
        page.locator("#shows-body tr", has_text="drop")
        .get_by_role("button", name="Staff links")
        .click()
    )
    dialog = page.locator("#staff-dialog")
    await dialog.get_by_role("button", name="Make link").click()
    await expect(result_of(dialog)).to_have_text("Write the user id of the person the link is for")
    await expect(dialog.get_by_label("Their user id")).to_have_attribute("aria-invalid", "true")

    links: dict[str, str] = {}
    for role, label, sub in (
        ("moderator", "A moderator", "sam"),
        ("streamer", "The streamer", "maya"),
    ):
        await dialog.get_by_label(label).check()
        await dialog.get_by_label("Their user id").fill(sub)
        await dialog.get_by_role("button", name="Make link").click()
        await expect(result_of(dialog)).to_contain_text(f"link made for {sub}")
        links[role] = await dialog.locator("#staff-links input").first.input_value()
    for role, page_name, sub in (("moderator", "moderate", "sam"), ("streamer", "studio", "maya")):
        url = links[role]
        prefix = f"{server.url}/{page_name}/drop#token="
        assert url.startswith(prefix) and "?" not in url
        claims = verify_token(STRONG_SECRET, url.removeprefix(prefix))
        assert (claims.sub, claims.role.value, claims.show) == (sub, role, "drop")

    # "Studio" opens the show's studio in a new tab, signed in as the merchant.
    await dialog.get_by_role("button", name="Close").click()
    drop_row = page.locator("#shows-body tr", has_text="drop")
    async with page.expect_popup() as opened:
        await drop_row.get_by_role("button", name="Studio").click()
    studio = await opened.value
    await studio.wait_for_url(lambda url: url.startswith(f"{server.url}/studio/drop"))
    await expect(page.locator("#shows-result")).to_have_text(
        "The studio of drop opened in a new tab."
    )
    # The studio page moves the fragment's token into its tab's storage once it runs.
    fragment = studio.url.partition("#token=")[2]
    kept = await studio.evaluate("sessionStorage.getItem('livecart.tab.token:/studio/drop')")
    claims = verify_token(STRONG_SECRET, fragment or kept)
    assert (claims.sub, claims.role.value, claims.show) == ("merchant", "streamer", "drop")


# --- orders -----------------------------------------------------------------------------


async def test_an_order_bought_over_http_is_listed_and_opens_with_the_buyer_and_address(
    page: Page, http: httpx.AsyncClient
) -> None:
    await seed_shop(http)
    token = await sign_up_buyer(http)
    order_id = await buy(http, token, "tap-1")
    await sign_in(page)
    await page.get_by_role("link", name="Orders").click()
    form = page.locator("#orders-filter")
    await form.get_by_label("Show").select_option("drop")
    await form.get_by_role("button", name="Show orders").click()
    row = page.locator("#orders-body tr", has_text=order_id)
    await expect(row).to_contain_text("Ana Berg")
    await expect(row).to_contain_text("1 \u00d7 Rib-knit beanie")
    await expect(row).to_contain_text("€24.00")

    await row.get_by_role("button", name="Open").click()
    dialog = page.locator("#order-dialog")
    await expect(dialog.get_by_role("heading", name=f"Order {order_id}")).to_be_visible()
    await expect(dialog).to_contain_text("ana@example.com")
    address = dialog.locator("address")
    await expect(address).to_have_text("Ana BergStorgatan 1753 20 UppsalaSweden")
    await expect(dialog).to_contain_text("€1.92 to maya, through the show")

    # Through the Shows section's Orders button too, with the filter already set.
    await dialog.get_by_role("button", name="Close").click()
    await page.get_by_role("link", name="Shows").click()
    await (
        page.locator("#shows-body tr", has_text="drop").get_by_role("button", name="Orders").click()
    )
    await expect(page.get_by_label("Show", exact=True)).to_have_value("drop")
    await expect(page.locator("#orders-body tr", has_text=order_id)).to_be_visible()


async def projected_order(http: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    """The order once its cross-show copy exists: the lifecycle moves find it there."""
    for _ in range(500):
        response = await http.get(f"/api/orders/{order_id}", headers=KEY)
        if response.status_code == 200:
            order: dict[str, Any] = response.json()
            return order
        await asyncio.sleep(0.02)
    raise AssertionError(f"order {order_id} was never projected")


async def open_order(page: Page, order_id: str) -> Locator:
    """Sign in, list the show `drop`'s orders and open `order_id`; the dialog."""
    await sign_in(page)
    await page.get_by_role("link", name="Orders").click()
    form = page.locator("#orders-filter")
    await form.get_by_label("Show").select_option("drop")
    await form.get_by_role("button", name="Show orders").click()
    row = page.locator("#orders-body tr", has_text=order_id)
    await expect(row).to_contain_text("Confirmed")
    await row.get_by_role("button", name="Open").click()
    dialog = page.locator("#order-dialog")
    await expect(dialog.get_by_role("heading", name="History")).to_be_visible()
    return dialog


async def test_an_order_is_fulfilled_with_tracking_from_the_console_then_delivered(
    page: Page, http: httpx.AsyncClient, screenshots: Path
) -> None:
    await seed_shop(http)
    token = await sign_up_buyer(http)
    order_id = await buy(http, token, "tap-ship")
    await projected_order(http, order_id)
    dialog = await open_order(page, order_id)

    fulfil = dialog.locator("form", has=page.get_by_role("heading", name="Fulfil"))
    await fulfil.get_by_role("button", name="Fulfil order").click()
    await expect(fulfil.get_by_label("Carrier")).to_have_attribute("aria-invalid", "true")
    await fulfil.get_by_label("Carrier").fill("PostNord")
    await fulfil.get_by_label("Tracking number").fill("00370712345")
    await fulfil.get_by_label("Tracking URL (optional)").fill(
        "https://tracking.example/00370712345"
    )
    await fulfil.get_by_role("button", name="Fulfil order").click()

    await expect(result_of(dialog)).to_have_text("Fulfilled: the order is on its way.")
    await expect(dialog.locator(".mc-facts").first).to_contain_text("Fulfilled")
    link = dialog.get_by_role("link", name="00370712345")
    await expect(link).to_have_attribute("href", "https://tracking.example/00370712345")
    await expect(dialog).to_contain_text("PostNord")
    await expect(dialog.locator(".mc-history tbody tr")).to_have_count(2)
    await expect(dialog.locator(".mc-history")).to_contain_text("Confirmed → Fulfilled")
    await expect(dialog.get_by_role("button", name="Cancel order…")).to_have_count(0)
    row = page.locator("#orders-body tr", has_text=order_id)
    await expect(row).to_contain_text("Fulfilled")
    assert await serious_violations(page) == [], "fulfilled order dialog"
    await link.scroll_into_view_if_needed()
    await page.screenshot(path=screenshots / "merchant-order-fulfilled-desktop.png")

    await dialog.get_by_role("button", name="Mark delivered").click()
    await expect(dialog.locator(".mc-facts").first).to_contain_text("Delivered")
    await expect(row).to_contain_text("Delivered")
    order = (await http.get("/api/orders?show=drop", headers=KEY)).json()["items"][0]
    assert order["status"] == "delivered"
    assert order["fulfilment"]["tracking_number"] == "00370712345"


async def test_an_order_is_cancelled_after_the_confirm_step_and_reads_cancelled(
    page: Page, http: httpx.AsyncClient
) -> None:
    await seed_shop(http)
    token = await sign_up_buyer(http)
    order_id = await buy(http, token, "tap-cancel")
    await projected_order(http, order_id)
    dialog = await open_order(page, order_id)

    cancel = dialog.locator("form", has=page.get_by_role("heading", name="Cancel"))
    await cancel.get_by_label("Reason (optional)").fill("Buyer changed their mind")
    await cancel.get_by_role("button", name="Cancel order…").click()
    # Nothing happens before the confirm step; keeping the order backs out.
    await cancel.get_by_role("button", name="Keep the order").click()
    await expect(cancel.get_by_role("button", name="Yes, cancel the order")).to_be_hidden()
    await cancel.get_by_role("button", name="Cancel order…").click()
    await cancel.get_by_role("button", name="Yes, cancel the order").click()

    await expect(dialog.locator(".mc-facts").first).to_contain_text("Cancelled")
    await expect(dialog.locator(".mc-history")).to_contain_text("Buyer changed their mind")
    await expect(dialog.get_by_role("button", name="Refund")).to_have_count(0)
    await expect(page.locator("#orders-body tr", has_text=order_id)).to_contain_text("Cancelled")
    listed = (await http.get("/api/orders?show=drop", headers=KEY)).json()["items"][0]
    assert listed["status"] == "cancelled"


async def test_a_refund_above_what_is_left_is_refused_in_words_and_changes_nothing(
    page: Page, http: httpx.AsyncClient
) -> None:
    await seed_shop(http)
    token = await sign_up_buyer(http)
    order_id = await buy(http, token, "tap-refund")
    await projected_order(http, order_id)
    dialog = await open_order(page, order_id)

    refund = dialog.locator("form", has=page.get_by_role("heading", name="Refund"))
    await expect(refund).to_contain_text("Left to refund: €24.00")
    amount = refund.get_by_label("Amount (EUR)")
    await amount.fill("30.00")
    await refund.get_by_role("button", name="Refund").click()
    said = "That's more than is left to refund: at most €24.00 can be refunded"
    await expect(result_of(refund)).to_have_text(said)
    await expect(amount).to_have_attribute("aria-invalid", "true")
    order = (await http.get("/api/orders?show=drop", headers=KEY)).json()["items"][0]
    assert order["status"] == "confirmed"
    assert "refunded_total" not in order and not order.get("refunds")

    # A part of it goes through, and what is left shrinks.
    await amount.fill("12.50")
    await refund.get_by_role("button", name="Refund").click()
    await expect(result_of(dialog)).to_have_text("Refunded €12.50.")
    await expect(dialog.locator(".mc-refunds li")).to_have_count(1)
    await expect(dialog).to_contain_text("Left to refund: €11.50")
    order = (await http.get("/api/orders?show=drop", headers=KEY)).json()["items"][0]
    assert order["refunded_total"] == 1250


async def test_the_status_filter_narrows_the_order_table(
    page: Page, http: httpx.AsyncClient
) -> None:
    await seed_shop(http)
    token = await sign_up_buyer(http)
    kept = await buy(http, token, "tap-keep")
    cancelled = await buy(http, token, "tap-drop", sku="nw-socks")
    await projected_order(http, cancelled)
    response = await http.post(f"/api/orders/{cancelled}/cancel", json={}, headers=KEY)
    assert response.status_code == 200, response.text
    await sign_in(page)
    await page.get_by_role("link", name="Orders").click()
    form = page.locator("#orders-filter")
    await form.get_by_label("Show").select_option("drop")
    await form.get_by_label("Status").select_option("cancelled")
    await form.get_by_role("button", name="Show orders").click()
    rows = page.locator("#orders-body tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text(cancelled)
    await expect(rows.first).to_contain_text("Cancelled")

    await form.get_by_label("Status").select_option("confirmed")
    await form.get_by_role("button", name="Show orders").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text(kept)

    await form.get_by_label("Status").select_option("")
    await form.get_by_role("button", name="Show orders").click()
    await expect(rows).to_have_count(2)

    # The export carries the same filters and is saved as a file.
    await form.get_by_label("Status").select_option("cancelled")
    async with page.expect_download() as waiting:
        await form.get_by_role("button", name="Export CSV").click()
    download = await waiting.value
    assert download.suggested_filename == "orders.csv"
    text = Path(await download.path()).read_text(encoding="utf-8")
    assert cancelled in text and kept not in text
    await expect(page.locator("#orders-result")).to_have_text("Saved orders.csv.")


# --- webhooks ---------------------------------------------------------------------------


async def test_a_webhook_endpoint_is_set_and_a_dead_letter_is_sent_again(
    page: Page, http: httpx.AsyncClient
) -> None:
    await seed_shop(http)
    token = await sign_up_buyer(http)
    await sign_in(page)
    await page.get_by_role("link", name="Webhooks").click()
    form = page.locator("#webhook-form")
    await expect(result_of(form)).to_have_text("northwind has no endpoint yet.")
    await form.get_by_label("Endpoint URL").fill("not a url")
    await form.get_by_role("button", name="Save endpoint").click()
    await expect(result_of(form)).to_contain_text("Url must")
    await expect(form.get_by_label("Endpoint URL")).to_have_attribute("aria-invalid", "true")
    assert (await http.get("/api/brands/northwind/webhook", headers=KEY)).status_code == 404

    async with serving(Receiver(failing=True)) as receiver:
        await form.get_by_label("Endpoint URL").fill(receiver.url)
        await form.get_by_role("button", name="Save endpoint").click()
        await expect(result_of(form)).to_have_text("Endpoint saved.")
        secret = await form.get_by_label("Signing secret", exact=True).input_value()
        assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 24

        order_id = await buy(http, token, "tap-dead")
        dead = page.locator("#dead-body tr", has_text=order_id)
        for _ in range(50):
            await page.get_by_role("button", name="Refresh dead letters").click()
            if await dead.count():
                break
            await page.wait_for_timeout(200)
        await expect(dead).to_contain_text("HTTP 500")
        receiver.failing = False
        await dead.get_by_role("button", name="Send again").click()
        await expect(dead).to_contain_text("Sent again ✓")
        await expect(page.locator("#dead-result")).to_contain_text("is being sent again")

        delivered = page.locator("#deliveries-body tr", has_text=order_id)
        for _ in range(50):
            await page.get_by_role("button", name="Refresh deliveries").click()
            if await delivered.filter(has_text="Delivered").count():
                break
            await page.wait_for_timeout(200)
        await expect(delivered).to_contain_text("Delivered")
    assert receiver.verified(secret)[-1]["data"]["id"] == order_id


# --- creators ---------------------------------------------------------------------------


async def test_a_creator_is_added_given_a_showcase_and_their_earnings_shown(
    page: Page, http: httpx.AsyncClient
) -> None:
    await seed_shop(http)
    token = await sign_up_buyer(http)
    order_id = await buy(http, token, "tap-earn")
    await sign_in(page)
    await page.get_by_role("link", name="Creators").click()
    form = page.locator("#creator-form")
    await form.get_by_label("Creator id").fill("maya")
    await form.get_by_label("Name").fill("Another Maya")
    await form.get_by_role("button", name="Add creator").click()
    await expect(result_of(form)).to_have_text("Creator 'maya' already exists")
    await expect(form.get_by_label("Creator id")).to_have_attribute("aria-invalid", "true")
    await form.get_by_label("Creator id").fill("bo")
    await form.get_by_label("Name").fill("Bo Ek")
    await form.get_by_role("button", name="Add creator").click()
    await expect(result_of(form)).to_have_text("Bo Ek (bo) added.")
    await expect(page.locator("#creators-body tr", has_text="Bo Ek")).to_be_visible()

    maya = page.locator("#creators-body tr", has_text="Maya Lindqvist")
    await maya.get_by_role("button", name="Showcase").click()
    showcase = page.locator("#showcase-form")
    await showcase.get_by_label("Products shown, one SKU a line, in order").fill("nw-socks\nghost")
    await showcase.get_by_role("button", name="Save showcase").click()
    await expect(result_of(showcase)).to_have_text("Product 'ghost' does not exist")
    await expect(
        showcase.get_by_label("Products shown, one SKU a line, in order")
    ).to_have_attribute("aria-invalid", "true")
    await showcase.get_by_label("Products shown, one SKU a line, in order").fill(
        "nw-socks\nnw-beanie"
    )
    await showcase.get_by_role("button", name="Save showcase").click()
    await expect(result_of(showcase)).to_have_text("Saved: 2 products on Maya Lindqvist's page.")
    shown = (await http.get("/api/creators/maya/showcase")).json()
    assert [p["sku"] for p in shown["items"]] == ["nw-socks", "nw-beanie"]
    await page.locator("#showcase-dialog").get_by_role("button", name="Close").click()

    await maya.get_by_role("button", name="Earnings").click()
    earnings = page.locator("#earnings-dialog")
    # The ledger is a projection: it may lag the buy by a moment, so ask until it is there.
    for _ in range(50):
        if await earnings.locator("#earnings-body tr", has_text=order_id).count():
            break
        await earnings.get_by_role("button", name="Close").click()
        await maya.get_by_role("button", name="Earnings").click()
        await page.wait_for_timeout(100)
    await expect(earnings.locator("#earnings-totals")).to_have_text("Owed in all: €1.92.")
    await expect(earnings.locator("#earnings-body tr", has_text=order_id)).to_contain_text(
        "Their show"
    )


# --- how it looks, and accessibility ----------------------------------------------------

SECTIONS = ("catalog", "shows", "orders", "webhooks", "creators")


async def test_every_section_and_dialog_has_no_serious_accessibility_violation(
    browser: Browser, server: LiveServer, http: httpx.AsyncClient, screenshots: Path
) -> None:
    await seed_shop(http)
    token = await sign_up_buyer(http)
    order_id = await buy(http, token, "tap-look")
    for name, size in (("phone", PHONE), ("desktop", DESKTOP)):
        context = await browser.new_context(viewport=viewport(size))
        page = await context.new_page()
        await page.goto(f"{server.url}/merchant")
        assert await serious_violations(page) == [], f"key gate, {name}"
        await page.screenshot(path=screenshots / f"merchant-key-{name}.png", full_page=True)
        await sign_in(page)
        for section in SECTIONS:
            await page.get_by_role("link", name=section.title()).click()
            await expect(page.locator(f"#{section} .lc-result[data-kind='pending']")).to_have_count(
                0
            )
            if section == "orders":
                await page.get_by_label("Show", exact=True).select_option("drop")
                await page.get_by_role("button", name="Show orders").click()
                await expect(page.locator("#orders-body")).to_contain_text(order_id)
            assert await serious_violations(page) == [], f"{section}, {name}"
            # Wide tables scroll inside their box; the page itself never scrolls sideways.
            assert await page.evaluate("document.documentElement.scrollWidth") <= size["width"]
            await page.screenshot(
                path=screenshots / f"merchant-{section}-{name}.png", full_page=True
            )
            if section == "catalog":
                beanie = page.locator("#products-body tr", has_text="nw-beanie")
                await beanie.get_by_role("button", name="Edit").click()
                await expect(page.locator("#product-dialog")).to_be_visible()
                assert await serious_violations(page) == [], f"product dialog, {name}"
                await page.screenshot(path=screenshots / f"merchant-product-{name}.png")
                await page.locator("#product-dialog").get_by_role("button", name="Close").click()
            if section == "orders":
                await (
                    page.locator("#orders-body tr", has_text=order_id)
                    .get_by_role("button", name="Open")
                    .click()
                )
                await expect(page.locator("#order-dialog address")).to_be_visible()
                assert await serious_violations(page) == [], f"order dialog, {name}"
                await page.screenshot(path=screenshots / f"merchant-order-{name}.png")
                await page.locator("#order-dialog").get_by_role("button", name="Close").click()
            if section == "shows":
                drop_row = page.locator("#shows-body tr", has_text="drop")
                await drop_row.get_by_role("button", name="Stock").click()
                await expect(page.locator("#stock-body tr")).to_have_count(2)
                assert await serious_violations(page) == [], f"stock dialog, {name}"
                await page.screenshot(path=screenshots / f"merchant-stock-{name}.png")
                await page.locator("#stock-dialog").get_by_role("button", name="Close").click()
                await (
                    page.locator("#shows-body tr", has_text="drop")
                    .get_by_role("button", name="Staff links")
                    .click()
                )
                dialog = page.locator("#staff-dialog")
                await dialog.get_by_label("Their user id").fill("sam")
                await dialog.get_by_role("button", name="Make link").click()
                await expect(dialog.locator("#staff-links li")).to_have_count(1)
                assert await serious_violations(page) == [], f"staff dialog, {name}"
                await page.screenshot(path=screenshots / f"merchant-staff-{name}.png")
                await dialog.get_by_role("button", name="Close").click()
        await context.close()
