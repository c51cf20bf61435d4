"""Turns on Redis connections (livecart.store.turns): first come, first served, a paid-for
hold's steps first; and the node's pool that uses them, on a real Redis."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from livecart.config import Settings
from livecart.store.client import TurnTakingPool, close_client, make_client
from livecart.store.turns import Turns, urgent_context, urgent_turns


async def test_waiters_are_served_in_the_order_they_came() -> None:
    turns = Turns(1)
    await turns.take()
    served: list[int] = []

    async def waiter(i: int) -> None:
        await turns.take()
        served.append(i)
        turns.give()

    tasks = [asyncio.create_task(waiter(i)) for i in range(20)]
    await asyncio.sleep(0)
    turns.give()
    await asyncio.gather(*tasks)
    assert served == list(range(20))
    assert turns.free == 1


async def test_an_urgent_waiter_goes_before_every_plain_one() -> None:
    turns = Turns(1)
    await turns.take()
    served: list[str] = []

    async def waiter(name: str, urgent: bool) -> None:
        if urgent:
            with urgent_turns():
                await turns.take()
        else:
            await turns.take()
        served.append(name)
        turns.give()

    plain = [asyncio.create_task(waiter(f"tap{i}", False)) for i in range(3)]
    await asyncio.sleep(0)
    confirm = asyncio.create_task(waiter("confirm", True))
    await asyncio.sleep(0)
    turns.give()
    await asyncio.gather(*plain, confirm)
    assert served == ["confirm", "tap0", "tap1", "tap2"]


async def test_a_task_made_in_an_urgent_context_is_urgent_from_the_start() -> None:
    """The node's own workers (heartbeat, reapers) are made this way: they never wait
    behind a sale's taps."""
    turns = Turns(1)
    await turns.take()
    served: list[str] = []

    async def waiter(name: str) -> None:
        await turns.take()
        served.append(name)
        turns.give()

    taps = [asyncio.create_task(waiter(f"tap{i}")) for i in range(3)]
    await asyncio.sleep(0)
    heartbeat = asyncio.create_task(waiter("heartbeat"), context=urgent_context())
    await asyncio.sleep(0)
    turns.give()
    await asyncio.gather(*taps, heartbeat)
    assert served == ["heartbeat", "tap0", "tap1", "tap2"]


async def test_a_cancelled_waiter_leaves_its_place_and_loses_no_turn() -> None:
    turns = Turns(1)
    await turns.take()
    first = asyncio.create_task(turns.take())
    second = asyncio.create_task(turns.take())
    await asyncio.sleep(0)
    first.cancel()
    turns.give()
    await second  # the turn went past the cancelled waiter
    with pytest.raises(asyncio.CancelledError):
        await first
    turns.give()
    assert turns.free == 1


async def test_a_waiter_handed_a_turn_as_it_is_cancelled_passes_it_on() -> None:
    turns = Turns(1)
    await turns.take()
    first = asyncio.create_task(turns.take())
    await asyncio.sleep(0)
    turns.give()  # first's turn is set, but it has not run yet
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert turns.free == 1


def _client(settings: Settings, connections: int, timeout_s: float) -> Redis:
    redis_settings = settings.with_overrides(
        {"redis": {"max_connections": connections, "pool_timeout_s": timeout_s}}
    ).redis
    return make_client(settings.redis.url, redis_settings)


async def test_the_nodes_pool_runs_a_burst_on_its_connections_and_gets_every_turn_back(
    settings: Settings, redis: Redis
) -> None:
    if settings.redis.cluster:
        pytest.skip("the cluster client takes turns per command (BoundedRedisCluster)")
    client = _client(settings, connections=2, timeout_s=5)
    try:
        pool = client.connection_pool
        assert isinstance(pool, TurnTakingPool)
        done: list[int] = []

        async def one(i: int) -> None:
            await client.incr("turns:n")
            done.append(i)

        await asyncio.gather(*(one(i) for i in range(200)))
        assert await redis.get("turns:n") == "200"
        assert sorted(done) == list(range(200))
        async with client.pipeline(transaction=True) as pipe:
            pipe.incr("turns:n")
            pipe.incr("turns:n")
            assert await pipe.execute() == [201, 202]
        assert pool._turns.free == 2  # every turn came back
    finally:
        await close_client(client)


async def test_a_wait_past_the_pool_timeout_is_a_connection_error(
    settings: Settings, redis: Redis
) -> None:
    if settings.redis.cluster:
        pytest.skip("the single server's pool")
    client = _client(settings, connections=1, timeout_s=0.2)
    try:
        blocked = asyncio.create_task(client.blpop(["turns:never"], timeout=1))
        await asyncio.sleep(0.05)
        with pytest.raises(RedisConnectionError, match="No connection available"):
            await client.ping()
        await blocked
        assert await client.ping() is True  # the turn came back
    finally:
        await close_client(client)
