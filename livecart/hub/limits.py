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


class JoinTurns:
    """A node's join rate, and for each join past it a turn.

    A refused join costs a handshake, and so does its retry: if every refused socket
    were told "in a moment", a storm would come back all at once and be refused again,
    paying for each join several times. Each refused join is instead given the next free
    turn (turns ``1 / rate`` apart after the last one given), so the refused part of a
    storm returns spread over the time the node needs to admit it, each socket about
    once.
    """

    __slots__ = ("bucket", "next_turn")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.bucket = TokenBucket(rate, burst, now)
        self.next_turn = now

    def take(self, now: float) -> float:
        """0.0 when the join may go ahead (and is counted); otherwise the seconds until
        its turn."""
        wait = self.bucket.take(now)
        if not wait:
            return 0.0
        turn = max(self.next_turn, now + wait)
        self.next_turn = turn + 1 / self.bucket.rate
        return turn - now
