"""The landing page (/) in a real Chromium: the shows live now and the ones coming,
each opening its viewer page; nothing ended is offered."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, expect
from redis.asyncio import Redis

from livecart.commerce.shows.control import end_show, start_show
from livecart.commerce.shows.records import LineupEntry, NewShow, create_show
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.live_show import SHOW, opened, seed_live_show, serious_violations
from tests.helpers import LiveServer

pytestmark = pytest.mark.browser

SOON_MS = 1_900_000_000_000  # a Monday in 2030


async def seed_shows(server: LiveServer) -> None:
    """s1 live, `later` and `sometime` scheduled (one with a time), `over` ended."""
    runtime = server.runtime
    await seed_live_show(runtime, server.url)
    for show, title, scheduled in (
        ("sometime", "Unscheduled trail talk", None),
        ("later", "Winter layers drop", SOON_MS),
        ("over", "Last week's drop", None),
    ):
        await create_show(
            runtime.redis,
            runtime.scripts,
            NewShow(
                id=show,
                title=title,
                creator="leo",
                brand="northwind",
                lineup=(LineupEntry("nw-socks", 5),),
                scheduled_at_ms=scheduled,
            ),
            stream_max_events=runtime.settings.hub.stream_max_events,
        )
    await start_show(runtime, "over")
    await end_show(runtime, "over")


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_the_landing_page_lists_live_and_coming_shows_and_opens_the_viewer(
    browser: Browser, server: LiveServer, redis: Redis, viewport: dict[str, int], screenshots: Path
) -> None:
    await seed_shows(server)
    async with opened(browser, f"{server.url}/", viewport=viewport) as page:
        live = page.locator("#live-shows")
        coming = page.locator("#next-shows")
        await expect(live.get_by_role("link")).to_have_count(1)
        await expect(live).to_contain_text("Sunday trail gear drop")
        await expect(live).to_contain_text("with Maya Lindqvist")
        await expect(coming.get_by_role("listitem")).to_have_count(2)
        # The scheduled one first, then the one with no time yet.
        await expect(coming.locator(".show-card__title")).to_have_text(
            ["Winter layers drop", "Unscheduled trail talk"]
        )
        await expect(coming).to_contain_text("with Leo Park")
        await expect(coming).to_contain_text("Not scheduled yet")
        await expect(page.locator("main")).not_to_contain_text("Last week's drop")
        name = "phone" if viewport == PHONE else "desktop"
        await page.screenshot(path=screenshots / f"landing-{name}.png", full_page=True)
        assert await serious_violations(page) == []

        await live.get_by_role("link").click()
        await expect(page).to_have_url(f"{server.url}/shows/{SHOW}")
        await expect(page.locator("#show-title")).to_have_text("Sunday trail gear drop")


async def test_with_nothing_on_the_landing_page_says_so(
    browser: Browser, server: LiveServer, redis: Redis, screenshots: Path
) -> None:
    async with opened(browser, f"{server.url}/") as page:
        await expect(page.locator("#live-empty")).to_have_text("No show is live right now.")
        await expect(page.locator("#next-empty")).to_have_text("Nothing is scheduled yet.")
        assert await serious_violations(page) == []


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_the_not_found_page_has_no_serious_accessibility_violation(
    browser: Browser, server: LiveServer, viewport: dict[str, int], screenshots: Path
) -> None:
    async with opened(browser, f"{server.url}/shows/not%20an%20id", viewport=viewport) as page:
        await expect(page.get_by_role("heading", level=1)).to_have_text("There is no such page")
        name = "phone" if viewport == PHONE else "desktop"
        await page.screenshot(path=screenshots / f"not-found-{name}.png")
        assert await serious_violations(page) == []
        await page.get_by_role("link", name="See the shows live now").click()
        await expect(page).to_have_url(f"{server.url}/")
