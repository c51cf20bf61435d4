"""The stream clock: Redis time read on this node, with no Redis call per frame."""

from __future__ import annotations

import time

import pytest
from redis.asyncio import Redis

from livecart.media.clock import ClockSample, StreamClock, best_offset_us
from livecart.store.clock import redis_time_us


def test_the_sample_with_the_shortest_round_trip_wins() -> None:
    samples = [
        ClockSample(sent_ns=0, received_ns=10_000_000, redis_us=1_000_000_000),
        ClockSample(sent_ns=20_000_000, received_ns=20_400_000, redis_us=1_000_020_500),
        ClockSample(sent_ns=30_000_000, received_ns=36_000_000, redis_us=1_000_033_000),
    ]
    offset, round_trip = best_offset_us(samples)
    assert round_trip == 400
    assert offset == 1_000_020_500 - 20_200  # TIME minus the midpoint of its round trip


def test_no_samples_is_an_error() -> None:
    with pytest.raises(ValueError, match="no clock samples"):
        best_offset_us([])


async def test_the_clock_agrees_with_redis_time(redis: Redis) -> None:
    clock = StreamClock(lambda: redis_time_us(redis))
    with pytest.raises(RuntimeError, match="not been synced"):
        clock.now_ms()
    await clock.sync()
    for _ in range(20):
        before = await redis_time_us(redis)
        mine = clock.now_ms()
        after = await redis_time_us(redis)
        # Between two TIME replies, give or take a millisecond of rounding.
        assert before // 1000 - 1 <= mine <= after // 1000 + 1


async def test_now_never_goes_back_when_a_new_sample_moves_the_offset(redis: Redis) -> None:
    shift = {"us": 0}

    async def shifted_time() -> int:
        return await redis_time_us(redis) + shift["us"]

    clock = StreamClock(shifted_time)
    await clock.sync()
    first = clock.now_ms()
    shift["us"] = -50_000  # the next sync says Redis' clock is 50 ms behind
    await clock.sync()
    assert clock.now_ms() >= first
    assert clock.at_ms(time.monotonic_ns()) < first + 10
