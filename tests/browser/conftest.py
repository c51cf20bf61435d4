"""A real headless Chromium (Debian's, never a downloaded one) driven by Playwright, for
the page and video tests. It runs inside the test run's network namespace (see
tests/netns.py), with a fake camera and microphone that need no permission prompt."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these, Chromium keeps trying to reach Google's hosts from a closed network.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # A fake camera and microphone, granted without a prompt.
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    # Real host candidates, not mDNS names, so aioice can pair with them directly.
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]

#: Where tests write page screenshots for people to look at (not compared by tests).
SCREENSHOTS = Path(os.environ.get("LIVECART_SCREENSHOTS", "screenshots"))

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: tests/run installs Debian's chromium with apt-get")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
