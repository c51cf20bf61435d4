"""The studio (/studio/{show}) in a real Chromium with a fake camera, driven as a
streamer would: going live over WHIP (a Python WHEP viewer decodes the frames), pinning
from the lineup, a flash sale counted down by the server's clock, the figures moving
with a buy made over HTTP, stopping the video and ending the show, and the OBS details
tried for real. Staff of the wrong kind and viewers are told in words what they cannot do.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiortc import RTCPeerConnection
from playwright.async_api import Browser, Locator, Page, expect
from redis.asyncio import Redis

from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.live_show import connected, opened, serious_violations
from tests.commerce.conftest import seed_show
from tests.helpers import STRONG_ADMIN_KEY, LiveServer, bearer
from tests.hub.live import SHOW, HubClient, token, ws_url
from tests.media.conftest import settings
from tests.media.peers import post_sdp, watch, without_candidates
from tests.media.test_whip_whep import wait_live

pytestmark = pytest.mark.browser

__all__ = ["settings"]  # the video tests' settings: the network check, short timeouts

# Minted at import, so it must outlive the whole run (a 600 s token would not).
STREAMER_TOKEN = token("c1", "streamer", SHOW, ttl_s=7200)
KEY = {"X-API-Key": STRONG_ADMIN_KEY}

# Every Date.now() on the page an hour behind: a page that timed the sale by its own
# clock would count an hour too long.
SKEWED_CLOCK = """
(() => {
  const realNow = Date.now.bind(Date);
  Date.now = () => realNow() - 3_600_000;
})();
"""


@pytest.fixture
async def scheduled(server: LiveServer) -> LiveServer:
    """Show s1 (creator c1, four products) not started yet."""
    await seed_show(server.runtime, start=False)
    return server


@pytest.fixture
async def live(server: LiveServer) -> LiveServer:
    await seed_show(server.runtime)
    return server


@pytest.fixture
async def http(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


def studio_url(server: LiveServer, tok: str | None = STREAMER_TOKEN) -> str:
    fragment = f"#token={tok}" if tok else ""
    return f"{server.url}/studio/{SHOW}{fragment}"


async def loaded(page: Page) -> None:
    """The studio has its hello: the show's title is on screen."""
    await expect(page.locator("#show-title")).to_have_text("Show", timeout=10_000)


async def show_state(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get(f"/api/shows/{SHOW}")
    assert response.status_code == 200
    state: dict[str, Any] = response.json()
    return state


async def stream_gone(http: httpx.AsyncClient, within: float = 10.0) -> None:
    for _ in range(int(within / 0.05)):
        if (await show_state(http))["stream"] is None:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the video of {SHOW} was still live after {within}s")


def lineup_row(page: Page, title: str) -> Locator:
    return page.locator("#lineup-panel tbody tr", has_text=title)


async def test_the_studio_goes_live_with_its_camera_then_stops_the_video_and_ends_the_show(
    browser: Browser, scheduled: LiveServer, http: httpx.AsyncClient, screenshots: Path
) -> None:
    async with opened(browser, studio_url(scheduled), viewport=DESKTOP) as page:
        await loaded(page)
        await expect(page.locator("#show-state")).to_have_text("Scheduled")
        camera = page.get_by_role("combobox", name="Camera")
        await expect(camera).to_be_enabled()
        assert "fake" in (await camera.locator("option:checked").inner_text()).lower()
        await page.wait_for_function(
            "document.querySelector('#camera-panel video').readyState >= 2", timeout=10_000
        )

        # Go live: the scheduled show starts, then the camera goes out over WHIP.
        await page.get_by_role("button", name="Go live").click()
        await expect(page.locator("#live-result")).to_have_text("You're live ✓", timeout=20_000)
        await expect(page.locator("#show-state")).to_have_text("Live")
        assert (await show_state(http))["state"] == "live"
        stream = await wait_live(scheduled, within=20)
        assert stream["codec"] == "H264" and stream["marker"] is True
        await expect(page.locator("#video-status")).to_have_text(
            re.compile(r"^On air: viewers see your camera \(\d+\u00d7\d+ H264\)$"), timeout=20_000
        )
        viewer = await watch(scheduled.url, SHOW)
        try:
            assert viewer.response.status_code == 201, viewer.response.text
            await viewer.wait_for_frames(30)
            pictures = viewer.decoded()
            assert len(pictures) >= 20
            # Chromium's encoder changes the picture size as its bandwidth estimate grows.
            assert all(p.width >= 320 and p.height >= 180 for p in pictures)
        finally:
            await viewer.close()
        await page.screenshot(path=screenshots / "studio-live-desktop.png")

        # Stop video only: the stream ends, the show goes on.
        await page.get_by_role("button", name="Stop video").click()
        await expect(page.locator("#live-result")).to_have_text(
            "Video stopped ✓ The show is still live"
        )
        await stream_gone(http)
        assert (await show_state(http))["state"] == "live"
        await expect(page.locator("#video-status")).to_have_text("The show is live, with no video")

        # End asks first; keeping the show on changes nothing.
        await page.get_by_role("button", name="End show").click()
        dialog = page.get_by_role("dialog", name="End the show?")
        await expect(dialog).to_be_visible()
        await dialog.get_by_role("button", name="Keep the show on").click()
        await expect(dialog).to_be_hidden()
        assert (await show_state(http))["state"] == "live"

        # Live again, then End: the video stops and the show ends.
        await page.get_by_role("button", name="Go live").click()
        await expect(page.locator("#live-result")).to_have_text("You're live ✓", timeout=20_000)
        await wait_live(scheduled, within=20)
        await page.get_by_role("button", name="End show").click()
        await dialog.get_by_role("button", name="End the show").click()
        await expect(page.locator("#live-result")).to_have_text("The show has ended ✓")
        await stream_gone(http)
        assert (await show_state(http))["state"] == "ended"
        await expect(page.locator("#show-state")).to_have_text("Ended")
        await expect(page.locator("#video-status")).to_have_text("The show has ended")
        await expect(page.get_by_role("button", name="Go live")).to_be_disabled()
        await expect(page.get_by_role("button", name="End show")).to_be_disabled()


async def test_a_pin_from_the_lineup_reaches_viewers_and_unpin_takes_it_down(
    browser: Browser, live: LiveServer
) -> None:
    async with (
        opened(browser, studio_url(live), viewport=DESKTOP) as page,
        opened(browser, f"{live.url}/shows/{SHOW}") as watcher,
        await HubClient.open(ws_url(live, token=token("ana"))) as viewer,
    ):
        await loaded(page)
        await connected(watcher)
        row = lineup_row(page, "P-Scarce")
        await expect(row).to_contain_text("3 of 3")
        await row.get_by_role("button", name="Pin P-Scarce").click()
        await expect(page.locator("#pin-result")).to_have_text("Pinned P-Scarce ✓")
        await expect(row.locator(".studio-product__pinned")).to_be_visible()
        pinned = await viewer.event("pinned")
        assert pinned["data"]["sku"] == "p-scarce"
        await expect(watcher.locator("#pinned")).to_contain_text("P-Scarce")

        # Another pin replaces it; Unpin takes it down for everyone.
        other = lineup_row(page, "P-Plain")
        await other.get_by_role("button", name="Pin P-Plain").click()
        await expect(page.locator("#pin-result")).to_have_text("Pinned P-Plain ✓")
        await expect(row.locator(".studio-product__pinned")).to_be_hidden()
        await expect(watcher.locator("#pinned")).to_contain_text("P-Plain")
        await other.get_by_role("button", name="Unpin P-Plain").click()
        await expect(page.locator("#pin-result")).to_have_text("Unpinned P-Plain ✓")
        unpinned = await viewer.event("unpinned")
        assert unpinned["data"]["sku"] == "p-plain"
        await expect(watcher.locator("#pinned")).to_be_hidden()

        # A moderator's pause reaches the streamer too.
        async with httpx.AsyncClient(base_url=live.url) as http:
            pause = {"state": "paused", "reason": "checking stock"}
            assert (await http.post(f"/api/shows/{SHOW}/sales", headers=KEY, json=pause)).is_success
            await expect(page.locator("#sales-banner")).to_have_text(
                "Sales are paused: checking stock. Viewers can't buy until sales resume."
            )
            resume = {"state": "open"}
            assert (
                await http.post(f"/api/shows/{SHOW}/sales", headers=KEY, json=resume)
            ).is_success
            await expect(page.locator("#sales-banner")).to_be_hidden()


async def test_the_staff_pages_are_served_and_a_bad_show_id_is_not_found(
    server: LiveServer, http: httpx.AsyncClient
) -> None:
    for path, title in (("studio", "Studio"), ("moderate", "Moderation")):
        page = await http.get(f"/{path}/{SHOW}")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert f"<title>{title} · livecart</title>" in page.text
        missing = await http.get(f"/{path}/bad%7Bid%7D")
        assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]


async def test_a_flash_sale_counts_down_and_ends_by_the_servers_clock(
    browser: Browser, live: LiveServer, http: httpx.AsyncClient, redis: Redis
) -> None:
    async with (
        opened(browser, studio_url(live), viewport=DESKTOP, init_script=SKEWED_CLOCK) as page,
        await HubClient.open(ws_url(live, token=token("ana"))) as viewer,
    ):
        await loaded(page)
        panel = page.locator("#flash-panel")
        result = page.locator("#flash-result")

        # Bad input is refused field by field, and nothing is sent.
        await panel.get_by_label("Product").select_option(label="P-Scarce")
        await panel.get_by_label("Flash price").fill("4,5,0")
        await panel.get_by_label("Units at that price").fill("9")
        await panel.get_by_label("Lasts (seconds)").fill("0")
        await panel.get_by_role("button", name="Start the flash sale").click()
        await expect(result).to_have_text("Check the fields marked above")
        for label, words in {
            "Flash price": "Enter a price like 19.90",
            "Units at that price": "Only 3 left: enter at most that",
            "Lasts (seconds)": "Enter 1 to 21600 seconds (6 hours)",
        }.items():
            field = panel.get_by_label(label)
            await expect(field).to_have_attribute("aria-invalid", "true")
            await expect(field).to_have_accessible_description(re.compile(f"^{re.escape(words)}"))
        assert (await show_state(http))["flash_sale"] is None

        # A sale that opens in 2 s and lasts 3 s: counted down on the server's clock.
        await panel.get_by_label("Product").select_option(label="P-Plain")
        await panel.get_by_label("Flash price").fill("8")
        await panel.get_by_label("Units at that price").fill("5")
        await panel.get_by_label("Limit per buyer").fill("1")
        await panel.get_by_label("Starts in (seconds)").fill("2")
        await panel.get_by_label("Lasts (seconds)").fill("3")
        await panel.get_by_role("button", name="Start the flash sale").click()
        await expect(result).to_have_text("Flash sale announced ✓ It starts in 2 s")
        started = await viewer.event("flash_started")
        sale = started["data"]
        assert (sale["sku"], sale["price"], sale["quantity"], sale["per_buyer_limit"]) == (
            "p-plain",
            800,
            5,
            1,
        )
        assert sale["ends_ms"] - sale["starts_ms"] == 3000
        clock = page.locator("#flash-clock")
        await expect(page.locator("#flash-what")).to_have_text(
            "P-Plain: €8.00 (was €10.00), 5 units, 1 per buyer"
        )
        await expect(clock).to_have_text(re.compile(r"^Starts in 0:0[0-2]$"))
        await expect(clock).to_have_text(re.compile(r"^Ends in 0:0[1-3]$"))
        seconds, micros = await redis.time()
        assert int(seconds) * 1000 + int(micros) // 1000 >= sale["starts_ms"] - 250
        await expect(lineup_row(page, "P-Plain")).to_contain_text("€8.00 flash")

        await expect(result).to_have_text("The flash sale has ended", timeout=10_000)
        seconds, micros = await redis.time()
        ended_seen = int(seconds) * 1000 + int(micros) // 1000
        assert sale["ends_ms"] - 250 <= ended_seen <= sale["ends_ms"] + 1500
        await expect(page.locator("#flash-form")).to_be_visible()
        await expect(lineup_row(page, "P-Plain")).to_contain_text("€10.00")

        # A longer one, ended early from the studio.
        await panel.get_by_label("Starts in (seconds)").fill("60")
        await panel.get_by_label("Lasts (seconds)").fill("300")
        await panel.get_by_role("button", name="Start the flash sale").click()
        await expect(result).to_have_text("Flash sale announced ✓ It starts in 1 min")
        await expect(clock).to_have_text(re.compile(r"^Starts in (1:00|0:59)$"))
        await panel.get_by_role("button", name="End the flash sale now").click()
        await expect(result).to_have_text(re.compile(r"^The flash sale has ended( ✓)?$"))
        second = await viewer.event("flash_started", lambda e: e["data"]["id"] != sale["id"])
        ended = await viewer.event("flash_ended", lambda e: e["data"]["id"] == second["data"]["id"])
        assert ended["data"]["reason"] == "stopped"
        flash = (await show_state(http))["flash_sale"]
        assert flash is None or flash["phase"] == "ended"


async def test_the_figures_move_with_each_buy_made_over_http(
    browser: Browser, live: LiveServer, http: httpx.AsyncClient
) -> None:
    async with (
        opened(browser, studio_url(live), viewport=DESKTOP) as page,
        await HubClient.open(ws_url(live, token=token("ana"))),
    ):
        await loaded(page)
        figures = page.locator("#figures-panel")
        await expect(page.locator("#figure-viewers")).to_have_text("2")  # the studio and ana
        await expect(page.locator("#figure-revenue")).to_have_text("€0.00")
        await expect(page.locator("#figures-note")).to_contain_text("since this page opened")
        await expect(lineup_row(page, "P-Plain")).to_contain_text("50 of 50")

        async def buy(sku: str, quantity: int, key: str) -> None:
            body = {"sku": sku, "quantity": quantity, "idempotency_key": key}
            response = await http.post(f"/api/shows/{SHOW}/buy", headers=bearer("ana"), json=body)
            assert response.status_code == 201, response.text

        await buy("p-plain", 2, "tap-1")
        await expect(page.locator("#figure-orders")).to_have_text("1")
        await expect(page.locator("#figure-units")).to_have_text("2")
        await expect(page.locator("#figure-revenue")).to_have_text("€20.00")
        plain = lineup_row(page, "P-Plain")
        await expect(plain.locator("td").nth(1)).to_have_text("48 of 50")
        await expect(plain.locator("td").nth(2)).to_have_text("2")
        scarce = lineup_row(page, "P-Scarce")
        await expect(scarce.locator("td").nth(2)).to_have_text("—")

        await buy("p-scarce", 1, "tap-2")
        await expect(page.locator("#figure-orders")).to_have_text("2")
        await expect(page.locator("#figure-units")).to_have_text("3")
        await expect(page.locator("#figure-revenue")).to_have_text("€25.00")
        await expect(scarce.locator("td").nth(1)).to_have_text("2 of 3")
        await expect(scarce.locator("td").nth(2)).to_have_text("1")

        # During a flash sale a unit sells at the flash price, and the revenue says so.
        flash = {"sku": "p-limited", "price": 1900, "quantity": 5, "duration_s": 60}
        started = await http.post(f"/api/shows/{SHOW}/flash", headers=KEY, json=flash)
        assert started.status_code == 201, started.text
        await expect(lineup_row(page, "P-Limited")).to_contain_text("€19.00 flash")
        await buy("p-limited", 1, "tap-3")
        await expect(page.locator("#figure-revenue")).to_have_text("€44.00")
        await buy("p-dollars", 1, "tap-4")
        await expect(page.locator("#figure-revenue")).to_have_text("€44.00 + $7.00")
        await expect(page.locator("#figure-units")).to_have_text("5")
        await expect(page.locator("#figure-orders")).to_have_text("4")
        # A cart of two products is one order of two lines: the figures count one order.
        for sku in ("p-plain", "p-scarce"):
            added = await http.post(
                f"/api/shows/{SHOW}/cart", headers=bearer("ben"), json={"sku": sku, "quantity": 1}
            )
            assert added.status_code in (200, 201), added.text
        checkout = await http.post(
            f"/api/shows/{SHOW}/cart/checkout",
            headers=bearer("ben"),
            json={"idempotency_key": "cart-1"},
        )
        assert checkout.status_code == 201, checkout.text
        await expect(page.locator("#figure-orders")).to_have_text("5")
        await expect(page.locator("#figure-units")).to_have_text("7")
        await expect(page.locator("#figure-revenue")).to_have_text("€59.00 + $7.00")
        await expect(figures).to_contain_text("Orders, units and revenue since this page opened")


async def test_the_obs_panel_gives_the_whip_url_and_a_token_that_publishes(
    browser: Browser, live: LiveServer
) -> None:
    async with opened(browser, studio_url(live), viewport=DESKTOP) as page:
        await loaded(page)
        panel = page.locator("#obs-panel")
        url = await panel.get_by_label("Server (WHIP URL)").input_value()
        secret = panel.get_by_label("Bearer token")
        await expect(secret).to_have_attribute("type", "password")
        await panel.get_by_role("button", name="Show token").click()
        await expect(secret).to_have_attribute("type", "text")
        await expect(panel.get_by_role("button", name="Show token")).to_have_attribute(
            "aria-pressed", "true"
        )
        bearer_token = await secret.input_value()
        await expect(panel).to_contain_text("H.264, keyframe interval 1 s, no B-frames")
        await expect(panel.locator(".obs-note")).to_be_hidden()
        await page.context.grant_permissions(["clipboard-read"], origin=live.url)
        await panel.get_by_role("button", name="Copy URL").click()
        await expect(panel.locator(".staff-copy-row").first).to_contain_text("Copied ✓")
        copied = await page.evaluate("navigator.clipboard.readText()")
    assert url == f"{live.url}/api/shows/{SHOW}/whip" == copied
    assert bearer_token == STREAMER_TOKEN

    # What OBS would do with them: an offer (no candidates, as OBS sends it) gets 201.
    pc = RTCPeerConnection()
    try:
        pc.addTransceiver("video", direction="sendonly")
        pc.addTransceiver("audio", direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        offer = without_candidates(pc.localDescription.sdp)
        auth = {"Authorization": f"Bearer {bearer_token}"}
        answered = await post_sdp(url, offer, auth)
        assert answered.status_code == 201, answered.text
        assert answered.text.startswith("v=0")
        location = httpx.URL(url).join(answered.headers["location"])
        async with httpx.AsyncClient(timeout=10) as client:
            assert (await client.delete(location, headers=auth)).status_code == 200
    finally:
        await pc.close()


async def test_a_moderator_in_the_studio_is_told_in_words_when_the_server_refuses(
    browser: Browser, live: LiveServer, http: httpx.AsyncClient
) -> None:
    refused = "A moderator can't do that: only the show's streamer can"
    async with opened(browser, studio_url(live, token("mo", "moderator", SHOW))) as page:
        await loaded(page)
        await expect(page.locator("#who")).to_have_text("Signed in as mo (moderator)")
        await expect(page.locator("#obs-panel .obs-note")).to_have_text(
            "This link is not the streamer's, so OBS will be refused with this token."
        )
        await lineup_row(page, "P-Plain").get_by_role("button", name="Pin P-Plain").click()
        await expect(page.locator("#pin-result")).to_have_text(refused)

        panel = page.locator("#flash-panel")
        await panel.get_by_label("Product").select_option(label="P-Plain")
        await panel.get_by_label("Flash price").fill("8.00")
        await panel.get_by_label("Units at that price").fill("5")
        await panel.get_by_role("button", name="Start the flash sale").click()
        await expect(page.locator("#flash-result")).to_have_text(refused)

        await page.wait_for_function(
            "document.querySelector('#camera-panel video').readyState >= 2", timeout=10_000
        )
        await page.get_by_role("button", name="Go live").click()
        await expect(page.locator("#live-result")).to_have_text(refused, timeout=20_000)

        await page.get_by_role("button", name="End show").click()
        await (
            page.get_by_role("dialog", name="End the show?")
            .get_by_role("button", name="End the show")
            .click()
        )
        await expect(page.locator("#live-result")).to_have_text(refused)

        # The chat is open to every member of staff.
        await page.get_by_role("textbox", name="Message").fill("moderator here")
        await page.get_by_role("button", name="Send", exact=True).click()
        await expect(page.locator(".chat-list")).to_contain_text("moderator here")
    state = await show_state(http)
    assert (state["state"], state["pinned"], state["flash_sale"], state["stream"]) == (
        "live",
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("tok", "words"),
    [
        (
            token("ana", ttl_s=7200),
            "This page is for the show's staff, and you're signed in as a viewer. "
            "Open it with a staff link",
        ),
        (None, "This page needs its staff link: open the link you were given (it signs you in)"),
        (STREAMER_TOKEN[:-4] + "AAAA", "This staff link isn't valid. Ask for a new one"),
        (token("c1", "streamer", "s2", ttl_s=7200), "Your sign-in is for another show"),
    ],
    ids=["viewer", "no-token", "forged", "other-show"],
)
async def test_a_visitor_who_is_not_staff_of_the_show_is_told_so_and_gets_no_controls(
    browser: Browser, live: LiveServer, tok: str | None, words: str
) -> None:
    async with opened(browser, studio_url(live, tok)) as page:
        banner = page.locator("#access, #connection").filter(has_text=words)
        await expect(banner).to_be_visible(timeout=10_000)
        await expect(page.locator("#main")).to_be_hidden()
        # The camera was never asked for.
        assert (
            await page.evaluate("document.querySelector('#camera-panel video').srcObject") is None
        )


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_the_studio_has_no_serious_accessibility_violation(
    browser: Browser,
    live: LiveServer,
    http: httpx.AsyncClient,
    viewport: dict[str, int],
    screenshots: Path,
) -> None:
    name = "phone" if viewport == PHONE else "desktop"
    async with (
        opened(browser, studio_url(live), viewport=viewport) as page,
        await HubClient.open(ws_url(live, token=token("ana"))) as ana,
    ):
        await loaded(page)
        await page.wait_for_function(
            "document.querySelector('#camera-panel video').readyState >= 2", timeout=10_000
        )
        await ana.request("chat", text="is the beanie warm?")
        buy = {"sku": "p-plain", "quantity": 2, "idempotency_key": "tap-1"}
        assert (
            await http.post(f"/api/shows/{SHOW}/buy", headers=bearer("ana"), json=buy)
        ).status_code == 201
        await lineup_row(page, "P-Scarce").get_by_role("button", name="Pin P-Scarce").click()
        await expect(page.locator("#pin-result")).to_have_text("Pinned P-Scarce ✓")
        await page.get_by_role("textbox", name="Message").fill("Welcome, everyone!")
        await page.get_by_role("button", name="Send", exact=True).click()
        await expect(page.locator(".chat-list")).to_contain_text("Welcome, everyone!")
        await expect(page.locator("#figure-units")).to_have_text("2")

        # The form, refused on one field, then a sale coming.
        panel = page.locator("#flash-panel")
        await panel.get_by_label("Flash price").fill("")
        await panel.get_by_role("button", name="Start the flash sale").click()
        await expect(panel.get_by_label("Flash price")).to_have_attribute("aria-invalid", "true")
        await page.screenshot(path=screenshots / f"studio-{name}.png", full_page=viewport == PHONE)
        assert await serious_violations(page) == []

        await panel.get_by_label("Product").select_option(label="P-Plain")
        await panel.get_by_label("Flash price").fill("8.00")
        await panel.get_by_label("Units at that price").fill("5")
        await panel.get_by_label("Starts in (seconds)").fill("30")
        await panel.get_by_role("button", name="Start the flash sale").click()
        await expect(page.locator("#flash-clock")).to_have_text(re.compile(r"^Starts in 0:"))
        await page.get_by_role("button", name="End show").click()
        await expect(page.get_by_role("dialog", name="End the show?")).to_be_visible()
        await page.screenshot(path=screenshots / f"studio-end-dialog-{name}.png")
        assert await serious_violations(page) == []
        await page.keyboard.press("Escape")
        await expect(page.get_by_role("dialog", name="End the show?")).to_be_hidden()
        assert (await show_state(http))["state"] == "live"
