"""tests/cluster.py against real valkey-server processes: a cluster built from cluster
commands alone comes up ok, serves redis-py's cluster clients in every slot range, and a
replica takes over from a killed primary, which later rejoins as its replica."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster
from redis.exceptions import ClusterDownError, MovedError

from tests.cluster import SLOTS, ClusterNode, ValkeyCluster


@pytest.fixture(scope="module")
def cluster3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValkeyCluster]:
    cluster = ValkeyCluster(tmp_path_factory.mktemp("cluster3"), primaries=3)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def clean3(cluster3: ValkeyCluster) -> ValkeyCluster:
    cluster3.flush()
    return cluster3


def _keys_across_primaries(cluster: ValkeyCluster, count: int = 300) -> list[str]:
    keys = [f"key:{i}" for i in range(count)]
    owners = {cluster.primary_for_key(key).node_id for key in keys[:30]}
    assert len(owners) == cluster.primaries, "the sample keys should reach every primary"
    return keys


def _get_on(node: ClusterNode, key: str) -> str | None:
    """GET on that one node (READONLY on the same connection, so a replica answers)."""
    with node.client.pipeline(transaction=False) as pipe:
        pipe.execute_command("READONLY")
        pipe.get(key)
        _, value = pipe.execute()
    return value  # type: ignore[no-any-return]


def test_three_primaries_come_up_ok(clean3: ValkeyCluster) -> None:
    nodes = clean3.nodes
    assert len(nodes) == 3
    assert all(node.alive and node.pid for node in nodes)
    assert {node.role for node in nodes} == {"primary"}
    assert len({node.node_id for node in nodes}) == 3
    assert len({node.port for node in nodes}) == 3
    assert clean3.seed_url.startswith("redis://127.0.0.1:")
    for node in nodes:
        info = node.client.execute_command("CLUSTER", "INFO")
        assert "cluster_state:ok" in info
        assert f"cluster_slots_assigned:{SLOTS}" in info
        assert "cluster_known_nodes:3" in info
        assert node.client.config_get("appendfsync") == {"appendfsync": "always"}
        assert (node.dir / "nodes.conf").is_file()
    clean3.wait_ok(timeout=1)


def test_sync_cluster_client_sets_and_gets_in_many_slots(clean3: ValkeyCluster) -> None:
    keys = _keys_across_primaries(clean3)
    client = RedisCluster.from_url(clean3.seed_url, decode_responses=True)
    try:
        for key in keys:
            client.set(key, f"v-{key}")
        assert [client.get(key) for key in keys] == [f"v-{key}" for key in keys]
    finally:
        client.close()
    # Each key is where primary_for_key says it is, and only there.
    for key in keys[:30]:
        owner = clean3.primary_for_key(key)
        assert owner.client.get(key) == f"v-{key}"
        for other in clean3.nodes:
            if other is not owner:
                with pytest.raises(MovedError):
                    other.client.get(key)


async def test_async_cluster_client_sets_and_gets_in_many_slots(clean3: ValkeyCluster) -> None:
    keys = _keys_across_primaries(clean3)
    client = AsyncRedisCluster.from_url(clean3.seed_url, decode_responses=True)
    try:
        for key in keys:
            await client.set(key, f"a-{key}")
        assert [await client.get(key) for key in keys] == [f"a-{key}" for key in keys]
    finally:
        await client.aclose()


def test_flush_empties_every_primary(clean3: ValkeyCluster) -> None:
    client = RedisCluster.from_url(clean3.seed_url, decode_responses=True)
    try:
        for key in _keys_across_primaries(clean3):
            client.set(key, "x")
        assert all(node.client.dbsize() > 0 for node in clean3.nodes)
        clean3.flush()
        assert all(node.client.dbsize() == 0 for node in clean3.nodes)
    finally:
        client.close()


def test_a_primary_without_replica_restarts_from_its_aof(clean3: ValkeyCluster) -> None:
    node = clean3.primary_for_key("durable")
    node.client.set("durable", "kept")
    old_pid = node.pid
    clean3.kill(node)
    assert not node.alive
    clean3.restart(node)
    assert node.alive and node.pid != old_pid
    assert node.role == "primary"
    assert clean3.primary_for_key("durable") is node
    assert node.client.get("durable") == "kept"


def test_replica_takes_over_from_a_killed_primary_which_rejoins_as_replica(
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    cluster = ValkeyCluster(tmp_path, primaries=3, replicas_per_primary=1)
    cluster.start()
    try:
        start_s = time.monotonic() - started
        assert [node.role for node in cluster.nodes].count("replica") == 3
        assert all(len(cluster.replicas_of(p)) == 1 for p in cluster.primaries_now())

        client = RedisCluster.from_url(cluster.seed_url, decode_responses=True)
        key = "order:{failover}"
        old = cluster.primary_for_key(key)
        (replica,) = cluster.replicas_of(old)
        # Written and acknowledged by the replica before the kill, so it survives it.
        with old.client.pipeline(transaction=False) as pipe:
            pipe.set(key, "before")
            pipe.execute_command("WAIT", 1, 5000)
            assert pipe.execute() == [True, 1]
        assert client.get(key) == "before"

        killed_at = time.monotonic()
        cluster.kill(old)
        new = cluster.wait_promoted(old, timeout=30)
        promotion_s = time.monotonic() - killed_at
        assert new is replica
        assert new.role == "primary"
        assert cluster.primary_for_key(key) is new

        # The same cluster client (created before the kill) writes to that slot again.
        while True:
            try:
                client.set(key, "after")
                break
            except (redis.ConnectionError, ClusterDownError, redis.TimeoutError):
                assert time.monotonic() - killed_at < 30, "writes never resumed"
                time.sleep(0.05)
        writable_s = time.monotonic() - killed_at
        assert client.get(key) == "after"
        assert new.client.get(key) == "after"

        restarted_at = time.monotonic()
        cluster.restart(old, timeout=30)
        rejoin_s = time.monotonic() - restarted_at
        assert old.role == "replica"
        assert cluster.replicas_of(new) == [old]
        assert old.client.info("replication")["master_port"] == new.port
        assert _get_on(old, key) == "after"
        assert cluster.primary_for_key(key) is new
        client.set(key, "again")
        assert client.get(key) == "again"
        client.close()

        print(
            f"\n3+3 cluster: ok {start_s:.2f}s after start; replica promoted "
            f"{promotion_s:.2f}s after SIGKILL (writes through the client at "
            f"{writable_s:.2f}s); old primary rejoined as replica, link up, "
            f"{rejoin_s:.2f}s after restart"
        )
    finally:
        cluster.stop()
