"""Fixtures on real parts: one Redis (the bundled valkey-server) per test session,
a clean database for each test, and real servers on free ports.

``LIVECART_TEST_CLUSTER=1`` runs the same tests on a 3-primary Valkey Cluster made from
the bundled binary (``tests/cluster.py``) with ``redis.cluster`` on; a ``redis://`` URL
there names a running cluster to use instead.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from livecart.app import NODE_WORKERS
from livecart.config import Settings
from livecart.runtime import Runtime, running
from livecart.store.client import close_client, make_client
from livecart.store.embedded import EmbeddedRedis, bundled_server_binary
from tests.helpers import STRONG_ADMIN_KEY, STRONG_SECRET, LiveServer, serve_app
from tests.netns import enter_test_network


def pytest_configure(config: pytest.Config) -> None:
    # Before any thread or child process starts, so all of them inherit the namespace.
    enter_test_network()


SLOW_FOLDERS = ("browser", "media", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of the slow folders ``slow``: ``tests/run -m "not slow"`` is the
    quick loop; CI runs everything."""
    tests_root = Path(__file__).parent
    for item in items:
        relative = (
            item.path.relative_to(tests_root) if item.path.is_relative_to(tests_root) else None
        )
        if relative is not None and relative.parts[0] in SLOW_FOLDERS:
            item.add_marker(pytest.mark.slow)


CLUSTER = os.environ.get("LIVECART_TEST_CLUSTER", "")


class _ClusterSeed:
    """A running cluster named by URL: what the fixtures need of a server."""

    def __init__(self, url: str) -> None:
        self.url = url


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if CLUSTER.startswith("redis://"):
        yield _ClusterSeed(CLUSTER)
        return
    if CLUSTER:
        from tests.cluster import ValkeyCluster

        # With a replica per primary: a confirmation waits for a replica's AOF
        # (redis.replica_acks resolves to 1 on a cluster), as in a real deployment.
        # A node timeout of 5 s: on a busy 2-core machine a primary may miss a second of
        # pings, and a failover in the middle of an unrelated test is not what it tests.
        cluster = ValkeyCluster(
            tmp_path_factory.mktemp("session-cluster"),
            replicas_per_primary=1,
            node_timeout_ms=5000,
        )
        cluster.start()
        yield _ClusterSeed(cluster.seed_url)
        cluster.stop()
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("session-redis"), binary=bundled_server_binary())
    asyncio.run(server.start())
    yield server
    asyncio.run(server.stop())


@pytest.fixture
def settings(redis_server: Any) -> Settings:
    return Settings().with_overrides(
        {
            "redis": {"url": redis_server.url, "cluster": bool(CLUSTER)},
            "auth": {"secret": STRONG_SECRET, "admin_api_key": STRONG_ADMIN_KEY},
            "server": {"port": 0},
        }
    )


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    """A client on the session's Redis, emptied before the test."""
    if settings.redis.cluster:
        cluster = make_client(settings.redis.url, settings.redis)  # livecart's own kind
        await cluster.flushall(target_nodes=RedisCluster.PRIMARIES)  # type: ignore[call-arg]
        yield cluster
        await close_client(cluster)
        return
    client = Redis.from_url(settings.redis.url, decode_responses=True)
    await client.flushall()
    yield client
    await client.aclose()


@pytest.fixture
async def runtime(settings: Settings, redis: Redis) -> AsyncIterator[Runtime]:
    async with running(settings, workers=NODE_WORKERS) as started:
        yield started


@pytest.fixture
async def server(settings: Settings, redis: Redis) -> AsyncIterator[LiveServer]:
    async with serve_app(settings) as live:
        yield live


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A short path (unix sockets allow ~100 bytes) for a test's own embedded Redis."""
    return tmp_path / "data"
