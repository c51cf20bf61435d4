"""Live auctions and giveaways in a real Chromium, driven as people would: the streamer
starts them from the studio, viewers bid with one tap (or a max bid) and enter from the
card over the video, the countdown runs by Redis' clock, the winner is told, and a
moderator removes a bidder and cancels an auction from the moderator page. Every
outcome is read on screen, in words, where the person tapped."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, expect
from redis.asyncio import Redis

from livecart.config import Settings
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.live_show import (
    SHOW,
    buyer_token,
    connected,
    opened,
    seed_live_show,
    serious_violations,
    sign_up,
)
from tests.helpers import LiveServer
from tests.hub.live import HubClient, token, ws_url

pytestmark = pytest.mark.browser

CLOCK = re.compile(r"^\d+:\d\d$")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The test payment provider declines buyers whose id starts with "decline".
    return settings.with_overrides(
        {"hub": {"tick_ms": 10}, "checkout": {"payment_provider": "test"}}
    )


@pytest.fixture
async def live(server: LiveServer, redis: Redis) -> LiveServer:
    await seed_live_show(server.runtime, server.url)
    return server


@pytest.fixture
async def http(live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as client:
        yield client


def viewer_url(server: LiveServer, tok: str | None = None) -> str:
    return f"{server.url}/shows/{SHOW}" + (f"#token={tok}" if tok else "")


def studio_url(server: LiveServer) -> str:
    return f"{server.url}/studio/{SHOW}#token={token('maya', 'streamer', SHOW, ttl_s=7200)}"


def moderate_url(server: LiveServer) -> str:
    return f"{server.url}/moderate/{SHOW}#token={token('mo', 'moderator', SHOW, ttl_s=7200)}"


def auction_card(page: Page) -> Locator:
    return page.locator("#auction")


def giveaway_card(page: Page) -> Locator:
    return page.locator("#giveaway")


def standing(card: Locator) -> Locator:
    """Where the viewer stands, in words ("You're winning", "Outbid…", "You won!…")."""
    return card.locator(".auction-card__standing")


def bid_button(page: Page, amount: str = "") -> Locator:
    """The card's one-tap Bid button (for ``amount``, "€10.00", when given)."""
    return auction_card(page).get_by_role("button", name=re.compile(rf"^Bid {re.escape(amount)}"))


async def fits_the_width(page: Page) -> None:
    """Nothing on the page is wider than the screen (no sideways scrolling on a phone)."""
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    card = page.locator("#auction .auction-card")
    if await card.count():
        assert await card.evaluate("(c) => c.scrollWidth <= c.clientWidth")


async def studio_loaded(page: Page) -> None:
    await expect(page.locator("#show-title")).to_have_text("Sunday trail gear drop", timeout=10_000)


async def start_auction(server: LiveServer, **fields: Any) -> dict[str, Any]:
    """A 60 s auction of the beanie from €10, +€1 a bid, started over the streamer's socket."""
    body = {"sku": "nw-beanie", "start_price": 1000, "increment": 100, "duration_s": 60, **fields}
    async with await HubClient.open(ws_url(server, token=token("maya", "streamer", SHOW))) as hub:
        reply = await hub.request("auction_start", **body)
    assert reply["type"] == "ack", reply
    view: dict[str, Any] = reply["auction"]
    return view


async def test_viewers_bid_with_one_tap_the_outbid_one_is_told_and_the_winner_sees_they_won(
    browser: Browser, live: LiveServer, http: httpx.AsyncClient, screenshots: Path
) -> None:
    _, ana_token = await buyer_token(http, "Ana")
    _, bo_token = await buyer_token(http, "Bo")
    async with (
        opened(browser, studio_url(live), viewport=DESKTOP) as studio,
        opened(browser, viewer_url(live, ana_token)) as ana,
        opened(browser, viewer_url(live, bo_token), viewport=DESKTOP) as bo,
    ):
        await studio_loaded(studio)
        await connected(ana)
        await connected(bo)
        for page in (ana, bo):
            await expect(auction_card(page)).to_be_hidden()

        # The streamer starts a 10 s sudden-death auction of the beanie from €10, +€1 a bid.
        panel = studio.locator("#auction-panel")
        await panel.get_by_label("Product").select_option(label="Rib-knit beanie")
        await panel.get_by_label("Start price").fill("10")
        await panel.get_by_label("Bid step").fill("1")
        await panel.get_by_label("Lasts (seconds)").fill("10")
        await panel.get_by_role("button", name="Start the auction").click()
        await expect(panel.locator("#auction-result")).to_have_text("Auction on ✓ It ends in 10 s")
        await expect(panel.locator("#auction-price-label")).to_have_text("No bids yet")

        # Every viewer sees the card with the start price and a countdown by the server's clock.
        for page in (ana, bo):
            card = auction_card(page)
            await expect(card).to_be_visible()
            await expect(card).to_contain_text("Rib-knit beanie")
            await expect(card).to_contain_text("Starting bid €10.00")
            await expect(card.locator(".auction-card__clock")).to_have_text(CLOCK)
            await expect(bid_button(page, "€10.00")).to_be_enabled()
        first = await auction_card(ana).locator(".auction-card__clock").inner_text()
        assert first in {"0:10", "0:09", "0:08", "0:07"}, first

        # Ana bids with one tap: she leads, and Bo sees her name on the current bid.
        await bid_button(ana, "€10.00").click()
        await expect(standing(auction_card(ana))).to_have_text("You're winning")
        await expect(auction_card(bo)).to_contain_text("Current bid €10.00 · Ana")

        # Bo taps the next bid: he leads, and Ana is told at once that she was outbid.
        await bid_button(bo, "€11.00").click()
        await expect(standing(auction_card(bo))).to_have_text("You're winning")
        await expect(standing(auction_card(ana))).to_have_text(re.compile(r"^Outbid"))
        await expect(bid_button(ana, "€12.00")).to_be_visible()
        await expect(panel.locator("#auction-price")).to_have_text("€11.00")
        await expect(panel.locator("#auction-leader")).to_have_text("Bo")
        await expect(panel.locator("#auction-bids")).to_have_text(re.compile(r"^2"))
        await ana.screenshot(path=screenshots / "auction-outbid-phone.png")
        await fits_the_width(ana)
        await bo.screenshot(path=screenshots / "auction-winning-desktop.png")
        await studio.screenshot(path=screenshots / "auction-studio-desktop.png")
        assert await serious_violations(studio) == []

        # At the end, by the server's clock: Bo won; Ana reads who it was sold to.
        await expect(standing(auction_card(bo))).to_have_text("You won! €11.00", timeout=15_000)
        await expect(standing(auction_card(ana))).to_have_text(
            "Sold to Bo for €11.00", timeout=15_000
        )
        await expect(bid_button(ana)).to_be_hidden()
        await expect(panel.locator("#auction-outcome")).to_have_text("Sold to Bo for €11.00")
        await expect(panel.locator("#auction-form")).to_be_visible()
        await bo.screenshot(path=screenshots / "auction-won-desktop.png")
        await ana.screenshot(path=screenshots / "auction-sold-phone.png")
        assert await serious_violations(ana) == []


async def test_a_signed_out_viewer_is_asked_to_sign_up_and_a_max_bid_keeps_them_winning(
    browser: Browser, live: LiveServer, http: httpx.AsyncClient, screenshots: Path
) -> None:
    _, bo_token = await buyer_token(http, "Bo")
    async with (
        opened(browser, viewer_url(live)) as ana,
        opened(browser, viewer_url(live, bo_token)) as bo,
    ):
        await connected(ana)
        await connected(bo)
        await start_auction(live)
        card = auction_card(ana)
        await expect(card).to_contain_text("Starting bid €10.00")

        # Signed out, the card shows, and a tap on Bid asks for the sign-up first.
        await card.locator("summary").click()
        await card.get_by_label("Your bid").fill("12")
        await card.get_by_label("Max bid (optional)").fill("20")
        await ana.screenshot(path=screenshots / "auction-custom-bid-phone.png")
        await fits_the_width(ana)
        await card.get_by_role("button", name="Place bid").click()
        await sign_up(ana, name="Ana Berg", email="ana.berg@example.com")
        await expect(card.locator(".auction-card__result")).to_have_text(
            "Bid placed ✓ You're winning; we bid for you up to €20.00"
        )
        await expect(standing(card)).to_have_text("You're winning")
        await expect(auction_card(bo)).to_contain_text("Current bid €12.00 · Ana")

        # Bo's one tap is beaten by Ana's max at once: he is told in words, she still leads.
        await bid_button(bo, "€13.00").click()
        await expect(auction_card(bo).locator(".auction-card__result")).to_have_text(
            re.compile(r"^Outbid: someone's max bid is higher\. Next bid €\d+\.00$")
        )
        await expect(standing(card)).to_have_text("You're winning")
        await expect(auction_card(bo)).to_contain_text("· Ana")
        await bo.screenshot(path=screenshots / "auction-proxy-outbid-phone.png")

        # A bid under the next one is refused on the page, before anything is sent.
        await auction_card(bo).locator("summary").click()
        await auction_card(bo).get_by_label("Your bid").fill("1")
        await auction_card(bo).get_by_role("button", name="Place bid").click()
        await expect(auction_card(bo).locator(".auction-card__result")).to_have_text(
            re.compile(r"^Enter at least €\d+\.00$")
        )


async def test_a_giveaway_from_the_studio_is_entered_by_a_viewer_who_is_drawn_the_winner(
    browser: Browser, live: LiveServer, http: httpx.AsyncClient, screenshots: Path
) -> None:
    _, ana_token = await buyer_token(http, "Ana")
    async with (
        opened(browser, studio_url(live)) as studio,
        opened(browser, viewer_url(live, ana_token)) as ana,
        opened(browser, viewer_url(live), viewport=DESKTOP) as watcher,
    ):
        await studio_loaded(studio)
        await connected(ana)
        await connected(watcher)
        panel = studio.locator("#giveaway-panel")
        await panel.get_by_label("Product").select_option(label="Hiking socks, 3 pairs")
        await panel.get_by_label("Entries open (seconds)").fill("6")
        await panel.get_by_role("button", name="Start the giveaway").click()
        await expect(panel.locator("#giveaway-result")).to_have_text(
            "Giveaway on ✓ Entries close in 6 s"
        )

        card = giveaway_card(ana)
        await expect(card).to_contain_text("Hiking socks, 3 pairs")
        await expect(card).to_contain_text("0 entered")
        await expect(card.locator(".auction-card__clock")).to_have_text(CLOCK)
        await card.get_by_role("button", name=re.compile(r"^Enter the giveaway")).click()
        await expect(card.locator(".auction-card__result")).to_have_text("You're in ✓ Good luck!")
        await expect(card.get_by_role("button", name=re.compile(r"^Entered"))).to_be_disabled()
        await expect(giveaway_card(watcher)).to_contain_text("1 entered")
        await expect(panel.locator("#giveaway-entrants")).to_have_text("1")
        await ana.screenshot(path=screenshots / "giveaway-entered-phone.png")
        await studio.screenshot(path=screenshots / "giveaway-studio-phone.png", full_page=True)
        await fits_the_width(studio)
        await fits_the_width(ana)

        # The draw at the end: the only entrant wins, and everyone reads who.
        await expect(standing(card)).to_have_text("You won!", timeout=15_000)
        await expect(standing(giveaway_card(watcher))).to_have_text("Ana won", timeout=15_000)
        await expect(panel.locator("#giveaway-outcome")).to_have_text("Ana won (1 entered)")
        await ana.screenshot(path=screenshots / "giveaway-won-phone.png")
        await watcher.screenshot(path=screenshots / "giveaway-won-desktop.png")


async def test_a_moderator_removes_a_bidder_and_cancels_the_auction_and_viewers_see_it(
    browser: Browser, live: LiveServer, http: httpx.AsyncClient, screenshots: Path
) -> None:
    _, ana_token = await buyer_token(http, "Ana")
    _, bo_token = await buyer_token(http, "Bo")
    async with (
        opened(browser, moderate_url(live), viewport=DESKTOP) as mod,
        opened(browser, viewer_url(live, ana_token)) as ana,
        opened(browser, viewer_url(live, bo_token), viewport=DESKTOP) as bo,
    ):
        await expect(mod.locator("#show-title")).to_have_text(
            "Sunday trail gear drop", timeout=10_000
        )
        await connected(ana)
        await connected(bo)
        panel = mod.locator("#auctions-panel")
        await expect(panel.get_by_role("button", name="Cancel auction")).to_be_disabled()
        await start_auction(live)
        await expect(panel.locator("#mod-auction-state")).to_have_text(
            re.compile(r"^Rib-knit beanie: no bids \(starts at €10\.00\), \d+:\d\d left$")
        )

        await bid_button(bo, "€10.00").click()
        await expect(standing(auction_card(bo))).to_have_text("You're winning")
        await bid_button(ana, "€11.00").click()
        await expect(standing(auction_card(ana))).to_have_text("You're winning")
        line = panel.locator("#mod-bids li", has_text="€11.00")
        await expect(line).to_contain_text("Ana")

        # A moderator who opens the page mid-auction reads the bids so far.
        async with opened(browser, moderate_url(live)) as late:
            bids = late.locator("#mod-bids li")
            await expect(bids).to_have_count(2)
            await expect(bids.first).to_contain_text("€11.00 Ana")
            await expect(bids.last).to_contain_text("€10.00 Bo")

        # The moderator removes Ana from her bid's line: Bo leads again at his own bid.
        await line.get_by_role("button", name="Remove Ana from the auction").click()
        await expect(panel.locator("#mod-auction-result")).to_have_text(
            re.compile(r" is out of the auction ✓$")
        )
        await expect(standing(auction_card(ana))).to_have_text(
            "A moderator removed you from this auction"
        )
        await expect(bid_button(ana)).to_be_disabled()
        await expect(standing(auction_card(bo))).to_have_text("You're winning")
        await mod.screenshot(path=screenshots / "auction-moderate-desktop.png")
        assert await serious_violations(mod) == []

        # Cancel, with a reason viewers read on the card.
        await panel.get_by_role("button", name="Cancel auction").click()
        dialog = mod.get_by_role("dialog", name="Cancel the auction?")
        await dialog.get_by_label("Why, for viewers (optional)").fill("wrong item")
        await dialog.get_by_role("button", name="Cancel the auction").click()
        await expect(panel.locator("#mod-auction-result")).to_have_text(
            "The auction is cancelled ✓ Viewers see it"
        )
        for page in (ana, bo):
            await expect(standing(auction_card(page))).to_have_text("Auction cancelled: wrong item")
            await expect(bid_button(page)).to_be_hidden()
        await expect(panel.locator("#mod-auction-state")).to_have_text("Rib-knit beanie: cancelled")
        await expect(panel.get_by_role("button", name="Cancel auction")).to_be_disabled()
        await ana.screenshot(path=screenshots / "auction-cancelled-phone.png")
        await mod.set_viewport_size({"width": PHONE["width"], "height": PHONE["height"]})
        await panel.scroll_into_view_if_needed()
        await mod.screenshot(path=screenshots / "auction-moderate-phone.png")
        await fits_the_width(mod)


async def test_when_the_winners_payment_fails_the_studio_offers_it_to_the_runner_up_who_accepts(
    browser: Browser, live: LiveServer, http: httpx.AsyncClient, screenshots: Path
) -> None:
    _, ana_token = await buyer_token(http, "Ana")
    _, dan_token = await buyer_token(http, "Decline")  # the test provider declines "decline-…"
    async with (
        opened(browser, studio_url(live)) as studio,
        opened(browser, viewer_url(live, ana_token)) as ana,
        opened(browser, viewer_url(live, dan_token)) as dan,
    ):
        await studio_loaded(studio)
        await connected(ana)
        await connected(dan)
        await start_auction(live, duration_s=5)
        await bid_button(ana, "€10.00").click()
        await expect(standing(auction_card(ana))).to_have_text("You're winning")
        await bid_button(dan, "€11.00").click()
        await expect(standing(auction_card(dan))).to_have_text("You're winning")

        # Dan wins, but his card is declined: he is told, and the studio may offer it on.
        await expect(standing(auction_card(dan))).to_have_text("You won! €11.00", timeout=15_000)
        await expect(auction_card(dan).locator(".auction-card__result")).to_have_text(
            "Your payment was declined. The item may go to the next bidder"
        )
        panel = studio.locator("#auction-panel")
        await expect(panel.locator("#auction-outcome")).to_have_text("Sold to Decline for €11.00")
        await expect(panel.locator("#auction-payment")).to_have_text(
            "Decline's payment failed: their card was declined"
        )
        await studio.screenshot(
            path=screenshots / "auction-studio-unpaid-phone.png", full_page=True
        )
        await fits_the_width(studio)
        await panel.get_by_role("button", name="Offer to runner-up").click()
        await expect(panel.locator("#auction-result")).to_have_text(
            "Offered to Ana at €10.00 for 5 min ✓"
        )
        await expect(panel.locator("#auction-payment")).to_have_text(
            re.compile(r"^Offered to Ana at €10\.00 until ")
        )
        await expect(panel.get_by_role("button", name="Release")).to_be_hidden()

        # Ana reads the second chance on her card and takes it with one tap.
        offer = auction_card(ana).locator(".auction-card__offer")
        await expect(offer).to_contain_text("Second chance: it's yours for €10.00")
        await ana.screenshot(path=screenshots / "auction-second-chance-phone.png")
        await fits_the_width(ana)
        await offer.get_by_role("button", name="Accept for €10.00").click()
        # The order's reply and the personal word that it is paid may come in either order.
        await expect(auction_card(ana).locator(".auction-card__result")).to_have_text(
            re.compile(r"^(Ordered ✓ #|Paid ✓ Order #)")
        )
        await expect(offer).to_be_hidden()
        await expect(panel.locator("#auction-payment")).to_have_text(re.compile(r"^Paid ✓"))


async def test_a_late_bid_in_an_extended_auction_pushes_the_countdown_back_for_everyone(
    browser: Browser, live: LiveServer, http: httpx.AsyncClient
) -> None:
    _, ana_token = await buyer_token(http, "Ana")
    async with (
        opened(browser, viewer_url(live, ana_token)) as ana,
        opened(browser, viewer_url(live), viewport=DESKTOP) as watcher,
    ):
        await connected(ana)
        await connected(watcher)
        # 5 s long, and a bid in the last 10 s sets the end 10 s after it: every bid is late.
        await start_auction(live, duration_s=5, mode="extended", extend_s=10)
        await expect(auction_card(watcher)).to_contain_text("Auction · +10 s on late bids")
        await bid_button(ana, "€10.00").click()
        await expect(standing(auction_card(ana))).to_have_text("You're winning")
        for page in (ana, watcher):
            await expect(auction_card(page).locator(".auction-card__clock")).to_have_text(
                re.compile(r"^0:(0[6-9]|10)$")
            )
        await expect(standing(auction_card(ana))).to_have_text("You won! €10.00", timeout=20_000)


async def test_the_studio_draws_a_giveaway_at_once_and_a_moderator_cancels_the_next_one(
    browser: Browser, live: LiveServer, http: httpx.AsyncClient
) -> None:
    _, ana_token = await buyer_token(http, "Ana")
    async with (
        opened(browser, studio_url(live), viewport=DESKTOP) as studio,
        opened(browser, moderate_url(live)) as mod,
        opened(browser, viewer_url(live, ana_token)) as ana,
    ):
        await studio_loaded(studio)
        await connected(ana)
        panel = studio.locator("#giveaway-panel")
        await panel.get_by_label("Product").select_option(label="Rib-knit beanie")
        await panel.get_by_role("button", name="Start the giveaway").click()
        await expect(panel.locator("#giveaway-result")).to_have_text(
            "Giveaway on ✓ Entries close in 1 min"
        )
        await giveaway_card(ana).get_by_role("button", name=re.compile(r"^Enter")).click()
        await expect(panel.locator("#giveaway-entrants")).to_have_text("1")
        await panel.get_by_role("button", name="Draw now").click()
        await expect(panel.locator("#giveaway-result")).to_have_text("Drawn ✓ Ana won")
        await expect(standing(giveaway_card(ana))).to_have_text("You won!")

        # The next giveaway: the moderator cancels it, and the viewer reads why.
        await panel.get_by_role("button", name="Start the giveaway").click()
        await expect(
            giveaway_card(ana).get_by_role("button", name=re.compile(r"^Enter"))
        ).to_be_enabled()
        moderation = mod.locator("#auctions-panel")
        await moderation.get_by_role("button", name="Cancel giveaway").click()
        dialog = mod.get_by_role("dialog", name="Cancel the giveaway?")
        await dialog.get_by_label("Why, for viewers (optional)").fill("technical trouble")
        await dialog.get_by_role("button", name="Cancel the giveaway").click()
        await expect(moderation.locator("#mod-auction-result")).to_have_text(
            "The giveaway is cancelled ✓ Viewers see it"
        )
        await expect(standing(giveaway_card(ana))).to_have_text(
            "Giveaway cancelled: technical trouble"
        )
        await expect(panel.locator("#giveaway-outcome")).to_have_text(
            "Cancelled: technical trouble"
        )


async def test_a_bid_refused_or_beaten_reads_in_words_and_folded_events_never_go_back(
    browser: Browser, live: LiveServer
) -> None:
    """The rules of static/js/auctions.js and auction-state.js, run in the page: every
    bid result in words (none as a raw code), and a `bid` event older than the view a
    reply brought is not applied over it."""
    async with opened(browser, f"{live.url}/") as page:
        words = await page.evaluate(
            """async () => {
              const a = await import('/static/js/auctions.js');
              const view = { currency: "EUR", price: 1200, next_bid: 1300, start_price: 1000 };
              return ["leading", "outbid", "max_raised", "bid_too_low", "auction_ended",
                      "auction_cancelled", "already_leading", "removed", "banned", "not_live",
                      "sales_paused", "card_required"]
                .map((code) => a.bidOutcome(code, view, { amount: 1200, max: null }).text);
            }"""
        )
        assert words == [
            "Bid placed ✓ €12.00",
            "Outbid: someone's max bid is higher. Next bid €13.00",
            "Your max bid is now €12.00 ✓",
            "Someone bid first — next bid €13.00",
            "This auction has ended",
            "This auction was cancelled",
            "You're already the highest bidder",
            "A moderator removed you from this auction",
            "You were removed from this show",
            "The show isn't live, so nothing can be bought now",
            "Sales are paused right now",
            "Add a card to bid",
        ]
        kept = await page.evaluate(
            """async () => {
              const s = await import('/static/js/auction-state.js');
              const show = { auction: { id: "a_1", state: "running", bids: 3, price: 1200 } };
              s.applyAuctionEvent(show, "bid", { auction: "a_1", bids: 2, price: 1100 });
              const afterOld = show.auction.price;
              s.applyAuctionEvent(show, "bid", { auction: "a_1", bids: 4, price: 1300 });
              s.applyAuctionEvent(show, "bid", { auction: "a_other", bids: 9, price: 9900 });
              s.applyAuctionEvent(show, "auction_ended",
                                  { auction: "a_1", winner: "u1", winner_name: "Ana",
                                    price: 1300, bids: 4, ended_ms: 5 });
              const older = s.newerView(show.auction, { id: "a_1", state: "running", bids: 4 });
              return [afterOld, show.auction.price, show.auction.state, older];
            }"""
        )
        assert kept == [1200, 1300, "ended", False]
