"""The embedded Redis: starts, answers, keeps its data, cleans up after dead runs."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

import pytest
from redis.asyncio import Redis

from livecart.errors import EmbeddedRedisError
from livecart.store.embedded import EmbeddedRedis, bundled_server_binary, resolve_server_binary
from tests.helpers import processes_serving


def embedded(data_dir: Path, **kwargs: object) -> EmbeddedRedis:
    return EmbeddedRedis(data_dir, binary=bundled_server_binary(), **kwargs)  # type: ignore[arg-type]


async def test_starts_answers_and_writes_an_fsynced_aof(data_dir: Path) -> None:
    server = embedded(data_dir)
    await server.start()
    try:
        client = Redis.from_url(server.url, decode_responses=True)
        assert await client.ping()
        assert (await client.config_get("appendonly"))["appendonly"] == "yes"
        assert (await client.config_get("appendfsync"))["appendfsync"] == "always"
        info = await client.info("server")
        assert info["redis_version"] >= "7.2"
        await client.aclose()
        assert (data_dir / "appendonlydir").is_dir()
        assert oct(data_dir.joinpath("redis.sock").stat().st_mode & 0o777) == "0o700"
    finally:
        await server.stop()
    assert not server.running
    assert processes_serving(data_dir) == []


async def test_data_survives_a_restart(data_dir: Path) -> None:
    first = embedded(data_dir)
    await first.start()
    client = Redis.from_url(first.url, decode_responses=True)
    await client.set("order:1", "confirmed")
    await client.aclose()
    await first.stop()

    second = embedded(data_dir)
    await second.start()
    client = Redis.from_url(second.url, decode_responses=True)
    try:
        assert await client.get("order:1") == "confirmed"
    finally:
        await client.aclose()
        await second.stop()


async def test_data_acknowledged_before_a_kill_9_survives(data_dir: Path) -> None:
    """appendfsync always: what the server acknowledged is on disk, even after SIGKILL."""
    first = embedded(data_dir)
    await first.start()
    client = Redis.from_url(first.url, decode_responses=True)
    for i in range(200):
        await client.set(f"k{i}", i)
    await client.aclose()
    assert first.pid is not None
    os.kill(first.pid, signal.SIGKILL)
    await first.stop()

    second = embedded(data_dir)
    await second.start()
    client = Redis.from_url(second.url, decode_responses=True)
    try:
        assert await client.mget([f"k{i}" for i in range(200)]) == [str(i) for i in range(200)]
    finally:
        await client.aclose()
        await second.stop()


async def test_a_second_livecart_on_the_same_data_dir_is_refused(data_dir: Path) -> None:
    first = embedded(data_dir)
    await first.start()
    try:
        with pytest.raises(
            EmbeddedRedisError, match=f"in use by another livecart \\(pid {os.getpid()}\\)"
        ):
            await embedded(data_dir).start()
        assert first.running
    finally:
        await first.stop()


async def test_a_stale_socket_and_pid_file_from_a_killed_run_do_not_block_the_next(
    data_dir: Path,
) -> None:
    first = embedded(data_dir)
    await first.start()
    assert first.pid is not None
    os.kill(first.pid, signal.SIGKILL)
    await asyncio.sleep(0.1)
    assert (data_dir / "redis.sock").exists() and (data_dir / "redis.pid").exists()
    first._release_lock()  # the dead run's lock goes with its process

    second = embedded(data_dir)
    await second.start()
    try:
        client = Redis.from_url(second.url)
        assert await client.ping()
        await client.aclose()
    finally:
        await second.stop()


async def test_an_orphan_server_still_on_our_socket_is_shut_down_first(data_dir: Path) -> None:
    """A server left by a run that died without parent-death signals still serves the
    directory; two servers on one AOF would corrupt it, so the orphan is shut down."""
    data_dir.mkdir()
    orphan = subprocess.Popen(
        [
            str(bundled_server_binary()),
            "--port",
            "0",
            "--unixsocket",
            str(data_dir / "redis.sock"),
            "--dir",
            str(data_dir),
            "--appendonly",
            "yes",
            "--save",
            "",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for _ in range(200):
            if (data_dir / "redis.sock").exists():
                break
            await asyncio.sleep(0.01)
        client = Redis.from_url(f"unix://{data_dir / 'redis.sock'}", decode_responses=True)
        await client.set("left-behind", "yes")
        await client.aclose()

        server = embedded(data_dir)
        await server.start()
        try:
            assert orphan.wait(timeout=10) == 0
            client = Redis.from_url(server.url, decode_responses=True)
            assert await client.get("left-behind") == "yes"
            await client.aclose()
        finally:
            await server.stop()
    finally:
        if orphan.poll() is None:
            orphan.kill()


async def test_supervise_restarts_a_server_that_died(data_dir: Path) -> None:
    server = embedded(data_dir)
    await server.start()
    supervisor = asyncio.create_task(server.supervise(check_every_s=0.05))
    try:
        client = Redis.from_url(server.url, decode_responses=True)
        await client.set("before", "crash")
        old_pid = server.pid
        assert old_pid is not None
        os.kill(old_pid, signal.SIGKILL)
        for _ in range(200):
            if server.restarts == 1 and server.running:
                break
            await asyncio.sleep(0.02)
        assert server.restarts == 1 and server.pid != old_pid
        assert await client.get("before") == "crash"
        await client.aclose()
    finally:
        supervisor.cancel()
        await server.stop()


async def test_a_server_that_cannot_start_is_reported_with_its_log(data_dir: Path) -> None:
    server = embedded(data_dir, appendfsync="sometimes")
    with pytest.raises(EmbeddedRedisError, match="exited with 1 while starting"):
        await server.start()
    assert not server.running
    # The lock was released: a correct start now works.
    fine = embedded(data_dir)
    await fine.start()
    await fine.stop()


def test_a_missing_or_non_executable_binary_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedRedisError, match="no such file"):
        resolve_server_binary(str(tmp_path / "redis-server"))
    plain = tmp_path / "not-executable"
    plain.write_text("")
    with pytest.raises(EmbeddedRedisError, match="is not executable"):
        resolve_server_binary(str(plain))
    assert resolve_server_binary("") == bundled_server_binary()


def test_a_data_dir_too_long_for_a_unix_socket_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EmbeddedRedisError, match="too long for a unix socket path"):
        embedded(tmp_path / ("d" * 120))
