"""The one connection a confirmation waits on (``store.durability``) goes back to the
node's pool however the confirmation ends, even cancelled twice while it unwinds (a
stopping node cancels its workers again after 20 ms: ``runtime.cancel_and_wait``)."""

from __future__ import annotations

import asyncio
from typing import Any

from livecart.runtime import Runtime
from livecart.store import durability


async def test_a_confirmation_cancelled_twice_still_gives_its_connection_back(
    runtime: Runtime,
) -> None:
    pool = runtime.redis.connection_pool
    taken: list[Any] = []
    inside = asyncio.Event()

    async def confirming() -> None:
        async with durability._connection_for(runtime, "s1") as single:
            await single.ping()
            taken.append(single.connection)
            inside.set()
            await asyncio.Event().wait()  # a WAITAOF that never comes back

    task = asyncio.create_task(confirming())
    await inside.wait()
    (connection,) = taken
    assert connection in pool._get_in_use_connections()
    task.cancel()
    await asyncio.sleep(0)  # the task unwinds, into the connection's release
    task.cancel()  # and is cancelled again there
    await asyncio.wait({task})
    assert task.cancelled()
    for _ in range(100):
        if connection not in pool._get_in_use_connections():
            break
        await asyncio.sleep(0.01)
    assert connection not in pool._get_in_use_connections()
