"""Which nodes are alive: each node heartbeats, so the others notice within about a
second and a half when it dies, and one of them takes over what it left behind (its
holds in payment, its unacknowledged outbox entries: livecart.commerce.sales.holds).

A node's name is its outbox consumer name in both consumer groups, and what its holds
record as the node paying for them, so a dead node's leftovers are found by name.

Keys (outside every show's slot; each command here names one key, so they work on
Redis Cluster unchanged):

- ``lc:node:NAME``: string, the node's heartbeat; set with PX ``HEARTBEAT_TTL_MS`` every
  ``HEARTBEAT_INTERVAL_S``. Its absence is the node's death.
- ``lc:nodes``: zset NAME -> Redis time (ms) the node started: the nodes to watch.

Both hold the node's start time, which never changes while it lives: a beat rewrites
the same values (only the TTL moves), so the keyspace reads the same from one beat to
the next.
- ``lc:node:NAME:takeover``: string, SET NX by the survivor that takes the dead node's
  work over, so one survivor acts per dead node (acting twice is safe anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from livecart.runtime import Runtime
from livecart.store import keys

log = logging.getLogger("livecart.nodes")

HEARTBEAT_INTERVAL_S = 0.5
HEARTBEAT_TTL_MS = 1500
# How long one survivor has the dead node's work to itself before another may try.
TAKEOVER_LOCK_MS = 5000


def node_name(runtime: Runtime) -> str:
    """This node's name, the same for its whole life (one per runtime, so two nodes run
    in one test process are two nodes). A restarted process is a new node."""
    return runtime.node


async def beat(redis: Redis, name: str, started_ms: int) -> None:
    """One heartbeat: the key that says ``name`` is alive, and its place among the nodes."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.set(keys.node_heartbeat(name), started_ms, px=HEARTBEAT_TTL_MS)
        pipe.zadd(keys.nodes(), {name: started_ms})
        await pipe.execute()


async def run_heartbeat(runtime: Runtime) -> None:
    """Beat every ``HEARTBEAT_INTERVAL_S`` until the node stops; on a clean stop the
    heartbeat is removed, so the others take over at once what may be left."""
    name = node_name(runtime)
    started_ms: int | None = None
    try:
        while True:
            try:
                if started_ms is None:
                    seconds, micros = await runtime.redis.time()
                    started_ms = seconds * 1000 + micros // 1000
                await beat(runtime.redis, name, started_ms)
            except RedisError as exc:
                log.warning("heartbeat of node %s: Redis did not answer (%s)", name, exc)
            await asyncio.sleep(HEARTBEAT_INTERVAL_S)
    finally:
        # A node that stops cleanly has acknowledged what it applied; deleting its
        # heartbeat lets a survivor settle the rest now rather than in 1.5 s.
        with contextlib.suppress(RedisError, asyncio.CancelledError):
            await asyncio.shield(runtime.redis.delete(keys.node_heartbeat(name)))


async def dead_nodes(redis: Redis, me: str) -> list[str]:
    """Known nodes whose heartbeat has lapsed (never ``me``)."""
    names: list[str] = await redis.zrange(keys.nodes(), 0, -1)  # type: ignore[assignment]
    names = [name for name in names if name != me]
    if not names:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.exists(keys.node_heartbeat(name))
        alive = await pipe.execute()
    return [name for name, present in zip(names, alive, strict=True) if not present]


async def claim_takeover(redis: Redis, dead: str, me: str) -> bool:
    """True when ``me`` is the survivor that takes ``dead``'s work over now."""
    return bool(await redis.set(keys.node_takeover(dead), me, nx=True, px=TAKEOVER_LOCK_MS))


async def forget_node(redis: Redis, dead: str) -> None:
    """``dead`` has nothing left to take over: stop watching it. If it was only slow
    and beats again, it is listed again."""
    await redis.zrem(keys.nodes(), dead)
