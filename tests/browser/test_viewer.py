"""The viewer page (/shows/{show}) in a real Chromium, driven as people would: two
viewers watch one show, the streamer pins and runs a flash sale over the HTTP API, a
moderator pauses sales, mutes and bans over the hub. Every outcome is read on screen,
in words, where the person tapped."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
from playwright.async_api import Browser, expect
from redis.asyncio import Redis

from livecart.auth.tokens import verify_token
from livecart.commerce.sales.shipping import ShippingRule, put_rule
from livecart.config import Settings
from livecart.store import keys
from tests.browser.conftest import DESKTOP, PHONE
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
    streamer,
)
from tests.helpers import STRONG_SECRET, LiveServer, serve_app
from tests.hub.live import HubClient, token, ws_url

pytestmark = pytest.mark.browser

BUY = re.compile(r"^Buy ")
ORDERED = re.compile(r"^Ordered ✓ #[0-9a-f]{8}$")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The flash-sale sweep runs rarely, so a page that waited for `flash_ended` to end
    # the sale on screen would be late: the page must end it by Redis' clock itself.
    # Tokens expire on the second (no leeway), so a test can outlive one.
    return settings.with_overrides(
        {
            "hub": {"tick_ms": 10},
            "checkout": {"reaper_interval_ms": 30_000},
            "auth": {"leeway_s": 0},
        }
    )


@pytest.fixture
async def live(server: LiveServer, redis: Redis) -> LiveServer:
    await seed_live_show(server.runtime, server.url)
    return server


@pytest.fixture
async def http(live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
        yield client


def viewer_url(server: LiveServer, query: str = "") -> str:
    return f"{server.url}/shows/{SHOW}{query}"


async def redis_now_ms(redis: Redis) -> int:
    seconds, micros = await redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def test_two_viewers_see_the_pin_and_a_tap_orders_in_place_and_drops_the_others_stock(
    browser: Browser, live: LiveServer, http: httpx.AsyncClient, screenshots: Path
) -> None:
    async with (
        opened(browser, viewer_url(live)) as ana,
        opened(browser, viewer_url(live), viewport=DESKTOP) as bo,
    ):
        await connected(ana)
        await connected(bo)
        await expect(ana.locator("#seller")).to_have_text("Maya Lindqvist")
        await expect(ana.locator("#live-badge")).to_have_text("Live")
        await pin(http, "nw-beanie")
        for page in (ana, bo):
            await expect(card(page)).to_contain_text("Rib-knit beanie")
            await expect(card(page)).to_contain_text("€24.00")
            await expect(card(page)).to_contain_text("5 left")
        shown = "img => img.complete && img.naturalWidth > 0 && img.src.endsWith('product.svg')"
        assert await card(ana).locator("img").evaluate(shown)

        # Signed out, the tap asks once for what a checkout needs, then buys.
        await card(ana).get_by_role("button", name=BUY).click()
        await sign_up(ana)
        await expect(card(ana).locator(".lc-result")).to_have_text(ORDERED)
        await expect(card(bo)).to_contain_text("4 left")
        await expect(card(ana)).to_contain_text("4 left")
        await expect(bo.locator("#ticker")).to_have_text("Maya just bought Rib-knit beanie")
        await ana.screenshot(path=screenshots / "viewer-ordered-phone.png")
        await bo.screenshot(path=screenshots / "viewer-ordered-desktop.png")

        # The order carries who bought it and where it ships; the tap was one order.
        orders = (await http.get(f"/api/orders?show={SHOW}", headers=KEY)).json()["items"]
        assert len(orders) == 1
        assert orders[0]["contact"] == {"name": "Maya Berg", "email": "maya.berg@example.com"}
        assert orders[0]["ship_to"]["city"] == "Uppsala" and orders[0]["ship_to"]["country"] == "SE"
        assert orders[0]["id"][2:10] in await card(ana).locator(".lc-result").inner_text()

        # Another tap is another order, without asking again.
        await card(ana).get_by_role("button", name=BUY).click()
        await expect(card(bo)).to_contain_text("3 left")
        await expect(ana.get_by_role("dialog", name="Sign up to buy")).to_be_hidden()
        # The stock event may reach bo before ana's answer reaches ana: wait for it.
        first = orders[0]["id"][2:10]
        another = re.compile(rf"^Ordered ✓ #(?!{first})[0-9a-f]{{8}}$")
        await expect(card(ana).locator(".lc-result")).to_have_text(another)


async def test_sign_up_with_bad_input_is_refused_field_by_field_and_creates_nothing(
    browser: Browser,
    live: LiveServer,
    http: httpx.AsyncClient,
    redis: Redis,
    screenshots: Path,
) -> None:
    async with opened(browser, viewer_url(live)) as page:
        await connected(page)
        await pin(http, "nw-beanie")
        await card(page).get_by_role("button", name=BUY).click()
        await sign_up(
            page, name="  ", email="maya-at-example", line1="", city="", postal_code="", country=""
        )
        dialog = page.get_by_role("dialog", name="Sign up to buy")
        expected = {
            "Full name": "Full name must not be empty",
            "Email": "Email must be an address like ana@example.com",
            "Address": "Address must not be empty",
            "City": "City must not be empty",
            "Postal code": "Postal code must not be empty",
            "Country": "Choose a country",
        }
        for label, words in expected.items():
            field = dialog.get_by_label(label, exact=True)
            await expect(field).to_have_attribute("aria-invalid", "true")
            await expect(field).to_have_accessible_description(words)
        optional = dialog.get_by_label("Apartment, suite (optional)")
        await expect(optional).not_to_have_attribute("aria-invalid", "true")
        await expect(dialog.get_by_role("status")).to_have_text(
            "Please check the fields marked above"
        )
        await page.screenshot(path=screenshots / "viewer-signup-refused-phone.png")
        assert await redis.keys("lc:buyer:*") == [] and await redis.keys("lc:signups:*") == []
        assert await redis.zcard(keys.show_orders(SHOW)) == 0
        await expect(card(page)).to_contain_text("5 left")

        # What was typed stays; fixing the fields signs up and the buy goes through.
        await expect(dialog.get_by_label("Email")).to_have_value("maya-at-example")
        await sign_up(page)
        await expect(dialog).to_be_hidden()
        await expect(card(page).locator(".lc-result")).to_have_text(ORDERED)
        assert len(await redis.keys("lc:buyer:*:profile")) == 1


async def test_paused_sales_show_a_banner_everywhere_and_buy_is_refused_in_words(
    browser: Browser, live: LiveServer, http: httpx.AsyncClient, screenshots: Path
) -> None:
    _, ana_token = await buyer_token(http, "Ana")
    _, bo_token = await buyer_token(http, "Bo")
    async with (
        opened(browser, viewer_url(live, f"#token={ana_token}")) as ana,
        opened(browser, viewer_url(live, f"#token={bo_token}"), viewport=DESKTOP) as bo,
    ):
        await connected(ana)
        await connected(bo)
        assert "token" not in ana.url  # the fragment's token left the address bar
        await pin(http, "nw-socks")
        await expect(card(ana)).to_contain_text("40 left")
        paused = await http.post(
            f"/api/shows/{SHOW}/sales",
            headers=KEY,
            json={"state": "paused", "reason": "checking stock"},
        )
        assert paused.status_code == 200
        for page in (ana, bo):
            banner = page.locator("#sales-banner")
            await expect(banner).to_have_text("Sales are paused right now: checking stock")
        await card(ana).get_by_role("button", name=BUY).click()
        await expect(card(ana).locator(".lc-result")).to_have_text("Sales are paused right now")
        await expect(card(ana)).to_contain_text("40 left")
        await ana.screenshot(path=screenshots / "viewer-sales-paused-phone.png")
        await bo.screenshot(path=screenshots / "viewer-sales-paused-desktop.png")

        resumed = await http.post(f"/api/shows/{SHOW}/sales", headers=KEY, json={"state": "open"})
        assert resumed.status_code == 200
        for page in (ana, bo):
            await expect(page.locator("#sales-banner")).to_be_hidden()
        await card(bo).get_by_role("button", name=BUY).click()
        await expect(card(bo).locator(".lc-result")).to_have_text(ORDERED)
        await expect(card(ana)).to_contain_text("39 left")


# Every Date.now() on the page an hour behind: a page that timed the sale by its own
# clock would count an hour too long.
SKEWED_CLOCK = """
(() => {
  const realNow = Date.now.bind(Date);
  Date.now = () => realNow() - 3_600_000;
})();
"""


async def test_a_flash_sale_counts_down_and_ends_on_time_by_the_servers_clock(
    browser: Browser,
    live: LiveServer,
    http: httpx.AsyncClient,
    redis: Redis,
    screenshots: Path,
) -> None:
    _, ana_token = await buyer_token(http, "Ana")
    url = viewer_url(live, f"#token={ana_token}")
    async with opened(browser, url, init_script=SKEWED_CLOCK) as page:
        await connected(page)
        await pin(http, "nw-socks")
        await expect(card(page)).to_contain_text("€19.00")
        started = await http.post(
            f"/api/shows/{SHOW}/flash",
            headers=streamer(),
            json={
                "sku": "nw-socks",
                "price": 990,
                "quantity": 10,
                "countdown_s": 2,
                "duration_s": 4,
            },
        )
        assert started.status_code == 201, started.text
        sale = started.json()
        banner = page.locator("#flash")
        await expect(banner).to_contain_text("Flash sale: Hiking socks, 3 pairs €9.90")
        await expect(banner.locator(".flash__clock")).to_have_text(
            re.compile(r"^starts in 0:0[0-2]$")
        )
        await expect(card(page).locator(".product-card__price")).to_have_text("€19.00")

        await expect(banner.locator(".flash__clock")).to_have_text(
            re.compile(r"^ends in 0:0[1-4]$")
        )
        assert await redis_now_ms(redis) >= sale["starts_ms"] - 250
        await expect(card(page).locator(".product-card__price")).to_have_text("€9.90")
        await expect(card(page).locator(".product-card__was")).to_have_text("€19.00")
        await page.screenshot(path=screenshots / "viewer-flash-sale-phone.png")
        await card(page).get_by_role("button", name=BUY).click()
        await expect(card(page).locator(".lc-result")).to_have_text(ORDERED)
        order = (await http.get(f"/api/orders?show={SHOW}", headers=KEY)).json()["items"][0]
        assert order["total"] == 990 and order["lines"][0]["flash_sale"] == sale["id"]

        await expect(banner.locator(".flash__title")).to_have_text(
            "Flash sale ended", timeout=10_000
        )
        ended_seen = await redis_now_ms(redis)
        assert sale["ends_ms"] - 250 <= ended_seen <= sale["ends_ms"] + 1500, (
            ended_seen - sale["ends_ms"]
        )
        await expect(card(page).locator(".product-card__price")).to_have_text("€19.00")
        await expect(card(page).locator(".product-card__was")).to_be_hidden()


async def test_a_muted_viewers_next_message_is_refused_and_the_page_says_until_when(
    browser: Browser, live: LiveServer, http: httpx.AsyncClient, redis: Redis
) -> None:
    ana, ana_token = await buyer_token(http, "Ana")
    async with (
        opened(browser, viewer_url(live, f"#token={ana_token}")) as page,
        await HubClient.open(ws_url(live, token=token("mo", "moderator", SHOW))) as moderator,
    ):
        await connected(page)
        chat = page.get_by_role("textbox", name="Message")
        await chat.fill("hello everyone")
        await page.get_by_role("button", name="Send", exact=True).click()
        await expect(page.locator(".chat-list")).to_contain_text(f"{ana} hello everyone")
        await expect(chat).to_have_value("")

        muted = await moderator.request("mute", user=ana, seconds=600)
        until = await page.evaluate(
            """ms => new Date(ms - window.livecart.hub.state.clockOffsetMs)
                      .toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"})""",
            muted["until_ms"],
        )
        words = f"You are muted in this chat until {until}"
        await expect(page.locator(".chat-result")).to_have_text(words)  # told at once
        await page.reload()  # and told again by the hello, after a reload
        await expect(page.locator(".chat-result")).to_have_text(words)
        await chat.fill("why was I muted")
        await page.get_by_role("button", name="Send", exact=True).click()
        await expect(page.locator(".chat-result")).to_have_text(words)
        await expect(chat).to_have_value("why was I muted")  # kept, not sent
        await asyncio.sleep(0.3)
        texts = [
            orjson.loads(f["data"]).get("text")
            for _, f in await redis.xrange(keys.show_events(SHOW))
            if f["type"] == "chat"
        ]
        assert texts == ["hello everyone"]


async def test_a_banned_viewer_sees_they_were_removed_and_cannot_rejoin(
    browser: Browser, live: LiveServer, http: httpx.AsyncClient, screenshots: Path
) -> None:
    bob, bob_token = await buyer_token(http, "Bob")
    async with (
        opened(browser, viewer_url(live, f"#token={bob_token}")) as page,
        await HubClient.open(ws_url(live, token=token("mo", "moderator", SHOW))) as moderator,
    ):
        await connected(page)
        assert (await moderator.request("ban", user=bob))["changed"] is True
        banner = page.locator("#connection")
        await expect(banner).to_have_text("You were removed from this show")
        await page.screenshot(path=screenshots / "viewer-banned-phone.png")

        await page.reload()  # the tab keeps the fragment's token: still bob, still banned
        await expect(banner).to_have_text("You were removed from this show")
        await page.get_by_role("textbox", name="Message").fill("let me back in")
        await page.get_by_role("button", name="Send", exact=True).click()
        await expect(page.locator(".chat-result")).to_have_text("You were removed from this show")
        await page.wait_for_timeout(1500)  # it does not try again behind the person's back
        assert await page.evaluate("window.livecart.hub.state.status") == "stopped"


async def test_an_expired_sign_in_keeps_the_show_playing_and_asks_again_before_buying(
    browser: Browser, live: LiveServer, http: httpx.AsyncClient
) -> None:
    short = token("site-user-9", ttl_s=5)
    expires_at = verify_token(STRONG_SECRET, short).exp
    async with opened(browser, viewer_url(live, f"#token={short}")) as page:
        await connected(page)
        assert await page.evaluate("window.livecart.hub.token") == short
        await pin(http, "nw-beanie")
        await expect(card(page)).to_contain_text("5 left")
        await asyncio.sleep(expires_at + 0.3 - time.time())  # it runs out; the show goes on
        await card(page).get_by_role("button", name=BUY).click()
        expired = "Your sign-in has expired. Sign up again"
        await expect(card(page).locator(".lc-result")).to_have_text(expired)
        await expect(page.locator("#connection")).to_have_text(expired)
        await expect(page.get_by_role("button", name="Sign up")).to_be_visible()
        await http.post(f"/api/shows/{SHOW}/stock/nw-beanie", headers=KEY, json={"delta": 1})
        await expect(card(page)).to_contain_text("6 left")  # still watching, anonymously

        await card(page).get_by_role("button", name=BUY).click()
        await sign_up(page)
        await expect(card(page).locator(".lc-result")).to_have_text(ORDERED)
        await expect(page.locator("#connection")).to_be_hidden()


async def test_chat_and_reactions_reach_every_viewer(
    browser: Browser, live: LiveServer, http: httpx.AsyncClient
) -> None:
    ana, ana_token = await buyer_token(http, "Ana")
    async with (
        opened(browser, viewer_url(live, f"#token={ana_token}")) as page,
        opened(browser, viewer_url(live), viewport=DESKTOP) as other,
    ):
        await connected(page)
        await connected(other)
        await page.get_by_role("textbox", name="Message").fill("is the beanie warm?")
        await page.get_by_role("button", name="Send", exact=True).click()
        await expect(other.locator(".chat-list")).to_contain_text(f"{ana} is the beanie warm?")
        await page.get_by_role("button", name="Send a heart").click()
        floating = other.locator(".floating-layer .floating[data-kind='heart']")
        await expect(floating.first).to_be_attached()

        # Someone signed out is asked to sign up to chat; cancelling sends nothing.
        await other.get_by_role("textbox", name="Message").fill("me too")
        await other.get_by_role("button", name="Send", exact=True).click()
        await (
            other.get_by_role("dialog", name="Sign up to buy")
            .get_by_role("button", name="Cancel")
            .click()
        )
        await expect(other.locator(".chat-result")).to_have_text("Sign up to do that")


async def test_the_bag_lists_the_lineup_and_the_cart_checks_out(
    browser: Browser, live: LiveServer, http: httpx.AsyncClient, screenshots: Path
) -> None:
    _, ana_token = await buyer_token(http, "Ana")
    async with opened(browser, viewer_url(live, f"#token={ana_token}")) as page:
        await connected(page)
        bag = page.get_by_role("button", name="Products in this show (3)")
        await bag.click()
        lineup = page.get_by_role("dialog", name="In this show")
        items = lineup.locator(".lineup-item")
        await expect(items).to_have_count(3)
        socks = items.filter(has_text="Hiking socks")
        await socks.get_by_role("button", name=re.compile("^Add ")).click()
        await expect(socks.locator(".lc-result")).to_have_text("In your cart ✓ (1)")
        await socks.get_by_role("button", name=re.compile("^Add ")).click()
        await expect(socks.locator(".lc-result")).to_have_text("In your cart ✓ (2)")
        await expect(socks).to_contain_text("38 left")  # cart units are held
        bottle = items.filter(has_text="Insulated trail bottle")
        await bottle.get_by_role("button", name=BUY).click()
        await expect(bottle.locator(".lc-result")).to_have_text(ORDERED)
        await expect(bottle).to_contain_text("Sold out")
        await expect(bottle.get_by_role("button", name=re.compile("sold out"))).to_be_disabled()
        await page.screenshot(path=screenshots / "viewer-bag-phone.png")
        await lineup.get_by_role("button", name="Close").click()

        await page.get_by_role("button", name="Your cart, 2 items").click()
        cart = page.get_by_role("dialog", name="Your cart")
        await expect(cart).to_contain_text("2 \u00d7 €19.00")
        await expect(cart.locator(".cart-total")).to_have_text("Total €38.00")
        await page.screenshot(path=screenshots / "viewer-cart-phone.png")
        assert await serious_violations(page) == []
        await cart.get_by_role("button", name="Check out").click()
        await expect(cart.locator(".cart-result")).to_have_text(ORDERED)
        await expect(cart).to_contain_text("Your cart is empty.")
        orders = (await http.get(f"/api/orders?show={SHOW}", headers=KEY)).json()["items"]
        assert sorted(o["total"] for o in orders) == [2900, 3800]


async def test_a_share_link_credits_the_creator_who_shared_it(
    browser: Browser, live: LiveServer, http: httpx.AsyncClient
) -> None:
    made = (await http.get("/api/creators/leo/share-link", params={"show": SHOW})).json()["url"]
    # The API's link is on server.public_url (unset here: the test node's port is picked
    # at random), so the same path and query are opened on the test node.
    path = httpx.URL(made).raw_path.decode()
    assert path == f"/shows/{SHOW}?ref=leo"
    link = f"{live.url}{path}"
    async with opened(browser, link) as page:
        await connected(page)
        await pin(http, "nw-beanie")
        await card(page).get_by_role("button", name=BUY).click()
        await sign_up(page)
        await expect(card(page).locator(".lc-result")).to_have_text(ORDERED)
    order = (await http.get(f"/api/orders?show={SHOW}", headers=KEY)).json()["items"][0]
    assert order["attribution"] == {"creator": "leo", "source": "link"}


async def test_a_show_that_does_not_exist_or_a_bad_id_says_so(
    browser: Browser, live: LiveServer, screenshots: Path
) -> None:
    async with opened(browser, f"{live.url}/shows/no-such-show") as page:
        await expect(page.locator("#connection")).to_have_text("This show doesn't exist")
    async with opened(browser, f"{live.url}/shows/bad%7Bid%7D") as page:
        await expect(page.get_by_role("heading", level=1)).to_have_text("There is no such page")
        await page.screenshot(path=screenshots / "not-found-phone.png")
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{live.url}/shows/bad%7Bid%7D")
    assert response.status_code == 404 and "text/html" in response.headers["content-type"]


async def test_pages_wait_as_told_when_the_node_admits_too_many_at_once(
    browser: Browser, settings: Settings, redis: Redis
) -> None:
    """Past hub.max_joins_per_s a node closes new sockets with 4429 and retry_after_ms;
    the pages wait that long (plus jitter), try again, and all get in."""
    async with serve_app(settings.with_overrides({"hub": {"max_joins_per_s": 1}})) as node:
        await seed_live_show(node.runtime, node.url)
        contexts = [await browser.new_context(viewport=PHONE) for _ in range(3)]
        sockets: list[str] = []
        try:
            pages = [await context.new_page() for context in contexts]
            for page in pages:
                page.on("websocket", lambda ws: sockets.append(ws.url))
            await asyncio.gather(*(page.goto(viewer_url(node)) for page in pages))
            for page in pages:
                await connected(page)
        finally:
            for context in contexts:
                await context.close()
        assert len(sockets) > 3, sockets  # some were told to wait, and came back


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_the_viewer_page_has_no_serious_accessibility_violation(
    browser: Browser,
    live: LiveServer,
    http: httpx.AsyncClient,
    viewport: dict[str, int],
    screenshots: Path,
) -> None:
    ana, ana_token = await buyer_token(http, "Ana")
    async with opened(browser, viewer_url(live, f"#token={ana_token}"), viewport=viewport) as page:
        await connected(page)
        await pin(http, "nw-beanie")
        await http.post(
            f"/api/shows/{SHOW}/flash",
            headers=streamer(),
            json={
                "sku": "nw-beanie",
                "price": 1900,
                "quantity": 3,
                "countdown_s": 30,
                "duration_s": 60,
            },
        )
        await http.post(f"/api/shows/{SHOW}/sales", headers=KEY, json={"state": "paused"})
        await page.get_by_role("textbox", name="Message").fill("hello from the test")
        await page.get_by_role("button", name="Send", exact=True).click()
        await expect(page.locator(".chat-list")).to_contain_text(f"{ana} hello from the test")
        await expect(page.locator("#flash")).to_be_visible()
        await expect(page.locator("#sales-banner")).to_be_visible()
        name = "phone" if viewport == PHONE else "desktop"
        await page.screenshot(path=screenshots / f"viewer-{name}.png")
        assert await serious_violations(page) == []

        await page.get_by_role("button", name=re.compile(r"^Products in this show")).click()
        await expect(page.get_by_role("dialog", name="In this show")).to_be_visible()
        await page.screenshot(path=screenshots / f"viewer-bag-{name}.png")
        assert await serious_violations(page) == []
        await page.keyboard.press("Escape")

        await page.get_by_role("button", name="Your details").click()
        dialog = page.get_by_role("dialog", name="Your details")
        await expect(dialog.get_by_label("Full name")).to_have_value("Ana")
        await dialog.get_by_label("Email").fill("not an email")
        await dialog.get_by_role("button", name="Save").click()
        await expect(dialog.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
        await page.screenshot(path=screenshots / f"viewer-details-{name}.png")
        assert await serious_violations(page) == []


async def test_the_viewer_page_paints_first_within_a_second_without_video(
    browser: Browser, live: LiveServer, http: httpx.AsyncClient
) -> None:
    """First contentful paint through the Performance API, five fresh loads; the median
    is reported (`pytest -s`). The bound asserted is generous: a timing is a figure to
    read, and a loaded CI machine must not fail the test by chance."""
    await pin(http, "nw-beanie")
    paints: list[float] = []
    hellos: list[float] = []
    for _ in range(5):
        async with opened(browser, viewer_url(live)) as page:
            await connected(page)
            await expect(card(page)).to_contain_text("Rib-knit beanie")
            paint = await page.evaluate(
                "performance.getEntriesByName('first-contentful-paint')[0].startTime"
            )
            hello = await page.evaluate(
                "performance.getEntriesByName('livecart:hello')[0].startTime"
            )
            paints.append(paint)
            hellos.append(hello)
    paints.sort()
    hellos.sort()
    print(
        f"\nviewer page: first contentful paint median {paints[2]:.0f} ms "
        f"(all {', '.join(f'{p:.0f}' for p in paints)}); "
        f"hub hello median {hellos[2]:.0f} ms"
    )
    assert paints[2] < 3000


async def test_the_card_says_what_shipping_adds_and_the_order_says_what_was_charged(
    browser: Browser, server: LiveServer, redis: Redis, screenshots: Path
) -> None:
    # The rule is set before the page loads: a page learns it from the show's snapshot.
    await seed_live_show(server.runtime, server.url)
    await put_rule(redis, "northwind", ShippingRule(flat=490, free_over=5000))
    async with (
        httpx.AsyncClient(base_url=server.url, timeout=10) as http,
        opened(browser, viewer_url(server)) as ana,
    ):
        await connected(ana)
        await pin(http, "nw-beanie")
        await expect(card(ana)).to_contain_text("+ €4.90 shipping, free over €50.00")
        await card(ana).get_by_role("button", name=BUY).click()
        await sign_up(ana)
        await expect(card(ana).locator(".lc-result")).to_have_text(
            re.compile(r"^Ordered ✓ #[0-9a-f]{8} · €28\.90 with shipping$")
        )
        await ana.screenshot(path=screenshots / "viewer-shipping-phone.png")
        orders = (await http.get(f"/api/orders?show={SHOW}", headers=KEY)).json()["items"]
        assert [(o["items_total"], o["shipping"], o["total"]) for o in orders] == [
            (2400, 490, 2890)
        ]
