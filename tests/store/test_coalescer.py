"""The taps' scripts sent together (livecart.store.batch.ScriptCoalescer), and commands
packed by hiredis (livecart.store.client), on the session's real Redis through the
node's own client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import uvloop
from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError, ResponseError

from livecart.config import Settings
from livecart.store.batch import ScriptCoalescer
from livecart.store.client import close_client, livecart_connection, make_client

# Appends its argument to a list and answers the list's length, or fails when asked to.
APPEND = """
if ARGV[1] == 'fail' then return redis.error_reply('asked to fail') end
return redis.call('RPUSH', KEYS[1], ARGV[1])
"""


@pytest.fixture
async def node_client(settings: Settings, redis: Redis) -> AsyncIterator[Redis]:
    if settings.redis.cluster:
        pytest.skip("on a Cluster the coalescer sends calls one by one (redis-py's rule)")
    client = make_client(settings.redis.url, settings.redis)
    yield client
    await close_client(client)


async def node_connections(redis: Redis) -> int:
    clients = await redis.client_list()
    return sum(1 for c in clients if c["name"] == "livecart")


async def loaded(client: Redis) -> tuple[AsyncScript, ScriptCoalescer]:
    """APPEND loaded on the server, as a node preloads its scripts, and a coalescer."""
    script = client.register_script(APPEND)
    await script(keys=["co:warm"], args=["x"])
    return script, ScriptCoalescer(client)


async def test_calls_of_one_turn_go_in_one_round_trip_each_with_its_own_reply(
    node_client: Redis, redis: Redis
) -> None:
    script, coalescer = await loaded(node_client)
    replies = await asyncio.gather(
        *(coalescer.call(script, ["co:list"], [f"v{i}"]) for i in range(50))
    )
    # In the order they came, each with its own reply, on one connection: alone, 50
    # concurrent calls would have opened 50.
    assert replies == list(range(1, 51))
    assert await redis.lrange("co:list", 0, -1) == [f"v{i}" for i in range(50)]
    assert await node_connections(redis) == 1


async def test_a_calls_error_goes_to_that_caller_alone(node_client: Redis, redis: Redis) -> None:
    script, coalescer = await loaded(node_client)
    replies = await asyncio.gather(
        *(coalescer.call(script, ["co:list"], [v]) for v in ("a", "fail", "b")),
        return_exceptions=True,
    )
    assert replies[0] == 1 and replies[2] == 2
    assert isinstance(replies[1], ResponseError) and "asked to fail" in str(replies[1])
    assert await redis.lrange("co:list", 0, -1) == ["a", "b"]


async def test_a_server_that_lost_its_scripts_runs_every_call_still(
    node_client: Redis, redis: Redis
) -> None:
    script, coalescer = await loaded(node_client)
    await redis.script_flush()  # as a restarted server: NOSCRIPT for each call
    replies = await asyncio.gather(*(coalescer.call(script, ["co:list"], [i]) for i in range(5)))
    assert replies == [1, 2, 3, 4, 5]
    assert await redis.lrange("co:list", 0, -1) == ["0", "1", "2", "3", "4"]


async def test_a_caller_cancelled_before_its_batch_leaves_runs_nothing(
    node_client: Redis, redis: Redis
) -> None:
    script, coalescer = await loaded(node_client)
    kept = asyncio.create_task(coalescer.call(script, ["co:list"], ["kept"]))
    gone = asyncio.create_task(coalescer.call(script, ["co:list"], ["gone"]))
    await asyncio.sleep(0)  # both are waiting for the batch
    gone.cancel()
    assert await kept == 1
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert await redis.lrange("co:list", 0, -1) == ["kept"]


async def test_a_batch_stopped_on_its_way_leaves_no_caller_waiting(
    node_client: Redis, redis: Redis
) -> None:
    script, coalescer = await loaded(node_client)
    callers = [asyncio.create_task(coalescer.call(script, ["co:list"], [i])) for i in range(3)]
    while not coalescer._sending:  # noqa: ASYNC110 (the batch has left for Redis)
        await asyncio.sleep(0)
    for sending in coalescer._sending:
        sending.cancel()  # as at a node's stop
    async with asyncio.timeout(5):
        outcomes = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(o, asyncio.CancelledError) for o in outcomes), outcomes


async def test_a_batch_that_cannot_reach_redis_fails_every_caller(settings: Settings) -> None:
    if settings.redis.cluster:
        pytest.skip("on a Cluster the coalescer sends calls one by one (redis-py's rule)")
    unreachable = settings.with_overrides(
        {"redis": {"url": "redis://127.0.0.1:1", "connect_timeout_s": 0.5}}
    ).redis
    client = make_client(unreachable.url, unreachable)
    try:
        script = client.register_script(APPEND)
        script.sha = "0" * 40
        coalescer = ScriptCoalescer(client)
        replies = await asyncio.gather(
            *(coalescer.call(script, ["co:list"], [i]) for i in range(3)),
            return_exceptions=True,
        )
        assert all(isinstance(r, RedisConnectionError) for r in replies), replies
    finally:
        await close_client(client)


# -- packing ------------------------------------------------------------------------------

PACKED_ALIKE = [
    ("SET", "k", "v"),
    ("SET", "clé", "värde ✓"),  # UTF-8
    (b"EVALSHA", "a" * 40, 2, "{s:s1}:stock", "{s:s1}:holds", -1, "", 0.1, 1.5, 10**20),
    ("CONFIG GET", "maxmemory"),  # a command of two words goes as two
    (b"CLIENT LIST",),
    ("SET", "k", memoryview(b"bytes")),  # not hiredis': redis-py's own packer
    ("SET", "k", bytearray(b"bytes")),
]


@pytest.mark.parametrize("command", PACKED_ALIKE, ids=lambda c: repr(c[0]))
def test_hiredis_packs_the_bytes_redis_py_would(command: tuple[object, ...]) -> None:
    own, packing = Connection(), livecart_connection(Connection)()
    assert b"".join(packing.pack_command(*command)) == b"".join(own.pack_command(*command))


@pytest.mark.parametrize("bad", [True, None, object()])
def test_what_redis_py_refuses_is_still_refused(bad: object) -> None:
    with pytest.raises(DataError):
        livecart_connection(Connection)().pack_command("SET", "k", bad)


async def test_the_nodes_client_packs_with_hiredis_on_every_kind_of_connection(
    node_client: Redis, redis: Redis
) -> None:
    # The session's Redis is a Unix socket (the embedded default): its class packs too.
    pool = node_client.connection_pool
    assert pool.connection_class.__name__.startswith("Livecart")
    await node_client.set("co:k", "värde ✓")
    assert await redis.get("co:k") == "värde ✓"
    assert await node_client.hset("co:h", mapping={"a": 1, "b": 2.5}) == 2
    assert await redis.hgetall("co:h") == {"a": "1", "b": "2.5"}


def test_a_write_to_a_connection_its_server_closed_is_a_connection_error(
    settings: Settings,
) -> None:
    """On uvloop, as a node runs: a failover's dead connection must read as a
    ConnectionError (a tap answered 503, tap again), not uvloop's RuntimeError (500)."""
    if settings.redis.cluster:
        pytest.skip("the node's single-server pool; cluster nodes use the same class")

    async def write_after_close() -> None:
        client = make_client(settings.redis.url, settings.redis)
        pool = client.connection_pool
        connection = await pool.get_connection()
        try:
            connection._writer.transport.close()  # the server side went away
            with pytest.raises(RedisConnectionError, match="the handler is closed"):
                await connection.send_packed_command(b"*1\r\n$4\r\nPING\r\n", check_health=False)
        finally:
            await pool.release(connection)
        assert await client.ping()  # the pool connects again
        await close_client(client)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(write_after_close())
