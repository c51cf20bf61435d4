"""The whole journey a person sees: the studio goes live with the browser's (fake)
camera, a viewer page on a phone plays that video, and a pin made in the studio shows
over the viewer's video, timed to the frame by the markers the video carries."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from livecart.config import Settings
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.live_show import opened
from tests.browser.test_studio import studio_url
from tests.commerce.conftest import seed_show
from tests.helpers import LiveServer
from tests.netns import network_problem

pytestmark = pytest.mark.browser

PLAYING_FRAMES = """() => {
  const video = document.querySelector(".video-area video");
  return !video.hidden && video.readyState >= 2 && video.currentTime > 0.5
    && video.videoWidth > 0;
}"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    problem = network_problem()
    if problem is not None:
        pytest.fail(f"WebRTC tests need the test network namespace: {problem}")
    return settings.with_overrides({"checkout": {"payment_provider": "test"}})


async def test_a_viewer_watches_the_studios_camera_and_sees_its_pin_over_the_video(
    browser: Browser, server: LiveServer, screenshots: Path
) -> None:
    await seed_show(server.runtime, start=False)
    async with (
        opened(browser, studio_url(server), viewport=DESKTOP) as studio,
        opened(browser, f"{server.url}/shows/s1", viewport=PHONE) as viewer,
    ):
        await expect(viewer.locator(".video-state")).to_have_text(
            "Waiting for the stream to start", timeout=10_000
        )
        await studio.get_by_role("button", name="Go live").click()
        await expect(studio.locator("#live-result")).to_have_text("You're live ✓", timeout=20_000)

        # The viewer page hears stream_started and plays the camera over WHEP.
        await expect(viewer.locator(".video-area")).to_have_attribute(
            "data-state", "playing", timeout=20_000
        )
        await viewer.wait_for_function(PLAYING_FRAMES, timeout=20_000)

        await studio.get_by_role("button", name="Pin P-Plain").click()
        await expect(viewer.locator("#pinned")).to_contain_text("P-Plain", timeout=10_000)
        await expect(viewer.locator("#pinned")).to_contain_text("€10.00")
        await viewer.screenshot(path=screenshots / "viewer-playing-phone.png")
        await studio.screenshot(path=screenshots / "studio-pinned-live-desktop.png")

        # Someone who opens the show later gets the picture at once too: their join
        # asks the studio's encoder for a keyframe, which it makes on request only.
        async with opened(browser, f"{server.url}/shows/s1", viewport=PHONE) as late:
            await late.wait_for_function(PLAYING_FRAMES, timeout=10_000)
            await expect(late.locator("#pinned")).to_contain_text("P-Plain")

        await studio.get_by_role("button", name="Stop video").click()
        await expect(viewer.locator(".video-state")).to_have_text(
            "The stream has ended", timeout=10_000
        )
