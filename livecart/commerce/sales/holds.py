"""Holds that were never confirmed go back to stock by themselves.

Every node runs ``run_hold_reaper``; any number may at once. Candidates are read by
Redis' clock, and each is released by the release script, which checks the expiry
again and removes the hold in the same atomic step: two reapers never return one hold
twice, and a hold confirmed meanwhile is left alone.

A node that dies mid-payment is noticed sooner: its heartbeat (livecart.nodes) lapses
about 1.5 s after its last beat, and ``run_takeovers`` on a survivor (one per dead node,
by a lock; two would be safe) settles each hold that node was paying for by asking the
provider what it did (``checkout.settle_orphan``: the order it would have written, or a
release), and applies the order entries it had read and not acknowledged
(``OrderConsumers.adopt``). Expiry stays the backstop, for a provider that cannot say.

The same loop closes flash sales whose window has passed (the flash_ended event), so
viewers hear of it even when nobody taps, and looks at the auctions and giveaways that
are due (livecart.commerce.auctions.awards): ended, a payment to take over, an offer
expired.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from redis.exceptions import RedisError

from livecart.commerce.auctions.awards import sweep_awards
from livecart.commerce.orders.outbox import OrderConsumers
from livecart.commerce.sales.checkout import release_hold, settle_orphan
from livecart.commerce.shows.control import end_flash_sale
from livecart.errors import StoreUnavailable
from livecart.nodes import claim_takeover, dead_nodes, forget_node, node_name
from livecart.runtime import Runtime
from livecart.store import keys

log = logging.getLogger("livecart.holds")

BATCH = 200
# How often a node looks for nodes whose heartbeat lapsed.
TAKEOVER_POLL_S = 0.25
# Holds of a dead node settled at once (each may be a call to the provider).
SETTLE_CONCURRENCY = 32


async def reap_expired_holds(runtime: Runtime, show: str) -> int:
    """Release up to BATCH expired holds of one show; the number this call released."""
    redis = runtime.redis
    seconds, micros = await redis.time()
    now_ms = seconds * 1000 + micros // 1000
    expired: list[str] = await redis.zrangebyscore(  # type: ignore[assignment]
        keys.show_hold_expiry(show), "-inf", now_ms, start=0, num=BATCH
    )
    released = 0
    for hold_id in expired:
        raw = await redis.hget(keys.show_holds(show), hold_id)
        if raw is None:  # confirmed or released since
            continue
        if await release_hold(
            runtime, show, orjson.loads(raw), "hold_expired", only_if_expired=True
        ):
            released += 1
    return released


async def sweep_show(runtime: Runtime, show: str) -> None:
    released = await reap_expired_holds(runtime, show)
    if released:
        runtime.metrics.holds_reaped.inc(released)
        log.info("returned %d expired holds of show %s to stock", released, show)
    await end_flash_sale(runtime, show, only_if_over=True)
    await sweep_awards(runtime, show)
    redis = runtime.redis
    over = await redis.hget(keys.show(show), "state") in ("ended", None)
    if (
        over
        and await redis.zcard(keys.show_hold_expiry(show)) == 0
        and await redis.zcard(keys.show_awards_due(show)) == 0
    ):
        await redis.srem(keys.active_shows(), show)


async def run_hold_reaper(runtime: Runtime) -> None:
    interval = runtime.settings.checkout.reaper_interval_ms / 1000
    while True:
        try:
            shows: set[str] = await runtime.redis.smembers(keys.active_shows())  # type: ignore[assignment]
            for show in shows:
                await sweep_show(runtime, show)
        except RedisError as exc:
            log.warning("hold reaper: Redis did not answer (%s); trying again", exc)
        await asyncio.sleep(interval)


async def run_takeovers(runtime: Runtime) -> None:
    """Every ``TAKEOVER_POLL_S``, take over the work of nodes whose heartbeat lapsed."""
    me = node_name(runtime)
    consumers = OrderConsumers(runtime, me)
    while True:
        try:
            for dead in await dead_nodes(runtime.redis, me):
                if await claim_takeover(runtime.redis, dead, me):
                    await take_over(runtime, consumers, dead)
        except RedisError as exc:
            log.warning("takeovers: Redis did not answer (%s); trying again", exc)
        await asyncio.sleep(TAKEOVER_POLL_S)


async def take_over(runtime: Runtime, consumers: OrderConsumers, dead: str) -> bool:
    """Settle the holds ``dead`` was paying for and apply the order entries it had not
    acknowledged; True when nothing of it is left (it is then no longer watched; else
    the next survivor to get the lock tries again)."""
    (settled, left), adopted = await asyncio.gather(
        settle_holds_of(runtime, dead), consumers.adopt(dead)
    )
    log.warning(
        "node %s stopped beating: settled %d of its holds (%d left), took over %d "
        "order entries it had not acknowledged",
        dead,
        settled,
        left,
        adopted,
    )
    if left:
        return False
    await forget_node(runtime.redis, dead)
    return True


async def settle_holds_of(runtime: Runtime, dead: str) -> tuple[int, int]:
    """Settle every checkout hold ``dead`` was paying for, in every active show;
    returns (settled, left for later because the provider could not say)."""
    redis = runtime.redis
    orphans: list[tuple[str, dict[str, Any]]] = []
    shows: set[str] = await redis.smembers(keys.active_shows())  # type: ignore[assignment]
    for show in shows:
        async for _, raw in redis.hscan_iter(keys.show_holds(show), count=500):
            hold = orjson.loads(raw)
            if hold.get("node") == dead and hold.get("kind") == "checkout":
                orphans.append((show, hold))
    limit = asyncio.Semaphore(SETTLE_CONCURRENCY)

    async def settle(show: str, hold: dict[str, Any]) -> str:
        async with limit:
            try:
                return await settle_orphan(runtime, show, hold)
            except (RedisError, StoreUnavailable) as exc:
                log.warning("hold %s of a dead node: not settled yet (%s)", hold["id"], exc)
                return "unknown"

    results = await asyncio.gather(*(settle(show, hold) for show, hold in orphans))
    left = sum(result == "unknown" for result in results)
    return len(results) - left, left
