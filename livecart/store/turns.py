"""Turns on a node's Redis connections: at most n commands at once, the rest served in
the order they came, and the steps of a buy already holding units before new taps.

redis-py's ``BlockingConnectionPool`` wakes a waiter when a connection comes back, but a
caller arriving just then may take it first, and the woken one goes to the back of the
queue: in a flash sale of 5 000 taps the earliest taps waited longest, some past
``redis.pool_timeout_s`` (bench/RESULTS.md, "Flash sale"). And a buy that took its units
went to the back of the queue again for its confirmation, behind every tap that came
after it, so the sale's confirmations came out last. Here waiting is first come, first
served, and urgent work is served before every plain waiter: a hold being paid for and
confirmed (``urgent_turns()``), so holds are confirmed as fast as they are taken; the
node's own workers, health checks and staff actions (``urgent_context()``), so a sale
that outruns the node never delays its heartbeat or a moderator's pause.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections import deque
from collections.abc import Iterator
from typing import Any

_URGENT: contextvars.ContextVar[bool] = contextvars.ContextVar("livecart_urgent", default=False)


def urgent_context() -> contextvars.Context:
    """A context whose tasks are urgent from the start: ``create_task(..., context=)``
    for the node's own work (heartbeat, presence, reapers), which must not wait behind
    a flash sale's taps (a node that misses its heartbeats is taken over)."""
    context = contextvars.copy_context()
    context.run(_URGENT.set, True)
    return context


@contextlib.contextmanager
def urgent_turns() -> Iterator[None]:
    """This task's Redis commands inside the block go before plain waiters."""
    token = _URGENT.set(True)
    try:
        yield
    finally:
        _URGENT.reset(token)


class Turns:
    """A FIFO semaphore of ``n`` turns with a lane for urgent waiters."""

    __slots__ = ("_free", "_urgent", "_waiting")

    def __init__(self, n: int) -> None:
        self._free = n
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._urgent: deque[asyncio.Future[None]] = deque()

    @property
    def free(self) -> int:
        return self._free

    async def take(self) -> None:
        if self._free > 0 and not self._waiting and not self._urgent:
            self._free -= 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lane = self._urgent if _URGENT.get() else self._waiting
        lane.append(turn)
        try:
            await turn
        except BaseException:
            if turn.done() and not turn.cancelled():
                self.give()  # handed a turn just as it was cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    lane.remove(turn)
            raise

    def give(self) -> None:
        for lane in (self._urgent, self._waiting):
            while lane:
                turn = lane.popleft()
                if not turn.done():
                    turn.set_result(None)
                    return
        self._free += 1

    async def __aenter__(self) -> None:
        await self.take()

    async def __aexit__(self, *exc: Any) -> None:
        self.give()
