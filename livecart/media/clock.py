"""The stream clock: milliseconds of Redis' ``TIME``, read on this node without asking
Redis for every frame.

Every show event is decided by a script against Redis ``TIME``, and its stream id's
millisecond part is that instant. If each forwarded frame carries its arrival time on
the same clock, a page can show an event with the frame that arrived when it happened,
whichever node made the event. The ingest node keeps the offset between its own
monotonic clock and Redis ``TIME``: sampled a few times, the sample with the shortest
round trip wins (its midpoint is closest to when Redis read its clock), and it is
sampled again now and then so drift stays under a millisecond or two.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

SAMPLES = 5


@dataclass(frozen=True)
class ClockSample:
    sent_ns: int  # monotonic, before TIME was sent
    received_ns: int  # monotonic, when its reply came back
    redis_us: int  # what TIME said, in microseconds since the epoch


def best_offset_us(samples: Sequence[ClockSample]) -> tuple[int, int]:
    """(offset, round trip) in microseconds from the sample with the shortest round trip:
    Redis time ~= monotonic + offset."""
    if not samples:
        raise ValueError("no clock samples")
    best = min(samples, key=lambda s: s.received_ns - s.sent_ns)
    midpoint_us = (best.sent_ns + best.received_ns) // 2000
    return best.redis_us - midpoint_us, (best.received_ns - best.sent_ns) // 1000


class StreamClock:
    """Redis time on this node. ``now_ms()`` is monotonic: it never goes back, even when
    a new sample moves the offset back a little."""

    def __init__(self, redis_time_us: Callable[[], Awaitable[int]]) -> None:
        self._redis_time_us = redis_time_us
        self._offset_us: int | None = None
        self.round_trip_us = 0
        self._last_ms = 0

    @property
    def synced(self) -> bool:
        return self._offset_us is not None

    async def sync(self) -> None:
        samples = []
        for _ in range(SAMPLES):
            sent = time.monotonic_ns()
            redis_us = await self._redis_time_us()
            samples.append(ClockSample(sent, time.monotonic_ns(), redis_us))
        self._offset_us, self.round_trip_us = best_offset_us(samples)

    def at_ms(self, monotonic_ns: int) -> int:
        """The Redis time (ms) of a monotonic instant; needs one ``sync()`` first."""
        if self._offset_us is None:
            raise RuntimeError("the stream clock has not been synced with Redis yet")
        return (monotonic_ns // 1000 + self._offset_us) // 1000

    def now_ms(self) -> int:
        value = max(self.at_ms(time.monotonic_ns()), self._last_ms)
        self._last_ms = value
        return value
