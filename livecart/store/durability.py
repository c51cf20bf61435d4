"""A confirmed order survives the loss of its primary: before a buyer is told
"confirmed", the order must be in the AOF of ``redis.confirm_replicas`` replicas
(DESIGN.md invariant 5), checked with ``WAITAOF 1 <replicas> <timeout>`` (Valkey 9,
Redis 7.2+).

WAITAOF counts only the writes of the connection it is sent on, so the confirm script,
a harmless marker write in the show's slot and the WAITAOF go out on one connection
held for the purpose. The marker is there because the script may write nothing (it
found the order it wrote before: a retry after a lost reply), and a replayed
confirmation (a retry of a tap confirmed earlier, perhaps on another node) writes
nothing either; the marker's acknowledgement covers every earlier write of that
primary's replication stream, the order included. If the connection was re-made on
the way (its CLIENT ID changed), a WAITAOF on it proves nothing: not acknowledged.

Measured here (Valkey 9.1.2, primary and replica with ``appendfsync always``): a
replica answers the primary's GETACK before it fsyncs what arrived with it, and only
reports the fsync at its next once-a-second ACK. A write pipelined with its WAITAOF
therefore waited ~1 s almost every time; sent after the write's reply it waits ~2 ms,
but about 1 in 10 still missed the replica's fsync and waited the second. So the wait
is asked in short WAITAOF calls (each sends a fresh GETACK) until acknowledged or
``redis.replica_ack_timeout_ms`` has passed: at most ~100 ms (the server's timer) then.

Past the timeout the order stays written; the caller answers ``in_progress`` and a
retry with the same key asks again. Never "confirmed" early, never a refusal. With
``confirm_replicas`` = 0 nothing is waited for: the reply of the script itself (fsync
before reply, ``appendfsync always``) is the promise.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from livecart.runtime import Runtime
from livecart.store import keys
from livecart.store.client import primary_client

MARK_TTL_MS = 60_000
# One WAITAOF call's timeout: short, so that each call asks the replicas again.
WAIT_SLICE_MS = 10


@contextlib.asynccontextmanager
async def _connection_for(runtime: Runtime, show: str) -> AsyncIterator[Redis]:
    """A client bound to one connection, to the primary owning the show's slot: the one
    place that chooses it. On one server, a connection of the node's pool. On Redis
    Cluster it must be a connection to the primary of ``keys.show(show)``'s slot (a
    cluster client would send the keyless WAITAOF to any node).

    Not redis-py's ``async with client.client()``: its exit awaits a lock before it gives
    the connection back, and a second cancel there (``runtime.cancel_and_wait`` cancels
    a stopping worker again after 20 ms) skipped the release, leaving the connection
    taken from the pool for good. Here the release is shielded: it completes even when
    the caller is cancelled again while it waits."""
    single = primary_client(runtime.redis, keys.show_durable_mark(show)).client()
    await single.initialize()  # takes the connection
    try:
        yield single
    finally:
        await asyncio.shield(single.aclose())


async def run_confirmed(
    runtime: Runtime,
    show: str,
    script: AsyncScript,
    script_keys: Sequence[str],
    args: Sequence[Any],
) -> tuple[Any, bool]:
    """Run a confirm ``script``; return its reply and whether the write is as durable
    as ``redis.confirm_replicas`` asks (always True when that is 0)."""
    if runtime.settings.redis.confirm_replicas == 0:
        return await script(keys=list(script_keys), args=list(args)), True
    async with _connection_for(runtime, show) as connection:
        client_id = await connection.client_id()
        try:
            reply = await connection.evalsha(script.sha, len(script_keys), *script_keys, *args)
        except NoScriptError:
            # After a restart or failover the server forgot the script: load it and run
            # again (the confirm scripts are safe to run twice with the same order id).
            script.sha = await connection.script_load(script.script)
            reply = await connection.evalsha(script.sha, len(script_keys), *script_keys, *args)
        return reply, await _acknowledged(runtime, show, connection, client_id)


async def replicas_hold_earlier_writes(runtime: Runtime, show: str) -> bool:
    """For a replayed confirmation: True once the show's primary's replicas hold
    everything it wrote until now (the order among it), as ``confirm_replicas`` asks."""
    if runtime.settings.redis.confirm_replicas == 0:
        return True
    async with _connection_for(runtime, show) as connection:
        client_id = await connection.client_id()
        return await _acknowledged(runtime, show, connection, client_id)


async def _acknowledged(runtime: Runtime, show: str, connection: Redis, client_id: int) -> bool:
    """Write the marker, then WAITAOF for it in short calls until the replicas have it
    or the timeout passed."""
    settings = runtime.settings.redis
    await connection.set(keys.show_durable_mark(show), "1", px=MARK_TTL_MS)
    deadline = time.monotonic() + settings.replica_ack_timeout_ms / 1000
    while True:
        local, replicas = await connection.execute_command(  # type: ignore[no-untyped-call]
            "WAITAOF", 1, settings.confirm_replicas, WAIT_SLICE_MS
        )
        if int(local) >= 1 and int(replicas) >= settings.confirm_replicas:
            # Only a proof if these calls went on the connection that wrote.
            return bool(await connection.client_id() == client_id)
        if time.monotonic() >= deadline:
            return False
