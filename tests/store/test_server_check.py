"""A node on ``redis.url`` checks the server at start: too old is refused, a durability
setting that can lose confirmed orders is named in a warning. Real servers from the
bundled binary, on free ports, started with the settings under test."""

from __future__ import annotations

import logging
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.asyncio.cluster import RedisCluster

from livecart.config import Settings
from livecart.errors import ConfigError
from livecart.runtime import running
from livecart.store.embedded import _die_with_parent, bundled_server_binary
from livecart.store.server_check import (
    check_server,
    durability_problem,
    server_version,
    version_problem,
)
from tests.cluster import ValkeyCluster


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ValkeyProcess:
    """One bundled ``valkey-server`` on a free TCP port with the flags a test gives."""

    def __init__(self, directory: Path, *flags: str) -> None:
        self.port = free_port()
        directory.mkdir(parents=True, exist_ok=True)
        # fmt: off
        command = [
            str(bundled_server_binary()),
            "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(directory),
            "--save", "", "--daemonize", "no", *flags,
        ]
        # fmt: on
        self.log = directory / "valkey.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # the test's main thread forks; it lives on
            )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError(
                        f"valkey-server did not start:\n{self.log.read_text()}"
                    ) from None
                time.sleep(0.02)
        client.close()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def valkey(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ValkeyProcess]:
    """A server started with the flags the test's parametrisation gives."""
    server = ValkeyProcess(tmp_path / "valkey", *request.param)
    yield server
    server.stop()


def durability_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name == "livecart" and "Redis at" in r.getMessage()
    ]


# --- a node starting on the server --------------------------------------------------


@pytest.mark.parametrize("valkey", [["--appendonly", "no"]], indirect=True)
async def test_a_node_on_a_server_without_aof_starts_and_warns_naming_appendonly(
    valkey: ValkeyProcess, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="livecart")
    async with running(settings.with_overrides({"redis": {"url": valkey.url}})):
        pass
    (warning,) = durability_warnings(caplog)
    assert f"Redis at {valkey.url}: appendonly is 'no'" in warning
    assert "set appendonly yes and appendfsync always" in warning


@pytest.mark.parametrize(
    "valkey", [["--appendonly", "yes", "--appendfsync", "everysec"]], indirect=True
)
async def test_appendfsync_everysec_is_named_in_a_warning(
    valkey: ValkeyProcess, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(settings.with_overrides({"redis": {"url": valkey.url}})):
        pass
    (warning,) = durability_warnings(caplog)
    assert "appendfsync is 'everysec'" in warning


@pytest.mark.parametrize(
    "valkey", [["--appendonly", "yes", "--appendfsync", "always"]], indirect=True
)
async def test_appendfsync_always_starts_without_a_warning(
    valkey: ValkeyProcess, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="livecart")
    async with running(settings.with_overrides({"redis": {"url": valkey.url}})):
        pass
    assert durability_warnings(caplog) == []
    assert any(
        r.getMessage().startswith(f"Redis at {valkey.url} is Valkey ") for r in caplog.records
    ), [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize(
    "valkey", [["--appendonly", "yes", "--rename-command", "CONFIG", '""']], indirect=True
)
async def test_a_server_that_refuses_config_is_said_to_be_unchecked(
    valkey: ValkeyProcess, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(settings.with_overrides({"redis": {"url": valkey.url}})):
        pass
    (warning,) = durability_warnings(caplog)
    assert "could not check that confirmed orders survive a crash (CONFIG GET refused" in warning


@pytest.mark.parametrize(
    "valkey",
    [["--appendonly", "yes", "--appendfsync", "always", "--rename-command", "INFO", '""']],
    indirect=True,
)
async def test_a_server_that_refuses_info_starts_and_its_version_is_said_to_be_unchecked(
    valkey: ValkeyProcess, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(settings.with_overrides({"redis": {"url": valkey.url}})):
        pass
    (warning,) = durability_warnings(caplog)
    assert f"Redis at {valkey.url}: could not check its version (INFO refused" in warning


# --- the version rule ---------------------------------------------------------------


def test_redis_7_0_is_refused_naming_the_version_found() -> None:
    problem = version_problem({"redis_version": "7.0.15", "redis_mode": "standalone"})
    assert problem is not None
    assert "is Redis 7.0.15; livecart needs Redis or Valkey 7.2 or newer" in problem


@pytest.mark.parametrize(
    "info",
    [
        {"redis_version": "7.2.0"},
        {"redis_version": "7.4.2"},
        {"redis_version": "8.0.0"},
        {"redis_version": "7.2.4", "valkey_version": "9.1.2"},
        {"redis_version": "7.2.4", "valkey_version": "7.2.5"},
    ],
)
def test_redis_and_valkey_from_7_2_are_accepted(info: dict[str, str]) -> None:
    assert version_problem(info) is None


def test_valkey_is_named_by_its_own_version_not_its_compatibility_level() -> None:
    assert str(server_version({"redis_version": "7.2.4", "valkey_version": "9.1.2"})) == (
        "Valkey 9.1.2"
    )


@pytest.mark.parametrize(
    ("info", "message"),
    [
        ({}, "names no redis_version or valkey_version"),
        ({"redis_version": "unstable"}, "reports redis_version 'unstable', which is not a version"),
    ],
)
def test_an_unreadable_version_is_refused_by_name(info: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        server_version(info)


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"appendonly": "no", "appendfsync": "always"}, "appendonly is 'no'"),
        ({"appendonly": "yes", "appendfsync": "everysec"}, "appendfsync is 'everysec'"),
        ({"appendonly": "yes", "appendfsync": "no"}, "appendfsync is 'no'"),
        ({"appendonly": "yes", "appendfsync": "always"}, None),
    ],
)
def test_each_setting_that_can_lose_orders_is_named(
    config: dict[str, str], named: str | None
) -> None:
    problem = durability_problem(config)
    assert (problem is None) if named is None else (problem is not None and named in problem)


# --- a cluster: every primary ---------------------------------------------------------


async def test_on_a_cluster_every_primary_is_checked_and_a_weak_one_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="livecart")
    with ValkeyCluster(tmp_path, primaries=2) as cluster:
        ports = sorted(node.port for node in cluster.primaries_now())
        weak = cluster.primaries_now()[1]
        weak.client.config_set("appendfsync", "everysec")
        client = RedisCluster.from_url(cluster.seed_url, decode_responses=True)
        try:
            await check_server(client, "the cluster")
        finally:
            await client.aclose()
    checked = [r.getMessage() for r in caplog.records if " is Valkey " in r.getMessage()]
    assert sorted(checked) == [f"the cluster, primary 127.0.0.1:{p} is Valkey 9.1.2" for p in ports]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"the cluster, primary 127.0.0.1:{weak.port}: appendfsync is 'everysec': a crash or "
        "power loss may lose orders acknowledged in the last second (everysec) or more (no); "
        "set appendfsync always (README, 'Durability with your own Redis')"
    ], warnings
