"""Whether this node's Redis can take orders now: what ``/readyz`` answers.

One server: it answers PING, and, when confirmations wait for replicas
(``redis.replica_acks``), it has that many replicas online. A Cluster: every primary
says ``cluster_state:ok``, takes a probe write in a slot of its own (a shard that lost
its primary and has no replica to promote fails here), and has the replicas a
confirmation waits for: a shard whose replica died confirms nothing (each buy would
answer ``in_progress`` until ``redis.replica_ack_timeout_ms``), so the node says so
rather than take traffic it cannot serve.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from livecart.config import RedisSettings
from livecart.store import keys
from livecart.store.client import cluster_of

PROBE_TTL_MS = 10_000


async def store_problem(redis: Redis, settings: RedisSettings) -> str | None:
    """None when ready, else what is wrong, in words an operator can act on."""
    cluster = cluster_of(redis)
    if cluster is None:
        await redis.ping()
        if settings.confirm_replicas:
            info = await redis.info("replication")
            return _replica_problem("the server", info, settings.confirm_replicas)
        return None
    return await _cluster_problem(cluster, settings)


async def _cluster_problem(cluster: RedisCluster, settings: RedisSettings) -> str | None:
    primaries = cluster.get_primaries()
    if not primaries:
        return "the cluster has no primaries in this node's slot map"
    owners = _slot_owners(cluster)
    for node in primaries:
        state = await cluster.execute_command("CLUSTER INFO", target_nodes=node)
        if _field(state, "cluster_state") != "ok":
            return (
                f"cluster node {node.name} reports cluster_state:{_field(state, 'cluster_state')}"
            )
        probe = probe_key(owners.get(node.name, []))
        if probe is None:
            return f"cluster node {node.name} owns no slots"
        await cluster.set(probe, "1", px=PROBE_TTL_MS)
        if settings.confirm_replicas:
            info = await cluster.info("replication", target_nodes=node)
            problem = _replica_problem(f"primary {node.name}", info, settings.confirm_replicas)
            if problem is not None:
                return problem
    return None


def _slot_owners(cluster: RedisCluster) -> dict[str, list[int]]:
    """Primary name -> slots it serves, from the client's slot map."""
    owners: dict[str, list[int]] = {}
    for slot, nodes in cluster.nodes_manager.slots_cache.items():
        if nodes:
            owners.setdefault(nodes[0].name, []).append(slot)
    return owners


def probe_key(slots: list[int]) -> str | None:
    """A key whose slot is one of ``slots`` (the first found of ``lc:{ready:N}``)."""
    wanted = set(slots)
    if not wanted:
        return None
    for n in range(200_000):
        key = f"{keys.NAMESPACE}:{{ready:{n}}}"
        if key_slot(key.encode()) in wanted:
            return key
    return None


def _replica_problem(where: str, info: dict[str, Any], wanted: int) -> str | None:
    online = sum(
        1
        for name, value in info.items()
        if name.startswith("slave") and isinstance(value, dict) and value.get("state") == "online"
    )
    if online >= wanted:
        return None
    return (
        f"{where} has {online} replica(s) online and confirmations wait for {wanted} "
        "(redis.replica_acks): buys would answer in_progress until one is back"
    )


def _field(info: Any, name: str) -> str:
    if isinstance(info, dict):
        return str(info.get(name, "?"))
    for line in str(info).splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return "?"
