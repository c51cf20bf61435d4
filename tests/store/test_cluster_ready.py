"""``/readyz`` of a node on a real Valkey Cluster (3 primaries, a replica each) as its
nodes die and come back: a shard without the replica its confirmations wait for
(``redis.replica_acks``) is named with its replica count; a primary killed is taken
over by its replica, and the node says ready again once the shard can confirm; with
``replica_acks`` 0 a replica's death changes nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from livecart.config import Settings
from tests.cluster import ClusterNode, ValkeyCluster
from tests.helpers import STRONG_ADMIN_KEY, STRONG_SECRET, LiveServer, serve_app

POLL_S = 0.05
# After a replica died or came back: the primary notices at once (its link closes) or
# at the replica's sync; a few seconds leaves room on a loaded machine.
SETTLE_S = 10.0
# After the cluster itself says the promotion is done, the node's client must follow.
AFTER_PROMOTION_S = 5.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValkeyCluster]:
    cluster = ValkeyCluster(
        tmp_path_factory.mktemp("ready-cluster"), primaries=3, replicas_per_primary=1
    )
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def healthy(cluster: ValkeyCluster) -> Iterator[ValkeyCluster]:
    """The cluster whole before and after the test: every node a test killed restarts
    (an old primary rejoins as a replica of the node that took over)."""
    cluster.wait_ok(timeout=30)
    yield cluster
    for node in cluster.nodes:
        if not node.alive:
            cluster.restart(node, wait=False)
    cluster.wait_ok(timeout=30)


def node_settings(cluster: ValkeyCluster, **redis: Any) -> Settings:
    return Settings().with_overrides(
        {
            "redis": {"url": cluster.seed_url, "cluster": True, **redis},
            "auth": {"secret": STRONG_SECRET, "admin_api_key": STRONG_ADMIN_KEY},
            "server": {"port": 0},
        }
    )


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10.0) as client:
        yield client


async def readyz(http: httpx.AsyncClient, live: LiveServer) -> tuple[int, dict[str, Any]]:
    response = await http.get(f"{live.url}/readyz")
    return response.status_code, response.json()


async def wait_readyz(
    http: httpx.AsyncClient, live: LiveServer, status: int, within: float = SETTLE_S
) -> dict[str, Any]:
    """Poll until ``/readyz`` answers ``status``; its body then."""
    deadline = time.monotonic() + within
    seen: list[tuple[int, dict[str, Any]]] = []
    while True:
        code, body = await readyz(http, live)
        if code == status:
            return body
        if not seen or seen[-1] != (code, body):
            seen.append((code, body))
        if time.monotonic() > deadline:
            raise AssertionError(f"/readyz not {status} within {within}s; answered {seen}")
        await asyncio.sleep(POLL_S)


def a_replica(cluster: ValkeyCluster) -> tuple[ClusterNode, ClusterNode]:
    """A primary and its one live replica."""
    for primary in cluster.primaries_now():
        replicas = cluster.replicas_of(primary)
        if replicas:
            return primary, replicas[0]
    raise AssertionError("no primary has a replica")


async def test_ready_then_a_dead_replica_is_named_until_it_is_back(
    healthy: ValkeyCluster, http: httpx.AsyncClient
) -> None:
    cluster = healthy
    async with serve_app(node_settings(cluster)) as live:
        assert await readyz(http, live) == (200, {"status": "ready"})

        primary, replica = a_replica(cluster)
        await asyncio.to_thread(cluster.kill, replica)
        body = await wait_readyz(http, live, 503)
        reason = body["reason"]
        assert body["status"] == "unready"
        assert f"primary 127.0.0.1:{primary.port}" in reason, reason
        assert "0 replica(s) online" in reason, reason
        assert "wait for 1" in reason and "redis.replica_acks" in reason, reason

        await asyncio.to_thread(cluster.restart, replica)
        assert await wait_readyz(http, live, 200) == {"status": "ready"}


async def test_a_killed_primary_is_taken_over_and_the_node_is_ready_again(
    healthy: ValkeyCluster, http: httpx.AsyncClient
) -> None:
    """A primary dies: its replica is promoted; the new primary has no replica then, so
    with confirmations waiting for one the node says so (503, naming it) until the old
    primary is back as that replica; then it is ready."""
    cluster = healthy
    async with serve_app(node_settings(cluster)) as live:
        await wait_readyz(http, live, 200)
        primary, replica = a_replica(cluster)
        answers: list[tuple[float, int, dict[str, Any]]] = []
        stop = asyncio.Event()

        async def poll() -> None:
            while not stop.is_set():
                asked_at = time.monotonic()
                code, body = await readyz(http, live)
                answers.append((asked_at, code, body))
                await asyncio.sleep(POLL_S)

        poller = asyncio.create_task(poll())
        try:
            killed_at = time.monotonic()
            await asyncio.to_thread(cluster.kill, primary)
            new = await asyncio.to_thread(cluster.wait_promoted, primary)
            promoted_at = time.monotonic()
            assert new is replica
            # Promoted, but alone in its shard: confirmations there would wait in vain.
            body = await wait_readyz(http, live, 503, within=AFTER_PROMOTION_S)
            await asyncio.sleep(0.5)  # a few more answers after the promotion
            code, body = await readyz(http, live)
            assert code == 503, body
            assert f"primary 127.0.0.1:{new.port} has 0 replica(s) online" in body["reason"]
            assert "redis.replica_acks" in body["reason"]

            restarted_at = time.monotonic()
            await asyncio.to_thread(cluster.restart, primary)
            assert primary.role == "replica"
            assert await wait_readyz(http, live, 200) == {"status": "ready"}
            ready_at = time.monotonic()
        finally:
            stop.set()
            await poller
    # Every answer asked for after the kill and before the old primary was back: 503.
    during = [
        (code, body.get("reason"))
        for asked_at, code, body in answers
        if killed_at < asked_at < restarted_at
    ]
    assert during and all(code == 503 for code, _ in during), during
    print(
        f"\nkill -> promoted {promoted_at - killed_at:.2f}s; restart -> ready "
        f"{ready_at - restarted_at:.2f}s; while failing over: "
        f"{sorted({str(reason)[:80] for _, reason in during})}"
    )


async def test_without_replica_acks_a_promotion_is_ready_within_seconds(
    healthy: ValkeyCluster, http: httpx.AsyncClient
) -> None:
    cluster = healthy
    async with serve_app(node_settings(cluster, replica_acks=0)) as live:
        await wait_readyz(http, live, 200)
        primary, replica = a_replica(cluster)
        statuses: list[int] = []
        stop = asyncio.Event()

        async def poll() -> None:
            while not stop.is_set():
                statuses.append((await readyz(http, live))[0])
                await asyncio.sleep(POLL_S)

        poller = asyncio.create_task(poll())
        try:
            killed_at = time.monotonic()
            await asyncio.to_thread(cluster.kill, primary)
            assert await asyncio.to_thread(cluster.wait_promoted, primary) is replica
            promoted_at = time.monotonic()
            assert await wait_readyz(http, live, 200, within=AFTER_PROMOTION_S) == {
                "status": "ready"
            }
            ready_at = time.monotonic()
        finally:
            stop.set()
            await poller
    # The shard could take no write between the kill and the promotion.
    assert 503 in statuses, statuses
    print(
        f"\nkill -> promoted {promoted_at - killed_at:.2f}s; promoted -> ready "
        f"{ready_at - promoted_at:.2f}s"
    )


async def test_without_replica_acks_a_dead_replica_leaves_the_node_ready(
    healthy: ValkeyCluster, http: httpx.AsyncClient
) -> None:
    cluster = healthy
    async with serve_app(node_settings(cluster, replica_acks=0)) as live:
        assert await readyz(http, live) == (200, {"status": "ready"})
        _, replica = a_replica(cluster)
        await asyncio.to_thread(cluster.kill, replica)
        for _ in range(20):  # a second and more of answers, all ready
            assert await readyz(http, live) == (200, {"status": "ready"})
            await asyncio.sleep(POLL_S)
