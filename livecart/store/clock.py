"""Redis' clock, read outside a script: the one clock every node agrees on.

On a Cluster each primary has its own clock; ``near`` names a key whose primary
answers, so a time compared with what a show's scripts stamped (hold expiries, sale
windows) comes from the same server's clock. Scripts read ``TIME`` themselves.
"""

from __future__ import annotations

from redis.asyncio import Redis

from livecart.store.client import cluster_of


async def redis_time_us(redis: Redis, near: str | None = None) -> int:
    """Redis ``TIME`` in microseconds, from the server holding ``near`` on a Cluster."""
    cluster = cluster_of(redis)
    if cluster is not None and near is not None:
        seconds, micros = await cluster.time(target_nodes=cluster.get_node_from_key(near))
    else:
        seconds, micros = await redis.time()
    return int(seconds) * 1_000_000 + int(micros)


async def redis_now_ms(redis: Redis, near: str | None = None) -> int:
    """Redis ``TIME`` in milliseconds (see ``redis_time_us``)."""
    return await redis_time_us(redis, near) // 1000
