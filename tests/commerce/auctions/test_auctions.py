"""Auctions against the real Redis: bids decided by script against Redis TIME, proxy
bidding by eBay's rule, the winner charged and given an order, second chances."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from livecart.commerce.auctions import auctions, awards
from livecart.commerce.auctions.auctions import AuctionStart, BidRequest, place_bid
from livecart.errors import Conflict, InvalidInput, NotFound
from livecart.runtime import Runtime
from livecart.store import keys
from tests.commerce.conftest import SHOW, assert_units_add_up, units

pytestmark = pytest.mark.usefixtures("show")


def start_request(**fields: Any) -> AuctionStart:
    body = {"sku": "p-plain", "start_price": 1000, "increment": 100, "duration_s": 30} | fields
    return AuctionStart.from_dict(body)


async def bid(
    runtime: Runtime, auction: str, user: str, amount: int, most: int = 0
) -> auctions.BidOutcome:
    body: dict[str, Any] = {"auction": auction, "amount": amount}
    if most:
        body["max"] = most
    return await place_bid(runtime, SHOW, user, BidRequest.from_dict(body))


async def events_of(runtime: Runtime, *kinds: str) -> list[dict[str, Any]]:
    entries = await runtime.redis.xrange(keys.show_events(SHOW))
    return [
        {"id": entry_id, "type": f["type"], **orjson.loads(f["data"])}
        for entry_id, f in entries
        if f["type"] in kinds
    ]


async def redis_ms(runtime: Runtime) -> int:
    seconds, micros = await runtime.redis.time()
    return seconds * 1000 + micros // 1000


async def end_now(runtime: Runtime, auction: str) -> None:
    """Move the auction's end to now (Redis TIME), as if its time had run out."""
    now = await redis_ms(runtime)
    await runtime.redis.hset(keys.show_auction(SHOW, auction), "ends_ms", now)


async def wait_for(check: Any) -> Any:
    """The first true value ``check()`` gives within 10 s (the winner is paid in the
    background)."""
    async with asyncio.timeout(10):
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.02)


async def test_start_sets_a_unit_aside_and_appends_its_event(runtime: Runtime) -> None:
    before = await units(runtime.redis, "p-plain")
    view = await auctions.start_auction(runtime, SHOW, start_request())
    after = await units(runtime.redis, "p-plain")
    assert (after.stock, after.held) == (before.stock - 1, before.held + 1)
    assert view["state"] == "running" and view["next_bid"] == 1000 and view["leader"] is None
    assert view["ends_ms"] - view["started_ms"] == 30_000
    card = orjson.loads(await runtime.redis.hget(keys.show_lineup(SHOW), "p-plain"))
    assert (view["title"], view["currency"], view["product"]) == (card["title"], "EUR", "p-plain")
    assert view["image_url"] == (card["image_url"] or None)
    (started,) = await events_of(runtime, "auction_started")
    assert started["auction"] == view
    with pytest.raises(Conflict) as refused:
        await auctions.start_auction(runtime, SHOW, start_request())
    assert refused.value.code == "auction_running"


async def test_bids_climb_and_the_leader_wins_and_pays(runtime: Runtime) -> None:
    view = await auctions.start_auction(runtime, SHOW, start_request())
    a = view["id"]
    first = await bid(runtime, a, "alice", 1000)
    assert first.result == "leading" and first.auction["next_bid"] == 1100
    low = await bid(runtime, a, "bob", 1050)
    assert low.result == "bid_too_low" and low.auction["next_bid"] == 1100
    assert (await bid(runtime, a, "bob", 1100)).result == "leading"
    assert (await bid(runtime, a, "alice", 1100)).result == "bid_too_low"
    # the leader bidding again only raises their (secret) maximum
    raised = await bid(runtime, a, "bob", 1500)
    assert raised.result == "max_raised" and raised.auction["price"] == 1100
    assert (await bid(runtime, a, "bob", 1200)).result == "already_leading"
    late = await bid(runtime, a, "carol", 1600)
    assert late.result == "leading" and late.auction["price"] == 1600
    await end_now(runtime, a)
    refused = await bid(runtime, a, "dave", 5000)
    assert refused.result == "auction_ended"
    assert refused.auction["winner"] == "carol" and refused.auction["state"] == "ended"

    async def paid() -> Any:
        v = await awards.view(runtime, SHOW, "auction", a)
        return v if v and v["payment"] == "paid" else None

    final = await wait_for(paid)
    order = orjson.loads(await runtime.redis.get(keys.show_order(SHOW, final["order"])))
    assert order["buyer"] == "carol" and order["items_total"] == 1600
    assert order["auction"] == a and order["lines"][0]["sku"] == "p-plain"
    u = await units(runtime.redis, "p-plain")
    assert u.sold == 1 and u.held == 0
    await assert_units_add_up(runtime.redis)
    prices = [e["price"] for e in await events_of(runtime, "bid")]
    assert prices == sorted(set(prices)) == [1000, 1100, 1600]
    (ended,) = await events_of(runtime, "auction_ended")
    assert ended["winner"] == "carol" and ended["price"] == 1600


async def test_proxy_bids_follow_ebays_rule(runtime: Runtime) -> None:
    a = (await auctions.start_auction(runtime, SHOW, start_request()))["id"]
    # alice sets a maximum of 2000: she leads at the start price
    assert (await bid(runtime, a, "alice", 1000, 2000)).auction["price"] == 1000
    # bob bids 1500 plainly: alice's proxy answers at one step above, she still leads
    answer = await bid(runtime, a, "bob", 1500)
    assert answer.result == "outbid"
    assert (answer.auction["leader"], answer.auction["price"]) == ("alice", 1600)
    # carol's maximum 3000 beats alice's 2000: she leads at one step above 2000
    taken = await bid(runtime, a, "carol", 1700, 3000)
    assert taken.result == "leading"
    assert (taken.auction["leader"], taken.auction["price"]) == ("carol", 2100)
    # dave's maximum equals carol's: the earlier maximum leads, at that maximum
    tie = await bid(runtime, a, "dave", 2200, 3000)
    assert tie.result == "outbid"
    assert (tie.auction["leader"], tie.auction["price"]) == ("carol", 3000)
    # carol raises her own maximum: the price does not move
    raised = await bid(runtime, a, "carol", 3100, 4000)
    assert raised.result == "max_raised" and raised.auction["price"] == 3000
    outbid = [e["outbid"] for e in await events_of(runtime, "bid")]
    assert outbid == [None, None, "alice", None]


async def test_a_bid_after_the_end_is_refused_by_redis_time(runtime: Runtime) -> None:
    a = (await auctions.start_auction(runtime, SHOW, start_request()))["id"]
    assert (await bid(runtime, a, "alice", 1000)).result == "leading"
    now = await redis_ms(runtime)
    await runtime.redis.hset(keys.show_auction(SHOW, a), "ends_ms", now - 1)
    assert (await bid(runtime, a, "bob", 1100)).result == "auction_ended"
    bids = await auctions.list_bids(runtime, SHOW, a)
    assert [b["bidder"] for b in bids] == ["alice"]


async def test_extended_mode_pushes_the_end(runtime: Runtime) -> None:
    view = await auctions.start_auction(
        runtime, SHOW, start_request(mode="extended", extend_s=10, duration_s=5)
    )
    a = view["id"]
    placed = await bid(runtime, a, "alice", 1000)
    (bid_event,) = await events_of(runtime, "bid")
    assert placed.auction["ends_ms"] == bid_event["at_ms"] + 10_000
    (extended,) = await events_of(runtime, "auction_extended")
    assert extended["ends_ms"] == placed.auction["ends_ms"]


async def test_sudden_death_does_not_extend(runtime: Runtime) -> None:
    view = await auctions.start_auction(runtime, SHOW, start_request(duration_s=5))
    placed = await bid(runtime, view["id"], "alice", 1000)
    assert placed.auction["ends_ms"] == view["ends_ms"]
    assert await events_of(runtime, "auction_extended") == []


async def test_no_bids_returns_the_unit(runtime: Runtime) -> None:
    before = await units(runtime.redis, "p-plain")
    a = (await auctions.start_auction(runtime, SHOW, start_request()))["id"]
    await end_now(runtime, a)
    view = await awards.look(runtime, SHOW, "auction", a)
    assert view["state"] == "unsold" and view["winner"] is None
    assert await units(runtime.redis, "p-plain") == before
    (ended,) = await events_of(runtime, "auction_ended")
    assert ended["winner"] is None


async def test_declined_winner_then_second_chance_accepted(runtime: Runtime) -> None:
    a = (await auctions.start_auction(runtime, SHOW, start_request()))["id"]
    await bid(runtime, a, "bob", 1000, 1800)
    await bid(runtime, a, "carol", 1100, 1500)
    await bid(runtime, a, "decline-dan", 1900, 2500)
    await end_now(runtime, a)
    await awards.look(runtime, SHOW, "auction", a)

    async def unpaid() -> Any:
        v = await awards.view(runtime, SHOW, "auction", a)
        return v if v and v["payment"] == "unpaid" else None

    await wait_for(unpaid)
    assert await runtime.redis.zcard(keys.show_orders(SHOW)) == 0
    assert (await units(runtime.redis, "p-plain")).held == 1  # still set aside
    offer = await auctions.offer_second_chance(runtime, SHOW, a, 60)
    assert (offer["user"], offer["amount"]) == ("bob", 1800)  # the runner-up's maximum
    standing = await awards.view(runtime, SHOW, "auction", a)
    assert standing is not None and standing["offer"] == offer  # a reloaded page sees it
    with pytest.raises(Conflict) as wrong:
        await auctions.accept_offer(runtime, SHOW, a, "carol")
    assert wrong.value.code == "not_offered"
    outcome = await auctions.accept_offer(runtime, SHOW, a, "bob")
    assert outcome.result == "confirmed" and outcome.order is not None
    assert outcome.order["buyer"] == "bob" and outcome.order["items_total"] == 1800
    assert (await units(runtime.redis, "p-plain")).sold == 1
    await assert_units_add_up(runtime.redis)
    statuses = [e["payment"] for e in await events_of(runtime, "auction_status")]
    assert statuses == ["unpaid", "offered", "accepted", "paid"]


async def test_second_chance_expires_then_release(runtime: Runtime) -> None:
    before = await units(runtime.redis, "p-plain")
    a = (await auctions.start_auction(runtime, SHOW, start_request()))["id"]
    await bid(runtime, a, "bob", 1000)
    await bid(runtime, a, "decline-dan", 1100)
    await end_now(runtime, a)
    await awards.look(runtime, SHOW, "auction", a)

    async def payment_is(state: str) -> Any:
        v = await awards.view(runtime, SHOW, "auction", a)
        return v if v and v["payment"] == state else None

    await wait_for(lambda: payment_is("unpaid"))
    offer = await auctions.offer_second_chance(runtime, SHOW, a, 10)
    assert offer["user"] == "bob"
    await runtime.redis.hset(keys.show_auction(SHOW, a), "offer_expires_ms", 1)
    with pytest.raises(Conflict) as late:
        await auctions.accept_offer(runtime, SHOW, a, "bob")
    assert late.value.code == "offer_expired"
    with pytest.raises(Conflict) as nobody:
        await auctions.offer_second_chance(runtime, SHOW, a, 10)
    assert nobody.value.code == "no_runner_up"
    await auctions.release(runtime, SHOW, a, "streamer")
    assert await units(runtime.redis, "p-plain") == before
    assert await runtime.redis.zcard(keys.show_orders(SHOW)) == 0


async def test_cancel_and_remove_bidder(runtime: Runtime) -> None:
    before = await units(runtime.redis, "p-plain")
    a = (await auctions.start_auction(runtime, SHOW, start_request()))["id"]
    await bid(runtime, a, "alice", 1000, 1500)
    await bid(runtime, a, "bob", 1100, 2000)
    view = await auctions.remove_bidder(runtime, SHOW, a, "bob", "mod1")
    assert (view["leader"], view["price"]) == ("alice", 1000)
    assert (await bid(runtime, a, "bob", 5000)).result == "removed"
    with pytest.raises(NotFound):
        await auctions.remove_bidder(runtime, SHOW, a, "zed", "mod1")
    cancelled = await auctions.cancel_auction(runtime, SHOW, a, "counterfeit", "mod1")
    assert cancelled["state"] == "cancelled" and cancelled["cancel_reason"] == "counterfeit"
    assert await units(runtime.redis, "p-plain") == before
    assert (await bid(runtime, a, "alice", 5000)).result == "auction_cancelled"
    with pytest.raises(Conflict):
        await auctions.cancel_auction(runtime, SHOW, a, "again", "mod1")


async def test_bad_input_is_refused_and_changes_nothing(runtime: Runtime) -> None:
    a = (await auctions.start_auction(runtime, SHOW, start_request()))["id"]
    await bid(runtime, a, "alice", 1000)
    before = await runtime.redis.hgetall(keys.show_auction(SHOW, a))
    for body in (
        {"auction": a, "amount": -5},
        {"auction": a, "amount": 10.5},
        {"auction": a, "amount": "1200"},
        {"auction": a, "amount": 1200, "max": 1100},
        {"auction": "a b", "amount": 1200},
        {"amount": 1200},
    ):
        with pytest.raises(InvalidInput):
            BidRequest.from_dict(body)
    with pytest.raises(NotFound):
        await bid(runtime, "a_nope", "bob", 1200)
    for fields in (
        {"duration_s": 4},
        {"duration_s": 601},
        {"start_price": -1},
        {"mode": "dutch"},
        {"increment": 0},
        {"increments": [[5, 100]]},
        {"increments": [[0, 100], [0, 200]]},
    ):
        body = {"sku": "p-plain", "start_price": 1000, "increment": 100, "duration_s": 30}
        if "increments" in fields:
            del body["increment"]
        with pytest.raises(InvalidInput):
            AuctionStart.from_dict(body | fields)
    assert await runtime.redis.hgetall(keys.show_auction(SHOW, a)) == before


async def test_a_winner_being_charged_is_known_by_the_hold_id(runtime: Runtime) -> None:
    """Stripe's late report of an award's authorisation must not cancel it while the
    order is being written (stripe_provider.reconcile asks this)."""
    runtime.settings = runtime.settings.with_overrides({"checkout": {"payment_timeout_s": 0.5}})
    a = (await auctions.start_auction(runtime, SHOW, start_request()))["id"]
    await bid(runtime, a, "stall-sam", 1000)  # the test provider stalls: still charging
    await end_now(runtime, a)
    await awards.look(runtime, SHOW, "auction", a)
    assert await awards.is_charging(runtime.redis, SHOW, f"auction-{a}-1")
    assert not await awards.is_charging(runtime.redis, SHOW, f"auction-{a}-2")
    for other in ("h_0123", "auction-", "auction-a b-1", f"giveaway-{a}-1"):
        assert not await awards.is_charging(runtime.redis, SHOW, other)
    await wait_for(lambda: _payment(runtime, a, "unpaid"))  # the timeout voids and fails it
    assert not await awards.is_charging(runtime.redis, SHOW, f"auction-{a}-1")


async def _payment(runtime: Runtime, auction: str, state: str) -> dict[str, Any] | None:
    view = await awards.view(runtime, SHOW, "auction", auction)
    return view if view and view["payment"] == state else None
