"""The one Redis client a node uses: a bounded pool, timeouts from config.

Connection errors are retried twice with a short backoff (the usual cause is a pooled
connection to a server that restarted); timeouts are not retried, because a timed-out
script may still have run. Every script livecart runs must therefore be safe to run
twice with the same arguments (idempotency keys, set-if-absent): a retry after a lost
reply must not apply a change twice.

With ``redis.cluster`` the client is redis-py's ``RedisCluster``: it learns the slot map
from the seed node in ``redis.url``, sends each command to the primary owning its key's
slot, follows MOVED / ASK, and refreshes the map after a failover. It speaks the same
command API as ``Redis``, so the package types it as ``Redis`` (``cluster_of`` tells
the two apart where the difference matters: blocking reads, WAITAOF, SCRIPT LOAD).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any, cast

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import SlotNotCoveredError

from livecart.config import RedisSettings

CLIENT_NAME = "livecart"


def make_client(url: str, settings: RedisSettings, *, blocking_reads: bool = False) -> Redis:
    """A client for ``url``. ``blocking_reads``: for XREAD BLOCK loops, with no socket
    timeout (a block may last longer than any one reply should) and a pool of its own
    that does not starve the one buys use."""
    socket_timeout = None if blocking_reads else settings.socket_timeout_s
    name = f"{CLIENT_NAME}-hub" if blocking_reads else CLIENT_NAME
    if settings.cluster:
        # Blocking reads: one per room, each held for a block; not what the bound is for.
        in_flight = BLOCKING_READS_IN_FLIGHT if blocking_reads else settings.max_connections
        return cast(
            Redis,
            BoundedRedisCluster.from_url(
                url,
                in_flight=in_flight,
                # Commands wait for one of ``in_flight`` turns; pipelines and MULTIs take
                # their connections beside them, hence the room per node.
                max_connections=2 * in_flight,
                socket_timeout=socket_timeout,
                socket_connect_timeout=settings.connect_timeout_s,
                # A node that fails or a slot that moved: redis-py refreshes its map
                # and sends the command again, up to three times; then the caller sees
                # the error (a buyer's tap answers 503 and is retried with its key).
                retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=3),
                decode_responses=True,
                client_name=name,
            ),
        )
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=settings.max_connections,
        timeout=settings.pool_timeout_s,
        socket_timeout=socket_timeout,
        socket_connect_timeout=settings.connect_timeout_s,
        retry=Retry(
            ExponentialBackoff(cap=0.5, base=0.05),
            retries=2,
            supported_errors=(RedisConnectionError,),
        ),
        decode_responses=True,
        client_name=name,
    )
    return Redis(connection_pool=pool)


BLOCKING_READS_IN_FLIGHT = 10_000


class BoundedRedisCluster(RedisCluster):
    """redis-py's cluster client, made safe for a node under a burst and a failover.

    - Commands and pipelines wait their turn, like the single server's
      ``BlockingConnectionPool``: redis-py's own node pools raise ``MaxConnectionsError``
      at once when a burst (a flash sale's taps) wants more connections to one node than
      ``max_connections``; at most ``in_flight`` commands and pipelines run at once, each
      using one connection per node, and each node's pool allows twice that.
    - A connection error inside a pipeline makes redis-py call ``aclose()`` on the whole
      client to refresh its slot map, which would cut every other request's connection
      mid-reply (they then fail with errors that are not Redis errors). Here that call
      only asks for the refresh; ``close_for_good()`` closes the client.
    """

    def __init__(self, *args: Any, in_flight: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_flight = in_flight
        self._turns = asyncio.Semaphore(in_flight)
        self._primaries: dict[str, Redis] = {}
        self._shutting_down = False
        # redis-py's cluster MULTI calls each reply's callback with the command's
        # keyword arguments; the callbacks that are the builtin ``bool`` take none.
        for command, callback in list(self.response_callbacks.items()):
            if callback is bool:
                self.set_response_callback(command, _truth)  # type: ignore[arg-type]

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with self._turns, _closed_under_us():
            return await super().execute_command(*args, **kwargs)

    def primary_client(self, key: str) -> Redis:
        """A plain client of the primary now owning ``key``'s slot, for commands that
        must go on the connection of the writes before them (WAITAOF counts only its
        own connection's). A slot that moved meanwhile answers MOVED to its writes."""
        node = self.get_node_from_key(key)
        if node is None:
            raise SlotNotCoveredError(f"no primary serves the slot of {key!r} now")
        client = self._primaries.get(node.name)
        if client is None:
            pool = BlockingConnectionPool(
                connection_class=node.connection_class,
                max_connections=self._in_flight,
                **node.connection_kwargs,
            )
            client = self._primaries[node.name] = Redis(connection_pool=pool)
        return client

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> Any:
        if shard_hint:
            raise ValueError("a cluster pipeline takes no shard_hint")
        return _TurnTakingPipeline(self, transaction)  # type: ignore[abstract]

    async def aclose(self) -> None:
        if not self._shutting_down:
            self._initialize = True  # the next command refreshes the slot map first
            return
        for client in self._primaries.values():
            await client.aclose()
        await super().aclose()

    async def close_for_good(self) -> None:
        """Close every connection: the node is stopping."""
        self._shutting_down = True
        await self.aclose()


class _TurnTakingPipeline(ClusterPipeline):
    """A cluster pipeline whose execution takes one of its client's turns."""

    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> Any:
        client = self.cluster_client
        if not isinstance(client, BoundedRedisCluster):
            return await super().execute(raise_on_error, allow_redirections)
        async with client._turns, _closed_under_us():
            return await super().execute(raise_on_error, allow_redirections)


@contextlib.asynccontextmanager
async def _closed_under_us() -> AsyncIterator[None]:
    """During a failover redis-py disconnects a node's connections while other tasks
    are writing on them, which fails inside redis-py with ``AttributeError`` (no writer)
    or ``RuntimeError`` (transport closed): a lost connection, said as one, so callers
    retry or answer 503 as for any other."""
    try:
        yield
    except (AttributeError, RuntimeError) as exc:
        if not _raised_in_redis_py(exc):
            raise
        raise RedisConnectionError(f"the connection was closed under the command: {exc}") from exc


def _raised_in_redis_py(exc: BaseException) -> bool:
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    return frame is not None and f"{os.sep}redis{os.sep}" in frame.tb_frame.f_code.co_filename


async def close_client(client: Redis) -> None:
    """Close a client made by ``make_client`` (a cluster client's ``aclose`` only asks
    for a slot map refresh, see ``BoundedRedisCluster``)."""
    if isinstance(client, BoundedRedisCluster):
        await client.close_for_good()
    else:
        await client.aclose()


def _truth(reply: Any, **_options: Any) -> bool:
    return bool(reply)


def cluster_of(client: Redis) -> RedisCluster | None:
    """The client as a ``RedisCluster`` when it is one, else None."""
    return client if isinstance(client, RedisCluster) else None


def primary_client(client: Redis, key: str) -> Redis:
    """A plain client of the server that owns ``key``: the client itself on one server,
    the slot's primary on a Cluster (``BoundedRedisCluster.primary_client``)."""
    if isinstance(client, BoundedRedisCluster):
        return client.primary_client(key)
    if isinstance(client, RedisCluster):
        raise TypeError("a cluster client made by make_client is needed here")
    return client
