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
    """Run ``calls``; their replies in order. Calls on different slots may apply in any
    order, so a batch must not need one call's write before another's."""
    if not calls:
        return []
    if cluster_of(redis) is not None:
        return list(await asyncio.gather(*(c.script(keys=c.keys, args=c.args) for c in calls)))
    async with redis.pipeline(transaction=False) as pipe:
        for c in calls:
            await c.script(keys=c.keys, args=c.args, client=pipe)
        return list(await pipe.execute())
