"""The one Redis client a node uses: a bounded pool whose waiters are served in turn
(``livecart.store.turns``), timeouts from config.

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

import hiredis
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.asyncio.connection import AbstractConnection, Connection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import SlotNotCoveredError

from livecart.config import RedisSettings
from livecart.store.turns import Turns

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
    pool = TurnTakingPool.from_url(
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


class _LivecartConnection:
    """redis-py's connection, with two changes for a node on uvloop:

    - Commands are packed by hiredis' C packer, as redis-py's synchronous client packs
      them when hiredis is installed; its asyncio client packs in Python: 24 us of CPU
      for a buy's EVALSHA against 5 us (bench/client_bench.py). What hiredis refuses (a
      bool, None, a memoryview) goes to redis-py's own packer, which packs it or raises
      its usual ``DataError``.
    - A write to a connection its server closed (a primary killed in a failover) is a
      ``ConnectionError``, which callers retry or answer 503: uvloop raises
      ``RuntimeError`` there ("the handler is closed"), where asyncio raises the
      ``OSError`` redis-py expects, and a buyer's tap was answered 500.
    """

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        try:
            await super().send_packed_command(command, check_health)  # type: ignore[misc]
        except RuntimeError as err:
            if "closed" not in str(err):
                raise
            raise RedisConnectionError(f"Error while writing to socket: {err}") from err

    def pack_command(self, *args: Any) -> list[bytes]:
        first = args[0]
        if isinstance(first, str):
            args = (*first.encode().split(), *args[1:])
        elif b" " in first:
            args = (*first.split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except TypeError:
            return super().pack_command(*args)  # type: ignore[misc,no-any-return]


_MADE: dict[type[AbstractConnection], type[AbstractConnection]] = {}


def livecart_connection(connection_class: type[AbstractConnection]) -> type[AbstractConnection]:
    """``connection_class`` (TCP, Unix socket or TLS, as the URL chose) with
    ``_LivecartConnection``'s changes; one class each, made once."""
    if issubclass(connection_class, _LivecartConnection):
        return connection_class
    made = _MADE.get(connection_class)
    if made is None:
        name = f"Livecart{connection_class.__name__}"
        made = _MADE[connection_class] = type(name, (_LivecartConnection, connection_class), {})
    return made


class TurnTakingPool(BlockingConnectionPool):
    """redis-py's blocking pool with its waiters served in turn (``livecart.store.turns``):
    first come, first served, a paid-for hold's steps first. The pool's own timeout
    (``redis.pool_timeout_s``) bounds the wait for a turn."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connection_class = livecart_connection(self.connection_class)
        self._turns = Turns(self.max_connections)
        self._holding: set[int] = set()  # connections handed out with a turn

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        try:
            async with asyncio.timeout(self.timeout):
                await self._turns.take()
        except TimeoutError as err:
            raise RedisConnectionError("No connection available.") from err
        try:
            # A turn means a connection is free: redis-py's own wait does not block.
            connection = await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
        except BaseException:
            self._turns.give()
            raise
        self._holding.add(id(connection))
        return connection

    async def release(self, connection: Any) -> None:
        await super().release(connection)
        if id(connection) in self._holding:
            self._holding.discard(id(connection))
            self._turns.give()


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
        self._turns = Turns(in_flight)
        self._primaries: dict[str, Redis] = {}
        self._shutting_down = False
        # Every node's connections are livecart's (``_LivecartConnection``): the seed's
        # already made, and those the slot map will name.
        kwargs_of_nodes = self.nodes_manager.connection_kwargs
        kwargs_of_nodes["connection_class"] = livecart_connection(
            kwargs_of_nodes.get("connection_class", Connection)
        )
        for seed in self.nodes_manager.startup_nodes.values():
            seed.connection_class = cast(
                type[Connection], livecart_connection(seed.connection_class)
            )
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
                connection_class=livecart_connection(node.connection_class),
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
