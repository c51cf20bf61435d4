"""Holds that were never confirmed go back to stock by themselves.

Every node runs ``run_hold_reaper``; any number may at once. Candidates are read by
Redis' clock, and each is released by the release script, which checks the expiry
again and removes the hold in the same atomic step: two reapers never return one hold
twice, and a hold confirmed meanwhile is left alone. The holds of a node that died
mid-payment are returned this way too.

The same loop closes flash sales whose window has passed (the flash_ended event), so
viewers hear of it even when nobody taps, and looks at the auctions and giveaways that
are due (livecart.commerce.auctions.awards): ended, a payment to take over, an offer
expired.
"""

from __future__ import annotations

import asyncio
import logging

import orjson
from redis.exceptions import RedisError

from livecart.commerce.auctions.awards import sweep_awards
from livecart.commerce.sales.checkout import release_hold
from livecart.commerce.shows.control import end_flash_sale
from livecart.runtime import Runtime
from livecart.store import keys

log = logging.getLogger("livecart.holds")

BATCH = 200


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
