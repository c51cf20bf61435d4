"""Many script calls at once: one round trip on one server, one per slot on a Cluster.

redis-py's cluster pipeline refuses EVALSHA, so on a Cluster the calls of one slot go
one after another, in the batch's order, and the slots concurrently. Either way a
call's NOSCRIPT (a restarted or promoted server that lost its script cache) loads the
script and runs it again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from livecart.store.client import cluster_of


@dataclass(frozen=True)
class ScriptCall:
    script: AsyncScript
    keys: Sequence[str]
    args: Sequence[Any]


async def run_scripts(redis: Redis, calls: Sequence[ScriptCall]) -> list[Any]:
    """Run ``calls``; their replies in order. Calls on one slot apply in the batch's
    order (a credit before its reversal, one version of an order before the next);
    calls on different slots in any order."""
    if not calls:
        return []
    cluster = cluster_of(redis)
    if cluster is not None:
        by_slot: dict[int, list[int]] = {}
        for i, call in enumerate(calls):
            by_slot.setdefault(cluster.keyslot(call.keys[0]), []).append(i)
        replies: list[Any] = [None] * len(calls)

        async def run_slot(indexes: list[int]) -> None:
            for i in indexes:
                replies[i] = await calls[i].script(keys=calls[i].keys, args=calls[i].args)

        # A TaskGroup, not gather: when one slot fails the others are stopped before the
        # error reaches the caller, so no call of this batch runs after a retry of it
        # has begun.
        try:
            async with asyncio.TaskGroup() as group:
                for indexes in by_slot.values():
                    group.create_task(run_slot(indexes))
        except BaseExceptionGroup as failed:
            raise failed.exceptions[0] from None
        return replies
    async with redis.pipeline(transaction=False) as pipe:
        for c in calls:
            await c.script(keys=c.keys, args=c.args, client=pipe)
        return list(await pipe.execute())
