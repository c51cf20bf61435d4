"""A viewer page whose node dies: the page says it lost the connection, resumes by
itself on the node that takes the address over, and misses nothing that happened
meanwhile; its chat and stock end up exactly as on a page that stayed connected."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from livecart.config import Settings
from livecart.runtime import Runtime
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
)
from tests.helpers import STRONG_ADMIN_KEY, STRONG_SECRET, LivecartProcess

pytestmark = pytest.mark.browser

BUY_SOCKS = "Buy Hiking socks, 3 pairs, €19.00"


def node_env(settings: Settings) -> dict[str, str]:
    return {
        "LIVECART_REDIS_URL": settings.redis.url,
        "LIVECART_AUTH_SECRET": STRONG_SECRET,
        "LIVECART_AUTH_ADMIN_API_KEY": STRONG_ADMIN_KEY,
        "LIVECART_HUB_TICK_MS": "10",
        "LIVECART_SERVER_LOG_LEVEL": "warning",
        "LIVECART_SERVER_SHUTDOWN_TIMEOUT_S": "3",
    }


class Nodes:
    """`livecart serve` processes on the session's Redis; stopped at the end."""

    def __init__(self, settings: Settings, cwd: Path) -> None:
        self.env = node_env(settings)
        self.cwd = cwd
        self.processes: list[LivecartProcess] = []

    async def start(self, port: int = 0) -> tuple[LivecartProcess, str]:
        process = LivecartProcess(["serve", "--port", str(port)], cwd=self.cwd, env=self.env)
        self.processes.append(process)
        return process, await asyncio.to_thread(process.wait_for_url)

    async def stop_all(self) -> None:
        for process in self.processes:
            if process.proc.poll() is None:
                process.signal(signal.SIGTERM)
        for process in self.processes:
            try:
                await asyncio.to_thread(process.wait, 10)
            except subprocess.TimeoutExpired:
                pass
            finally:
                process.kill()


@pytest.fixture
async def nodes(settings: Settings, runtime: Runtime, tmp_path: Path) -> AsyncIterator[Nodes]:
    started = Nodes(settings, tmp_path)
    try:
        yield started
    finally:
        await started.stop_all()


async def chat_lines(page: Page) -> list[str]:
    return await page.locator(".chat-list li").all_inner_texts()


VIEW = """() => {
  const s = window.livecart.hub.state;
  return {
    stock: [...s.lineup.values()].map((p) => [p.sku, p.stock]),
    pinned: s.show.pinned,
    sales: s.show.sales,
    chat: s.chat.map((m) => m.id),
    last: s.last,
  };
}"""


async def settled_views(a: Page, b: Page, within: float = 5.0) -> tuple[object, object]:
    """Both pages' hub state once they agree (events reach pages a tick apart), or as
    they last were when they never do."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        views = await a.evaluate(VIEW), await b.evaluate(VIEW)
        if views[0] == views[1] or asyncio.get_running_loop().time() > deadline:
            return views
        await asyncio.sleep(0.1)


async def test_a_page_whose_node_dies_resumes_on_the_next_and_misses_no_event(
    browser: Browser, nodes: Nodes, runtime: Runtime
) -> None:
    a, a_url = await nodes.start()
    _, b_url = await nodes.start()
    await seed_live_show(runtime, b_url)
    port = int(a_url.rsplit(":", 1)[1])
    async with httpx.AsyncClient(base_url=b_url, timeout=10) as http:
        ana, ana_token = await buyer_token(http, "Ana")
        bo, bo_token = await buyer_token(http, "Bo")
        await pin(http, "nw-socks")
        async with (
            opened(browser, f"{a_url}/shows/{SHOW}#token={ana_token}") as moving,
            opened(browser, f"{b_url}/shows/{SHOW}#token={bo_token}", viewport=DESKTOP) as staying,
        ):
            for page in (moving, staying):
                await connected(page)
                await expect(card(page)).to_contain_text("40 left")
            await moving.get_by_role("textbox", name="Message").fill("before the crash")
            await moving.get_by_role("button", name="Send", exact=True).click()
            await expect(staying.locator(".chat-list")).to_contain_text("before the crash")

            a.kill()  # SIGKILL: no close frame, no goodbye
            await expect(moving.locator("#connection")).to_have_text(
                "Connection lost. Reconnecting…", timeout=15_000
            )

            # While the page is away: chat, a buy, a pause and a new pin, all through B.
            for text in ("one", "two", "three"):
                await staying.get_by_role("textbox", name="Message").fill(f"while away {text}")
                await staying.get_by_role("button", name="Send", exact=True).click()
                await expect(staying.locator(".chat-list")).to_contain_text(f"while away {text}")
            await (
                card(staying)
                .get_by_role("button", name="Buy Hiking socks, 3 pairs, €19.00")
                .click()
            )
            await expect(card(staying)).to_contain_text("39 left")
            paused = await http.post(
                f"/api/shows/{SHOW}/sales", headers=KEY, json={"state": "paused", "reason": "break"}
            )
            assert paused.status_code == 200
            await pin(http, "nw-beanie")
            await expect(card(staying)).to_contain_text("Rib-knit beanie")

            # A tap while the page is away waits for the connection; it is then decided
            # by what happened meanwhile (the pause) and answered in words.
            await moving.get_by_role("button", name="Products in this show (3)").click()
            socks = moving.get_by_role("dialog", name="In this show").locator(
                ".lineup-item", has_text="Hiking socks"
            )
            await socks.get_by_role("button", name=BUY_SOCKS).click()
            await expect(socks.locator(".lc-result")).to_have_text("Buying…")

            # Another node takes the dead one's address; the page comes back by itself.
            await nodes.start(port)
            await expect(moving.locator("#connection")).to_be_hidden(timeout=40_000)
            await expect(socks.locator(".lc-result")).to_have_text("Sales are paused right now")
            await moving.keyboard.press("Escape")
            await expect(card(moving)).to_contain_text("Rib-knit beanie")
            await expect(moving.locator("#sales-banner")).to_have_text(
                "Sales are paused right now: break"
            )
            await expect(moving.locator(".chat-list")).to_contain_text("while away three")
            assert await chat_lines(moving) == await chat_lines(staying)
            assert [line.split(" ", 1)[0] for line in await chat_lines(moving)] == [ana, bo, bo, bo]
            moved, stayed = await settled_views(moving, staying)
            assert moved == stayed, (moved, stayed)
            assert ["nw-socks", 39] in moved["stock"]
            orders = (await http.get(f"/api/orders?show={SHOW}", headers=KEY)).json()["items"]
            assert [o["buyer"] for o in orders] == [bo]

            # And it acts again on the new node.
            await moving.get_by_role("textbox", name="Message").fill("back again")
            await moving.get_by_role("button", name="Send", exact=True).click()
            await expect(staying.locator(".chat-list")).to_contain_text("back again")
