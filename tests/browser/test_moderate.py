"""The moderator page (/moderate/{show}) in a real Chromium, driven as a moderator would:
sales paused with a reason and resumed, a viewer muted from their message (their next
message refused, the list saying until when) and unmuted, banned (their socket closed
4403) and unbanned, a message deleted for everyone, slow mode and blocked words. The
viewers are real hub sockets (tests/hub/live.py) and the viewer page."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, expect

from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.live_show import connected, opened, serious_violations
from tests.helpers import LiveServer, bearer
from tests.hub.live import SHOW, HubClient, live, settings, token, ws_url

__all__ = ["live", "settings"]

pytestmark = pytest.mark.browser

# Minted at import, so it must outlive the whole run (a 600 s token would not).
MODERATOR_TOKEN = token("mo", "moderator", SHOW, ttl_s=7200)


@pytest.fixture
async def http(live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
        yield client


def moderate_url(server: LiveServer, tok: str | None = MODERATOR_TOKEN) -> str:
    fragment = f"#token={tok}" if tok else ""
    return f"{server.url}/moderate/{SHOW}{fragment}"


async def loaded(page: Page) -> None:
    await expect(page.locator("#show-title")).to_have_text("Show", timeout=10_000)


def message(page: Page, text: str) -> Locator:
    return page.locator(".chat-list .chat-message", has_text=text)


async def time_of_day(page: Page, until_ms: int) -> str:
    """``until_ms`` (Redis' clock) as the page shows a time of day."""
    shown: str = await page.evaluate(
        """ms => new Date(ms - window.livecart.hub.state.clockOffsetMs)
                  .toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"})""",
        until_ms,
    )
    return shown


async def test_sales_pause_with_a_reason_reaches_viewers_and_resume_opens_them_again(
    browser: Browser, live: LiveServer, http: httpx.AsyncClient
) -> None:
    async with (
        opened(browser, moderate_url(live), viewport=DESKTOP) as page,
        opened(browser, f"{live.url}/shows/{SHOW}") as watcher,
        await HubClient.open(ws_url(live, token=token("ana"))) as ana,
    ):
        await loaded(page)
        await connected(watcher)
        panel = page.locator("#sales-panel")
        await expect(panel.locator("#sales-state")).to_have_text("Sales are open")
        await expect(panel.get_by_role("button", name="Resume sales")).to_be_disabled()
        await panel.get_by_label("Reason shown to viewers (optional)").fill("restocking")
        await panel.get_by_role("button", name="Pause sales").click()
        await expect(panel.locator("#sales-result")).to_have_text(
            "Sales paused ✓ Viewers see the reason"
        )
        await expect(panel.locator("#sales-state")).to_have_text("Sales are paused: restocking")
        paused = await ana.event("sales_paused")
        assert paused["data"] == {"reason": "restocking", "by": "mo"}
        await expect(watcher.locator("#sales-banner")).to_have_text(
            "Sales are paused right now: restocking"
        )
        refused = await http.post(
            f"/api/shows/{SHOW}/buy",
            headers=bearer("ana"),
            json={"sku": "p-plain", "idempotency_key": "tap-1"},
        )
        assert refused.status_code == 409 and refused.json()["result"] == "sales_paused"

        await panel.get_by_role("button", name="Resume sales").click()
        await expect(panel.locator("#sales-result")).to_have_text("Sales are open again ✓")
        await expect(panel.locator("#sales-state")).to_have_text("Sales are open")
        await ana.event("sales_resumed")
        await expect(watcher.locator("#sales-banner")).to_be_hidden()
        await expect(panel.get_by_label("Reason shown to viewers (optional)")).to_have_value("")

        # By keyboard alone: Enter in the reason pauses; Tab passes the paused Pause button
        # to Resume; Enter resumes, and the focus is handed back to the reason.
        reason = panel.get_by_label("Reason shown to viewers (optional)")
        await reason.focus()
        await page.keyboard.type("back in five")
        await page.keyboard.press("Enter")
        await expect(panel.locator("#sales-state")).to_have_text("Sales are paused: back in five")
        await page.keyboard.press("Tab")
        await expect(panel.get_by_role("button", name="Resume sales")).to_be_focused()
        await page.keyboard.press("Enter")
        await expect(panel.locator("#sales-state")).to_have_text("Sales are open")
        await expect(reason).to_be_focused()


async def test_a_viewer_muted_from_their_message_is_refused_and_listed_until_unmuted(
    browser: Browser, live: LiveServer
) -> None:
    async with (
        opened(browser, moderate_url(live), viewport=DESKTOP) as page,
        await HubClient.open(ws_url(live, token=token("ana"))) as ana,
    ):
        await loaded(page)
        assert (await ana.request("chat", text="first!"))["type"] == "ack"
        line = message(page, "first!")
        await expect(line).to_contain_text("ana")
        await page.get_by_label("Mute for").select_option(label="1 hour")
        await line.get_by_role("button", name="Mute ana").click()
        muted = await ana.next_of("muted")
        until = await time_of_day(page, muted["until_ms"])
        await expect(line.locator(".mod-line__result")).to_have_text(
            f"ana is muted until {until} ✓"
        )
        # The length chosen: an hour from about now (the hello came just before).
        assert 3_600_000 <= muted["until_ms"] - ana.hello["server_time_ms"] <= 3_660_000
        refused = await ana.request("chat", text="why?")
        assert refused["code"] == "muted" and refused["until_ms"] == muted["until_ms"]

        people = page.locator("#people-panel")
        row = people.locator("#muted-body tr", has_text="ana")
        await expect(row).to_contain_text(until)
        await expect(people.locator("#muted-none")).to_be_hidden()
        await row.get_by_role("button", name="Unmute ana").click()
        await expect(people.locator("#people-result")).to_have_text("ana can chat again ✓")
        await expect(people.locator("#muted-none")).to_have_text("Nobody is muted.")
        await ana.next_of("unmuted")
        assert (await ana.request("chat", text="thanks"))["type"] == "ack"


async def test_a_banned_viewers_socket_is_closed_4403_until_they_are_unbanned(
    browser: Browser, live: LiveServer
) -> None:
    async with opened(browser, moderate_url(live), viewport=DESKTOP) as page:
        await loaded(page)
        ana = await HubClient.open(ws_url(live, token=token("ana")))
        await ana.request("chat", text="buy followers at my site")
        line = message(page, "buy followers at my site")
        dialog = page.get_by_role("dialog", name="Ban ana from this show?")

        # Ban asks first; Cancel leaves ana connected.
        await line.get_by_role("button", name="Ban ana").click()
        await expect(dialog).to_be_visible()
        await dialog.get_by_role("button", name="Cancel").click()
        await expect(dialog).to_be_hidden()
        assert (await ana.request("ping"))["type"] == "ack"

        await line.get_by_role("button", name="Ban ana").click()
        await dialog.get_by_role("button", name="Ban ana").click()
        await expect(line.locator(".mod-line__result")).to_have_text("ana is banned ✓")
        code, reason = await ana.closed()
        assert code == 4403 and reason is not None and reason.startswith("banned")
        people = page.locator("#people-panel")
        row = people.locator("#banned-body tr", has_text="ana")
        await expect(row).to_be_visible()
        again = await HubClient.open(ws_url(live, token=token("ana")), expect_hello=False)
        assert (await again.closed())[0] == 4403

        await row.get_by_role("button", name="Unban ana").click()
        await expect(people.locator("#people-result")).to_have_text("ana may come back ✓")
        await expect(people.locator("#banned-none")).to_have_text("Nobody is banned.")
        async with await HubClient.open(ws_url(live, token=token("ana"))) as back:
            assert back.hello["you"]["user"] == "ana"


async def test_a_deleted_message_disappears_for_everyone(
    browser: Browser, live: LiveServer
) -> None:
    async with (
        opened(browser, moderate_url(live), viewport=DESKTOP) as page,
        opened(browser, f"{live.url}/shows/{SHOW}") as watcher,
        await HubClient.open(ws_url(live, token=token("ana"))) as ana,
    ):
        await loaded(page)
        await connected(watcher)
        posted = await ana.request("chat", text="spoiler: it sells out")
        await ana.request("chat", text="harmless hello")
        await expect(watcher.locator(".chat-list")).to_contain_text("spoiler: it sells out")
        await message(page, "spoiler").get_by_role("button", name="Delete ana's message").click()
        await expect(message(page, "spoiler")).to_have_count(0)
        await expect(watcher.locator(".chat-list")).not_to_contain_text("spoiler")
        await expect(watcher.locator(".chat-list")).to_contain_text("harmless hello")
        deleted = await ana.event("message_deleted")
        assert deleted["data"] == {"message_id": posted["message_id"], "by": "mo"}

        # A staff message offers Delete only.
        await page.get_by_role("textbox", name="Message").fill("Be kind, everyone")
        await page.get_by_role("button", name="Send", exact=True).click()
        own = message(page, "Be kind, everyone")
        await expect(own.get_by_role("button", name="Delete mo's message")).to_be_visible()
        await expect(own.get_by_role("button", name=re.compile("^(Mute|Ban) "))).to_have_count(0)


async def test_slow_mode_makes_a_viewer_wait_and_off_lets_them_talk(
    browser: Browser, live: LiveServer
) -> None:
    async with (
        opened(browser, moderate_url(live)) as page,
        await HubClient.open(ws_url(live, token=token("ana"))) as ana,
    ):
        await loaded(page)
        panel = page.locator("#slow-panel")
        await expect(panel.locator("#slow-state")).to_have_text("Slow mode is off")
        await panel.get_by_label("Time between a viewer's messages").select_option(label="30 s")
        await panel.get_by_role("button", name="Set").click()
        await expect(panel.locator("#slow-result")).to_have_text("Slow mode on ✓ 30 s")
        await expect(panel.locator("#slow-state")).to_have_text(
            "Slow mode is on: 30 s between a viewer's messages"
        )
        assert (await ana.event("slow_mode"))["data"]["seconds"] == 30
        assert (await ana.request("chat", text="one"))["type"] == "ack"
        refused = await ana.request("chat", text="two")
        assert refused["code"] == "slow_mode" and 25_000 < refused["retry_after_ms"] <= 30_000

        await panel.get_by_label("Time between a viewer's messages").select_option(label="Off")
        await panel.get_by_role("button", name="Set").click()
        await expect(panel.locator("#slow-result")).to_have_text("Slow mode off ✓")
        await expect(panel.locator("#slow-state")).to_have_text("Slow mode is off")
        assert (await ana.request("chat", text="three"))["type"] == "ack"


async def test_blocked_words_are_listed_added_and_removed(
    browser: Browser, live: LiveServer
) -> None:
    async with await HubClient.open(ws_url(live, token=MODERATOR_TOKEN)) as other_moderator:
        await other_moderator.request("blocked_keywords", words=["spoiler"])
    async with (
        opened(browser, moderate_url(live)) as page,
        await HubClient.open(ws_url(live, token=token("ana"))) as ana,
    ):
        await loaded(page)
        panel = page.locator("#keywords-panel")
        words = panel.locator("#keyword-list")
        chips = words.locator("li")
        await expect(chips).to_contain_text(["spoiler"])  # from the staff hello
        await expect(chips).to_have_count(1)

        await panel.get_by_label("Block a word").fill("Scam, fake ")
        await panel.get_by_role("button", name="Block", exact=True).click()
        await expect(panel.locator("#keyword-result")).to_have_text("Blocked “Scam”, “fake” ✓")
        await expect(chips).to_contain_text(["fake", "scam", "spoiler"])
        await expect(chips).to_have_count(3)
        await expect(panel.get_by_label("Block a word")).to_have_value("")
        refused = await ana.request("chat", text="total SCAM")
        assert refused["code"] == "blocked_keyword"

        await words.get_by_role("button", name="Unblock scam").click()
        await expect(panel.locator("#keyword-result")).to_have_text("“scam” is allowed again ✓")
        await expect(chips).to_contain_text(["fake", "spoiler"])
        await expect(chips).to_have_count(2)
        await expect(panel.get_by_label("Block a word")).to_be_focused()
        assert (await ana.request("chat", text="total scam"))["type"] == "ack"

        # A word too long is refused before anything is sent.
        await panel.get_by_label("Block a word").fill("x" * 51)
        await panel.get_by_role("button", name="Block", exact=True).click()
        await expect(panel.locator("#keyword-result")).to_have_text(
            "A word may have at most 50 characters"
        )


async def test_a_mute_from_before_the_page_opened_is_lifted_by_user_id(
    browser: Browser, live: LiveServer
) -> None:
    async with (
        await HubClient.open(ws_url(live, token=MODERATOR_TOKEN)) as earlier,
        await HubClient.open(ws_url(live, token=token("bob"))) as bob,
    ):
        await earlier.request("mute", user="bob", seconds=600)
        async with opened(browser, moderate_url(live)) as page:
            await loaded(page)
            people = page.locator("#people-panel")
            await expect(people.locator("#muted-none")).to_have_text("Nobody is muted.")
            await expect(people.locator("#people-note")).to_contain_text(
                "mutes and bans made since this page opened; earlier ones are not known here"
            )
            await people.get_by_label("User id").fill("bob")
            await people.get_by_role("button", name="Unmute", exact=True).click()
            await expect(people.locator("#people-result")).to_have_text("bob can chat again ✓")
            await people.get_by_role("button", name="Unban", exact=True).click()
            await expect(people.locator("#people-result")).to_have_text("bob wasn't banned")
            await people.get_by_label("User id").fill("not an id")
            await people.get_by_role("button", name="Unmute", exact=True).click()
            await expect(people.get_by_label("User id")).to_have_attribute("aria-invalid", "true")
        assert (await bob.request("chat", text="back"))["type"] == "ack"


@pytest.mark.parametrize(
    ("tok", "words"),
    [
        (
            token("ana", ttl_s=7200),
            "This page is for the show's staff, and you're signed in as a viewer. "
            "Open it with a staff link",
        ),
        (None, "This page needs its staff link: open the link you were given (it signs you in)"),
        (token("mo", "moderator", "s2", ttl_s=7200), "Your sign-in is for another show"),
    ],
    ids=["viewer", "no-token", "other-show"],
)
async def test_a_visitor_who_is_not_staff_of_the_show_is_told_so(
    browser: Browser, live: LiveServer, tok: str | None, words: str
) -> None:
    async with opened(browser, moderate_url(live, tok)) as page:
        banner = page.locator("#access, #connection").filter(has_text=words)
        await expect(banner).to_be_visible(timeout=10_000)
        await expect(page.locator("#main")).to_be_hidden()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_the_moderator_page_has_no_serious_accessibility_violation(
    browser: Browser, live: LiveServer, viewport: dict[str, int], screenshots: Path
) -> None:
    name = "phone" if viewport == PHONE else "desktop"
    async with (
        await HubClient.open(ws_url(live, token=token("ana"))) as ana,
        await HubClient.open(ws_url(live, token=token("zoe"))) as zoe,
        opened(browser, moderate_url(live), viewport=viewport) as page,
    ):
        await loaded(page)
        await ana.request("chat", text="is the beanie warm?")
        await zoe.request("chat", text="first time here, hello!")
        await ana.request("chat", text="buy cheap followers at my site")
        await expect(message(page, "followers")).to_be_visible()
        await message(page, "followers").get_by_role("button", name="Mute ana").click()
        await expect(page.locator("#muted-body")).to_contain_text("ana")
        await page.locator("#keywords-panel").get_by_label("Block a word").fill("followers")
        await (
            page.locator("#keywords-panel").get_by_role("button", name="Block", exact=True).click()
        )
        await expect(page.locator("#keyword-list")).to_contain_text("followers")
        await page.get_by_label("Reason shown to viewers (optional)").fill("checking stock")
        await page.get_by_role("button", name="Pause sales").click()
        await expect(page.locator("#sales-state")).to_have_text("Sales are paused: checking stock")
        await page.screenshot(
            path=screenshots / f"moderate-{name}.png", full_page=viewport == PHONE
        )
        assert await serious_violations(page) == []

        await message(page, "first time").get_by_role("button", name="Ban zoe").click()
        await expect(page.get_by_role("dialog", name="Ban zoe from this show?")).to_be_visible()
        await page.screenshot(path=screenshots / f"moderate-ban-dialog-{name}.png")
        assert await serious_violations(page) == []
        await page.keyboard.press("Escape")
        assert (await zoe.request("ping"))["type"] == "ack"
