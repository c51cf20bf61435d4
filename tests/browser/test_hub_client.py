"""The hub client's own rules (static/js/hub-client.js), run in Chromium against a real
node: ids compared as numbers, events applied once in id order, a card's stock never
older than a stock event already applied, and a frame from another epoch answered by
starting again from a snapshot."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page
from redis.asyncio import Redis

from tests.browser.live_show import SHOW, opened, seed_live_show
from tests.helpers import LiveServer

pytestmark = pytest.mark.browser


@pytest.fixture
async def page(browser: Browser, server: LiveServer, redis: Redis) -> AsyncIterator[Page]:
    await seed_live_show(server.runtime, server.url)
    async with opened(browser, f"{server.url}/") as landing:
        await landing.evaluate(
            "async () => { window.hc = await import('/static/js/hub-client.js'); }"
        )
        yield landing


async def test_stream_ids_compare_as_two_numbers(page: Page) -> None:
    compared = await page.evaluate(
        """() => [["9-0", "10-0"], ["10-2", "10-10"], ["10-1", "10-1"], ["11-0", "10-99"]]
                 .map(([a, b]) => window.hc.compareIds(a, b))"""
    )
    assert compared == [-1, -1, 0, 1]


async def test_a_late_card_never_brings_back_older_stock(page: Page) -> None:
    """An overlay event held back for its video frame (a pin) carries the stock of its
    moment; a stock event applied meanwhile is newer and stays."""
    state = await page.evaluate(
        """() => {
          const s = { show: {}, lineup: new Map([["a", { sku: "a", stock: 9 }]]),
                      chat: [], sold: new Map(), moderation: {} };
          const seen = new Map();
          const card = { sku: "a", title: "A", stock: 9 };
          const apply = (id, type, data) => window.hc.applyEvent(s, { id, type, data }, seen);
          apply("100-1", "stock", { sku: "a", stock: 7 });
          apply("100-0", "pinned", { sku: "a", product: card });
          const afterLatePin = s.lineup.get("a").stock;
          apply("101-0", "pinned", { sku: "a", product: { ...card, stock: 6 } });
          return [s.show.pinned, afterLatePin, s.lineup.get("a").stock, s.lineup.get("a").title];
        }"""
    )
    assert state == ["a", 7, 6, "A"]


async def test_chat_sales_and_flash_events_change_the_state_as_documented(page: Page) -> None:
    state = await page.evaluate(
        """() => {
          const s = { show: { flash_sale: null }, lineup: new Map(), chat: [], sold: new Map(),
                      moderation: { muted: new Map(), banned: new Set(), blockedKeywords: [] } };
          const apply = (id, type, data) => window.hc.applyEvent(s, { id, type, data });
          for (let i = 0; i < 205; i++) {
            apply(`${1000 + i}-0`, "chat", { user: "u", text: `m${i}`, staff: false });
          }
          apply("2000-0", "message_deleted", { message_id: "1204-0", by: "mo" });
          apply("2001-0", "sales_paused", { reason: "", by: "mo" });
          const paused = [s.show.sales, s.show.sales_reason];
          apply("2002-0", "flash_started", {
            id: "f1", sku: "a", price: 5, quantity: 3, per_buyer_limit: 0, starts_ms: 1, ends_ms: 2,
          });
          apply("2003-0", "flash_ended", { id: "f0", reason: "stopped" });
          const kept = s.show.flash_sale?.id;
          apply("2004-0", "flash_ended", { id: "f1", reason: "time" });
          apply("2005-0", "banned", { user: "bob", by: "mo" });
          apply("2006-0", "no_such_event", { anything: 1 });
          return { chat: s.chat.length, first: s.chat[0].text, last: s.chat.at(-1).text,
                   sentAt: s.chat.at(-1).sent_at_ms, paused, kept, flash: s.show.flash_sale,
                   banned: [...s.moderation.banned] };
        }"""
    )
    assert state == {
        "chat": 199,  # 200 kept, one deleted
        "first": "m5",
        "last": "m203",
        "sentAt": 1203,
        "paused": ["paused", None],
        "kept": "f1",
        "flash": None,
        "banned": ["bob"],
    }


async def test_events_already_applied_are_skipped_and_another_epoch_starts_over(
    page: Page, server: LiveServer
) -> None:
    result = await page.evaluate(
        """async (show) => {
          const hub = window.hc.createHubClient({ show });
          const changes = [];
          hub.subscribe((change) => {
            changes.push(change.kind === "event" ? change.event.type : change.kind);
          });
          const until = (test) => new Promise((resolve) => {
            const check = () => (test() ? resolve() : setTimeout(check, 20));
            check();
          });
          await until(() => hub.state.status === "live");
          const epoch = hub.state.epoch;
          const last = hub.state.last;
          // A replayed frame overlapping what the snapshot had: nothing is applied twice.
          hub.frame({ type: "events", epoch, last, events: [
            { id: last, type: "chat", data: { user: "u", text: "old", staff: false } }] });
          const chatAfterOverlap = hub.state.chat.length;
          // A frame from another epoch: the show was recreated; start from a snapshot.
          changes.length = 0;
          hub.frame({ type: "events", epoch: "other", last: "1-0", events: [] });
          await until(() => changes.includes("reset"));
          const out = { chatAfterOverlap, changes: [...changes], epoch: hub.state.epoch === epoch,
                        last: hub.state.last !== null, status: hub.state.status };
          hub.close();
          return out;
        }""",
        SHOW,
    )
    assert result["chatAfterOverlap"] == 0
    assert "reset" in result["changes"] and "resumed" not in result["changes"]
    assert result["epoch"] and result["last"] and result["status"] == "live"


async def test_a_tap_whose_outcome_is_unknown_keeps_its_key_and_an_outcome_frees_it(
    page: Page,
) -> None:
    """The buy actions (static/js/buy.js) over a stand-in for the hub's `request`: the
    key a tap was sent with is sent again by the next tap while the first's outcome is
    unknown, and never after it got one."""
    keys = await page.evaluate(
        """async () => {
          const { createActions } = await import("/static/js/buy.js");
          const { HubError } = window.hc;
          const replies = [
            () => { throw new HubError({ code: "connection_lost" }); },
            () => { throw new HubError({ code: "store_unavailable" }); },
            () => ({ type: "order", result: "confirmed", order: { id: "o_0123456789ab" } }),
            () => ({ type: "order", result: "sold_out" }),
            () => ({ type: "order", result: "sold_out" }),
          ];
          const sent = [];
          const hub = {
            token: "t",
            request: async (type, fields) => {
              sent.push(fields.idempotency_key);
              return replies.shift()();
            },
          };
          const actions = createActions({ hub, signIn: async () => true });
          const product = { sku: "a" };
          const texts = [];
          for (let i = 0; i < 5; i++) texts.push((await actions.buy(product, 100)).text);
          return { sent, texts };
        }"""
    )
    sent, texts = keys["sent"], keys["texts"]
    assert sent[0] == sent[1] == sent[2]  # retries of one tap
    assert len({sent[2], sent[3], sent[4]}) == 3  # after an outcome, each tap is new
    assert texts[2] == "Ordered ✓ #01234567" and texts[3] == "Sold out"
