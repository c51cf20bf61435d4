"""Auctions and giveaways through the hub: the streamer starts one, viewers bid and
enter over their sockets, personal messages reach the user concerned (outbid, won,
lost), the end comes by Redis TIME, staff actions are kept from viewers, and a late
joiner's snapshot carries the running auction."""

from __future__ import annotations

import asyncio

from livecart.commerce.shows.records import LineupEntry, NewShow, create_show
from livecart.hub.room import SNAPSHOT_REUSE_S
from livecart.store import keys
from tests.helpers import LiveServer
from tests.hub.live import SHOW, HubClient, live, settings, token, ws_url

__all__ = ["live", "settings"]


def auction_body(**fields: object) -> dict[str, object]:
    return {"sku": "p-plain", "start_price": 1000, "increment": 100, "duration_s": 30} | fields


async def test_bidding_outbid_and_winning_over_sockets(live: LiveServer) -> None:
    streamer_url = ws_url(live, token=token("c1", "streamer", SHOW))
    async with (
        await HubClient.open(streamer_url) as streamer,
        await HubClient.open(ws_url(live, token=token("ana"))) as ana,
        await HubClient.open(ws_url(live, token=token("bo"))) as bo,
    ):
        started = await streamer.request("auction_start", **auction_body(duration_s=5))
        assert started["type"] == "ack", started
        auction = started["auction"]["id"]
        seen = await ana.event("auction_started")
        assert seen["data"]["auction"]["id"] == auction

        first = await ana.request("bid", auction=auction, amount=1000)
        assert (first["type"], first["result"]) == ("bid", "leading"), first
        second = await bo.request("bid", auction=auction, amount=1100)
        assert second["result"] == "leading"
        outbid = await ana.next_of("outbid")
        assert (outbid["auction"], outbid["price"], outbid["next_bid"]) == (auction, 1100, 1200)
        low = await ana.request("bid", auction=auction, amount=1100)
        assert low["result"] == "bid_too_low" and low["auction"]["next_bid"] == 1200

        ended = await ana.event("auction_ended", within=10)
        assert ended["data"]["winner"] == "bo" and ended["data"]["price"] == 1100
        won = await bo.next_of("auction_won", within=5)
        assert won["price"] == 1100
        lost = await ana.next_of("auction_lost", within=5)
        assert lost["winner_name"] == "bo"
        paid = await streamer.event(
            "auction_status", lambda e: e["data"]["payment"] == "paid", within=10
        )
        assert paid["data"]["user"] == "bo"
        payment = await bo.next_of("auction_payment", within=5)
        assert payment["payment"] == "paid" and payment["order"] == paid["data"]["order"]
        # viewers never see the staff's payment events
        assert not [e for e in ana.events if e["type"] == "auction_status"]


async def test_viewers_cannot_run_or_stop_auctions_and_other_shows_are_not_found(
    live: LiveServer,
) -> None:
    redis = live.runtime.redis
    runtime = live.runtime
    await create_show(
        redis,
        runtime.scripts,
        NewShow(
            id="s2", title="Other", creator="c1", brand="b1", lineup=(LineupEntry("p-plain", 5),)
        ),
        stream_max_events=100,
    )
    streamer_url = ws_url(live, token=token("c1", "streamer", SHOW))
    async with (
        await HubClient.open(streamer_url) as streamer,
        await HubClient.open(ws_url(live, token=token("ana"))) as ana,
        await HubClient.open(ws_url(live, "s2", token=token("ana"))) as elsewhere,
    ):
        refused = await ana.request("auction_start", **auction_body())
        assert (refused["type"], refused["code"]) == ("error", "forbidden")
        auction = (await streamer.request("auction_start", **auction_body()))["auction"]["id"]
        for kind, fields in (
            ("auction_cancel", {"auction": auction}),
            ("auction_remove_bidder", {"auction": auction, "user": "bo"}),
            ("auction_release", {"auction": auction}),
            ("giveaway_start", {"sku": "p-plain", "duration_s": 10}),
        ):
            reply = await ana.request(kind, **fields)
            assert (reply["type"], reply["code"]) == ("error", "forbidden"), (kind, reply)
        before = await redis.hgetall(keys.show_auction(SHOW, auction))
        for fields in (
            {"amount": -1},
            {"amount": 1000.5},
            {"amount": True},
            {"amount": 1200, "max": 1000},
            {"amount": 1200, "colour": "red"},
        ):
            bad = await ana.request("bid", auction=auction, **fields)
            assert (bad["type"], bad["code"]) == ("error", "invalid"), (fields, bad)
        other = await elsewhere.request("bid", auction=auction, amount=5000)
        assert (other["type"], other["code"]) == ("error", "no_auction"), other
        assert await redis.hgetall(keys.show_auction(SHOW, auction)) == before


async def test_a_late_joiner_sees_the_running_auction_and_the_moderator_cancels(
    live: LiveServer,
) -> None:
    streamer_url = ws_url(live, token=token("c1", "streamer", SHOW))
    async with (
        await HubClient.open(streamer_url) as streamer,
        await HubClient.open(ws_url(live, token=token("mod1", "moderator", SHOW))) as mod,
    ):
        auction = (await streamer.request("auction_start", **auction_body()))["auction"]["id"]
        async with await HubClient.open(ws_url(live, token=token("ana"))) as ana:
            await ana.request("bid", auction=auction, amount=1000)
        await asyncio.sleep(SNAPSHOT_REUSE_S + 0.2)
        async with await HubClient.open(ws_url(live)) as late:
            running = late.hello["snapshot"]["show"]["auction"]
            assert running["id"] == auction and running["state"] == "running"
            assert (running["price"], running["leader"], running["next_bid"]) == (
                1000,
                "ana",
                1100,
            )
            cancelled = await mod.request("auction_cancel", auction=auction, reason="fake item")
            assert cancelled["auction"]["state"] == "cancelled", cancelled
            event = await late.event("auction_cancelled")
            assert event["data"]["reason"] == "fake item" and event["data"]["by"] == "mod1"


async def test_a_giveaway_over_sockets(live: LiveServer) -> None:
    streamer_url = ws_url(live, token=token("c1", "streamer", SHOW))
    async with (
        await HubClient.open(streamer_url) as streamer,
        await HubClient.open(ws_url(live, token=token("ana"))) as ana,
        await HubClient.open(ws_url(live, token=token("bo"))) as bo,
    ):
        started = await streamer.request("giveaway_start", sku="p-plain", duration_s=60)
        giveaway = started["giveaway"]["id"]
        first = await ana.request("giveaway_enter", giveaway=giveaway)
        assert (first["entered"], first["entrants"]) == (True, 1), first
        again = await ana.request("giveaway_enter", giveaway=giveaway)
        assert (again["entered"], again["entrants"]) == (False, 1)
        assert (await bo.request("giveaway_enter", giveaway=giveaway))["entrants"] == 2
        entries = await streamer.event("giveaway_entries", lambda e: e["data"]["entrants"] == 2)
        assert entries["data"]["giveaway"] == giveaway
        drawn = await streamer.request("giveaway_draw", giveaway=giveaway)
        winner = drawn["giveaway"]["winner"]
        assert winner in ("ana", "bo") and drawn["giveaway"]["state"] == "drawn"
        lucky = ana if winner == "ana" else bo
        assert (await lucky.next_of("giveaway_won"))["giveaway"] == giveaway
        paid = await lucky.next_of("giveaway_payment", within=10)
        assert paid["payment"] == "paid"
        order = await live.runtime.redis.get(keys.show_order(SHOW, paid["order"]))
        assert order is not None and '"total":0' in order
        late = await bo.request("giveaway_enter", giveaway=giveaway)
        assert (late["type"], late["code"]) == ("error", "giveaway_ended")


async def test_a_ban_takes_back_the_banned_users_standing_bid(live: LiveServer) -> None:
    streamer_url = ws_url(live, token=token("c1", "streamer", SHOW))
    async with (
        await HubClient.open(streamer_url) as streamer,
        await HubClient.open(ws_url(live, token=token("mod1", "moderator", SHOW))) as mod,
        await HubClient.open(ws_url(live, token=token("ana"))) as ana,
        await HubClient.open(ws_url(live, token=token("bo"))) as bo,
    ):
        auction = (await streamer.request("auction_start", **auction_body()))["auction"]["id"]
        assert (await ana.request("bid", auction=auction, amount=1000))["result"] == "leading"
        assert (await bo.request("bid", auction=auction, amount=1100, max=1500))[
            "result"
        ] == "leading"
        assert (await mod.request("ban", user="bo"))["changed"] is True
        removed = await ana.event("auction_bidder_removed")
        assert removed["data"]["user"] == "bo" and removed["data"]["by"] == "mod1"
        assert (removed["data"]["leader"], removed["data"]["price"]) == ("ana", 1000)
        # a user who never bid is banned without touching the auction
        assert (await mod.request("ban", user="cy"))["changed"] is True
        await asyncio.sleep(0.2)
        assert [e["data"]["user"] for e in ana.events if e["type"] == "auction_bidder_removed"] == [
            "bo"
        ]
