"""Rate limits as token buckets: pure arithmetic on a clock the caller passes, so the
rules are tested without sleeping and every limit in the hub decides the same way."""

from __future__ import annotations


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; starts full."""

    __slots__ = ("burst", "rate", "tokens", "updated")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.updated = now

    def take(self, now: float, cost: float = 1.0) -> float:
        """0.0 when the action may go ahead (and is counted); otherwise the seconds to
        wait before it would, and nothing is counted."""
        elapsed = now - self.updated
        if elapsed > 0:
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
            self.updated = now
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        return (cost - self.tokens) / self.rate

    def full(self, now: float) -> bool:
        """True when the bucket has refilled: nothing about it is worth keeping."""
        return self.tokens + (now - self.updated) * self.rate >= self.burst
