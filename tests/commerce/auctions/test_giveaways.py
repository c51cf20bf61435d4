"""Giveaways against the real Redis: one entry per user, banned users refused, the
winner drawn uniformly by the script among the entrants, and a zero-price order."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import orjson
import pytest

from livecart.commerce.auctions import awards, giveaways
from livecart.commerce.auctions.giveaways import GiveawayStart
from livecart.commerce.sales.shipping import ShippingRule, put_rule
from livecart.commerce.shows.control import adjust_stock
from livecart.errors import Conflict, InvalidInput
from livecart.hub import moderation
from livecart.runtime import Runtime
from livecart.store import keys
from tests.commerce.auctions.test_auctions import events_of, wait_for
from tests.commerce.conftest import SHOW, assert_units_add_up, units

pytestmark = pytest.mark.usefixtures("show")


def start_request(**fields: object) -> GiveawayStart:
    return GiveawayStart.from_dict({"sku": "p-plain", "duration_s": 60} | fields)


async def payment_of(runtime: Runtime, giveaway: str, state: str) -> dict[str, Any] | None:
    view = await awards.view(runtime, SHOW, "giveaway", giveaway)
    return view if view and view["payment"] == state else None


async def test_5000_entrants_one_winner_among_them_duplicates_once_banned_refused(
    runtime: Runtime,
) -> None:
    await moderation.ban(runtime, SHOW, "banned-bob", by="mod1")
    view = await giveaways.start_giveaway(runtime, SHOW, start_request())
    g = view["id"]
    gate = asyncio.Semaphore(100)

    async def enter(user: str) -> giveaways.Entry:
        async with gate:
            return await giveaways.enter(runtime, SHOW, g, user)

    users = [f"viewer{i}" for i in range(5000)]
    entries = await asyncio.gather(*(enter(u) for u in [*users, *users[:500]]))
    assert sum(e.entered for e in entries) == 5000
    assert Counter(e.entered for e in entries[5000:]) == {False: 500}
    banned = await giveaways.enter(runtime, SHOW, g, "banned-bob")
    assert banned.refusal == "banned"
    assert await runtime.redis.hlen(keys.show_giveaway_entrants(SHOW, g)) == 5000

    drawn = await giveaways.draw(runtime, SHOW, g)
    assert drawn["state"] == "drawn" and drawn["entrants"] == 5000
    assert drawn["winner"] in set(users)
    stored = await runtime.redis.hgetall(keys.show_giveaway(SHOW, g))
    assert stored["draw_size"] == "5000"  # recorded with the draw's random number
    (ended,) = await events_of(runtime, "giveaway_ended")
    assert (ended["winner"], ended["entrants"]) == (drawn["winner"], 5000)

    paid = await wait_for(lambda: payment_of(runtime, g, "paid"))
    order = orjson.loads(await runtime.redis.get(keys.show_order(SHOW, paid["order"])))
    assert (order["buyer"], order["total"], order["giveaway"]) == (drawn["winner"], 0, g)
    assert order["payment"]["provider"] == "none"
    assert (await units(runtime.redis, "p-plain")).sold == 1
    await assert_units_add_up(runtime.redis)
    late = await giveaways.enter(runtime, SHOW, g, "viewer-late")
    assert late.refusal == "giveaway_ended"


async def test_the_draw_is_uniform(runtime: Runtime) -> None:
    """300 giveaways of three entrants: each entrant wins about a third of them (a
    chi-square test at 3 degrees of freedom would flag a skew like 80/100/120 only
    past p = 0.02; the bounds here fail a fair draw about once in 10^5 runs)."""
    await adjust_stock(runtime, SHOW, "p-plain", 300)
    wins: Counter[str] = Counter()
    for _ in range(300):
        g = (await giveaways.start_giveaway(runtime, SHOW, start_request()))["id"]
        for user in ("ann", "ben", "cat"):
            await giveaways.enter(runtime, SHOW, g, user)
        wins[(await giveaways.draw(runtime, SHOW, g))["winner"]] += 1
    assert set(wins) == {"ann", "ben", "cat"}
    assert all(55 <= n <= 145 for n in wins.values()), wins


async def test_winner_pays_shipping_declined_then_redraw(runtime: Runtime) -> None:
    g = (await giveaways.start_giveaway(runtime, SHOW, start_request(shipping="winner_pays")))["id"]
    await put_rule(runtime.redis, "b1", ShippingRule(flat=450))
    await giveaways.enter(runtime, SHOW, g, "decline-dora")
    drawn = await giveaways.draw(runtime, SHOW, g)
    assert drawn["winner"] == "decline-dora"
    await wait_for(lambda: payment_of(runtime, g, "unpaid"))
    with pytest.raises(Conflict) as nobody:
        await giveaways.draw(runtime, SHOW, g, redraw=True)
    assert nobody.value.code == "no_entrants_left"
    await giveaways.release(runtime, SHOW, g, "c1")
    assert (await units(runtime.redis, "p-plain")).held == 0
    await assert_units_add_up(runtime.redis)


async def test_cancel_and_bad_input(runtime: Runtime) -> None:
    before = await units(runtime.redis, "p-plain")
    g = (await giveaways.start_giveaway(runtime, SHOW, start_request()))["id"]
    with pytest.raises(Conflict) as running:
        await giveaways.start_giveaway(runtime, SHOW, start_request())
    assert running.value.code == "giveaway_running"
    await giveaways.enter(runtime, SHOW, g, "ann")
    cancelled = await giveaways.cancel_giveaway(runtime, SHOW, g, "wrong item", "mod1")
    assert cancelled["state"] == "cancelled" and cancelled["winner"] is None
    assert await units(runtime.redis, "p-plain") == before
    assert (await giveaways.enter(runtime, SHOW, g, "ben")).refusal == "giveaway_cancelled"
    for fields in ({"duration_s": 4}, {"duration_s": "60"}, {"shipping": "maybe"}, {"sku": ""}):
        with pytest.raises(InvalidInput):
            start_request(**fields)


async def test_an_entrant_banned_after_entering_is_never_drawn(runtime: Runtime) -> None:
    await adjust_stock(runtime, SHOW, "p-plain", 20)
    for round_ in range(20):  # each round draws from another random number
        g = (await giveaways.start_giveaway(runtime, SHOW, start_request()))["id"]
        for user in ("ben", "ann", "cat"):
            assert (await giveaways.enter(runtime, SHOW, g, user)).entered
        for user in ("ben", "cat"):  # banned after entering: taken out at the draw
            await moderation.ban(runtime, SHOW, user, by="mod1")
        drawn = await giveaways.draw(runtime, SHOW, g)
        assert (drawn["winner"], drawn["entrants"]) == ("ann", 3), round_
        for user in ("ben", "cat"):
            await moderation.unban(runtime, SHOW, user, by="mod1")
