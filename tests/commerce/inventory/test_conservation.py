"""Units are conserved across a brand's inventory and its shows (issue 11): 8 allocators
move units to and from two shows while buyers buy, Redis is killed with SIGKILL in the
middle and restarted from its AOF, the sweep finishes what was in flight, and then for
every tracked sku on hand + the sum over shows of its allocation is what it was at the
start, and every move reached its show at most once."""

from __future__ import annotations

import asyncio
import os
import random
import signal
from collections import Counter
from pathlib import Path

from redis.exceptions import RedisError

from livecart.commerce.inventory import moves
from livecart.commerce.sales.checkout import BuyRequest, buy
from livecart.config import Settings
from livecart.errors import LivecartError
from livecart.runtime import Runtime, running
from livecart.store import keys
from tests.commerce.conftest import assert_units_add_up, seed_show

SHOWS = ("s1", "s2")
SKUS = ("p-plain", "p-dollars")
ON_HAND = 400
ALLOCATORS = 8
OPS_PER_ALLOCATOR = 40
BUYERS = 16
KILL_AFTER_OPS = 100


def node_settings(data_dir: Path) -> Settings:
    return Settings().with_overrides(
        {
            "redis": {"data_dir": str(data_dir), "socket_timeout_s": 2},
            # A buy whose reply the kill cut off is sent again by the client and finds its
            # own key in flight: it waits out the hold (as tests/e2e/test_flash_storm.py
            # does, keep that short).
            "checkout": {"payment_provider": "test", "hold_seconds": 8, "payment_timeout_s": 2},
        }
    )


async def totals(runtime: Runtime) -> dict[str, int]:
    """Per tracked sku: on hand + allocated over both shows."""
    redis = runtime.redis
    result = {}
    for sku in SKUS:
        total = int(await redis.hget(keys.brand_inventory("b1"), sku) or 0)
        for show in SHOWS:
            total += int(await redis.hget(keys.show_allocated(show), sku) or 0)
        result[sku] = total
    return result


async def storm(runtime: Runtime) -> Counter[str]:
    """Allocators and buyers at once; Redis killed with -9 after KILL_AFTER_OPS moves."""
    outcomes: Counter[str] = Counter()
    done_ops = 0
    shared_ids: list[tuple[str, str, str, int | None, str]] = []  # retried by others
    stop_buying = asyncio.Event()
    killed = asyncio.Event()

    in_flight: set[asyncio.Task[None]] = set()

    async def one_move(kind: str, show: str, sku: str, units: int | None, move_id: str) -> None:
        task = asyncio.create_task(a_move(kind, show, sku, units, move_id))
        in_flight.add(task)
        try:
            await task
        except asyncio.CancelledError:
            outcomes[f"{kind}:cut_off"] += 1
        finally:
            in_flight.discard(task)

    async def a_move(kind: str, show: str, sku: str, units: int | None, move_id: str) -> None:
        try:
            if kind == "to":
                assert units is not None
                await moves.move_to_show(runtime, show, sku, units, move_id)
            else:
                await moves.return_from_show(runtime, show, sku, units, move_id)
            outcomes[f"{kind}:ok"] += 1
        except LivecartError as exc:
            outcomes[f"{kind}:{exc.code}"] += 1
        except (RedisError, OSError) as exc:
            outcomes[f"{kind}:{type(exc).__name__}"] += 1
            await asyncio.sleep(0.05)

    async def first_step_only(rng: random.Random, move_id: str) -> None:
        show, sku = rng.choice(SHOWS), rng.choice(SKUS)
        args: list[str | int]
        if rng.random() < 0.5:
            script, args = "move_take", [move_id, show, sku, rng.randint(1, 12)]
        else:
            script, args = "move_intent", [move_id, show, sku, -1, "0"]
        try:
            reply = await runtime.scripts[script](keys=moves._brand_keys("b1"), args=args)
            outcomes[f"first_step_only:{reply[0]}"] += 1
        except (RedisError, OSError) as exc:
            outcomes[f"first_step_only:{type(exc).__name__}"] += 1

    async def allocator(n: int) -> None:
        nonlocal done_ops
        rng = random.Random(n)
        for i in range(OPS_PER_ALLOCATOR):
            if shared_ids and rng.random() < 0.2:  # someone else's move, asked again
                await one_move(*rng.choice(shared_ids))
            elif rng.random() < 0.1:  # a caller that dies right after the brand's step
                await first_step_only(rng, f"a{n}-{i}")
            else:
                kind = rng.choice(("to", "to", "back"))
                units: int | None = rng.randint(1, 12)
                if kind == "back" and rng.random() < 0.25:
                    units = None
                move = (kind, rng.choice(SHOWS), rng.choice(SKUS), units, f"a{n}-{i}")
                await one_move(*move)
                if rng.random() < 0.3:
                    shared_ids.append(move)
                    await one_move(*move)  # the same move at once again
            done_ops += 1
            if done_ops >= KILL_AFTER_OPS and not killed.is_set():
                killed.set()
                assert runtime.embedded is not None and runtime.embedded.pid is not None
                os.kill(runtime.embedded.pid, signal.SIGKILL)
                # The node's callers die too: every move under way stops at whatever
                # step it reached, for the sweep to finish.
                for task in in_flight:
                    task.cancel()
                outcomes["killed_after_ops"] = done_ops

    async def buyer(n: int) -> None:
        i = 0
        while not stop_buying.is_set():
            i += 1
            request = BuyRequest(sku=SKUS[i % 2], quantity=1 + i % 2, idempotency_key=f"b{n}-{i}")
            try:
                outcome = await buy(runtime, SHOWS[(n + i) % 2], f"buyer{n}", request)
                outcomes[f"buy:{outcome.result}"] += 1
            except (LivecartError, RedisError, OSError) as exc:
                outcomes[f"buy:{type(exc).__name__}"] += 1
            await asyncio.sleep(0.01)

    buyers = [asyncio.create_task(buyer(n)) for n in range(BUYERS)]
    await asyncio.gather(*(allocator(n) for n in range(ALLOCATORS)))
    stop_buying.set()
    await asyncio.gather(*buyers)
    return outcomes


async def test_units_are_conserved_through_a_storm_and_a_kill_9_of_redis(data_dir: Path) -> None:
    settings = node_settings(data_dir)
    async with running(settings) as runtime:
        for show in SHOWS:
            await seed_show(runtime, show)
        for sku in SKUS:
            await moves.set_on_hand(runtime, "b1", sku, ON_HAND)
        start = await totals(runtime)
        assert start == {
            sku: ON_HAND + 2 * 50 if sku == "p-plain" else ON_HAND + 2 * 10 for sku in SKUS
        }
        first_pid = runtime.embedded.pid if runtime.embedded else None
        outcomes = await storm(runtime)
        assert runtime.embedded is not None and runtime.embedded.restarts >= 1
        assert runtime.embedded.pid != first_pid

    # Start the same data again (from its AOF, as after a crash of the node too), let the
    # sweep finish every move left in flight, and count.
    async with running(settings) as runtime:
        redis = runtime.redis
        outcomes["pending_before_sweep"] = await redis.zcard(keys.brand_moves_pending("b1"))
        report = await moves.sweep_inventory(runtime, settle_after_ms=0)
        assert report.finished == outcomes["pending_before_sweep"] >= 1
        assert await redis.zcard(keys.brand_moves_pending("b1")) == 0
        assert await totals(runtime) == start
        for show in SHOWS:
            await assert_units_add_up(redis, show)

        records = [
            moves.Move.from_json(raw)
            for raw in (await redis.hgetall(keys.brand_moves("b1"))).values()
        ]
        assert all(m.settled for m in records)
        for show in SHOWS:
            applied_in_show: dict[str, str] = await redis.hgetall(keys.show_moves(show))  # type: ignore[assignment]
            of_show = {m.id: m for m in records if m.show == show}
            # Every id the show applied is a move of the brand, settled the same way ...
            assert set(applied_in_show) == set(of_show)
            for move_id, outcome in applied_in_show.items():
                m = of_show[move_id]
                if outcome.startswith("applied:"):
                    assert m.state == "applied" and m.moved == int(outcome.split(":")[1])
                elif outcome.startswith("refused:"):
                    assert m.state == "reversed"
                else:
                    assert m.state == "returned" and m.moved == int(outcome.split(":")[1])
            # ... and the show's allocation is its start plus what it applied, once each.
            for sku in SKUS:
                moved_in = sum(
                    m.moved for m in of_show.values() if m.sku == sku and m.kind == "to_show"
                )
                moved_out = sum(
                    m.moved for m in of_show.values() if m.sku == sku and m.kind == "from_show"
                )
                allocated = int(await redis.hget(keys.show_allocated(show), sku) or 0)
                assert allocated == (50 if sku == "p-plain" else 10) + moved_in - moved_out

    applied = sum(1 for m in records if m.state == "applied")
    returned = sum(1 for m in records if m.state == "returned")
    print(
        f"\nstart totals {start}; moves {len(records)} (applied {applied}, returned {returned}, "
        f"reversed {len(records) - applied - returned}); outcomes {dict(sorted(outcomes.items()))}"
    )
