"""buy() throughput and latency, against its floor, in one run.

    python bench/buy_bench.py [--buys 4000] [--concurrency 1,16,128] [--cluster]

Peers, each at every concurrency (concurrent buyers, each buy a new buyer and key):
- floor:        one EVALSHA of a script that only reads a key (a Redis round trip)
- buy, fsync:   buy() in process: reserve script, payment (built-in, approves at once),
                confirm script; embedded Redis with appendfsync always (the default)
- buy, everysec: the same with appendfsync everysec (what fsync-per-write costs)
- http:         POST /api/shows/{show}/buy to a `livecart serve` process, keep-alive
                connections, appendfsync always
- with --cluster, buy() in process on a Valkey Cluster of 3 primaries with a replica
  each (made from the bundled binary, appendfsync always on every node):
  cluster, 0 acks: redis.replica_acks = 0 (the primary's fsync, as on one server)
  cluster, WAITAOF: the default on a cluster, each confirmation waits for a replica's
                AOF (WAITAOF 1 1)
  One show's buys all go to the primary of its slot: a cluster spreads shows, not one
  show's sale.

Reports buys per second, p50 and p99 latency, and each row's throughput as a ratio of
the floor's at the same concurrency. Writes nothing but stdout; bench/RESULTS.md holds
runs with the command that made them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from livecart.app import NODE_WORKERS
from livecart.auth.tokens import issue_token
from livecart.commerce.sales.checkout import BuyRequest, buy
from livecart.commerce.shows.control import adjust_stock
from livecart.config import Settings
from livecart.runtime import Runtime, running
from tests.commerce.conftest import SHOW, seed_show
from tests.helpers import LivecartProcess, RawConnection

SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
ADMIN_KEY = "bench-admin-key-0123456789"
UNITS = 10_000_000


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def drive(count: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> dict:
    """Run ``one(i)`` for i in range(count) with ``concurrency`` workers; time each."""
    latencies: list[float] = []
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < count:
            i = next_index
            next_index += 1
            started = time.perf_counter()
            await one(i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {
        "rate": count / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


async def prepared(runtime: Runtime) -> None:
    if runtime.settings.redis.cluster:
        await runtime.redis.flushall(target_nodes="primaries")  # type: ignore[call-arg]
    else:
        await runtime.redis.flushall()
    await seed_show(runtime)
    await adjust_stock(runtime, SHOW, "p-plain", UNITS)


def cluster_settings(seed_url: str, replica_acks: int) -> Settings:
    return Settings().with_overrides(
        {
            "redis": {
                "url": seed_url,
                "cluster": True,
                "replica_acks": replica_acks,
                "max_connections": 256,
            },
            "auth": {"secret": SECRET, "admin_api_key": ADMIN_KEY},
            "server": {"log_level": "warning"},
        }
    )


def settings_for(data_dir: Path, appendfsync: str) -> Settings:
    return Settings().with_overrides(
        {
            "redis": {
                "data_dir": str(data_dir),
                "appendfsync": appendfsync,
                "max_connections": 256,
            },
            "auth": {"secret": SECRET, "admin_api_key": ADMIN_KEY},
            "server": {"log_level": "warning"},
        }
    )


async def in_process(settings: Settings, counts: int, levels: list[int], label: str) -> list:
    rows = []
    async with running(settings, workers=NODE_WORKERS) as runtime:
        await prepared(runtime)
        floor_script = runtime.redis.register_script("return redis.call('EXISTS', KEYS[1])")
        for c in levels:
            if label == "buy, fsync":
                floor = await drive(
                    counts, c, lambda i: floor_script(keys=[f"lc:{{s:{SHOW}}}:show"])
                )
                rows.append(("floor (EVALSHA)", c, floor))
            run = f"{label}-{c}".replace(" ", "").replace(",", "")

            async def one(i: int, run: str = run) -> None:
                outcome = await buy(
                    runtime,
                    SHOW,
                    f"b{run}-{i}",
                    BuyRequest(sku="p-plain", quantity=1, idempotency_key=f"k{i}"),
                )
                assert outcome.result == "confirmed", outcome

            rows.append((label, c, await drive(counts, c, one)))
    return rows


async def over_http(settings: Settings, counts: int, levels: list[int], workdir: Path) -> list:
    rows = []
    data_dir = Path(settings.redis.data_dir)
    env = {
        "LIVECART_REDIS_DATA_DIR": str(data_dir),
        "LIVECART_AUTH_SECRET": SECRET,
        "LIVECART_AUTH_ADMIN_API_KEY": ADMIN_KEY,
        "LIVECART_SERVER_LOG_LEVEL": "warning",
        "LIVECART_REDIS_MAX_CONNECTIONS": "256",
    }
    node = LivecartProcess(["serve", "--port", "0"], cwd=workdir, env=env)
    try:
        url = node.wait_for_url()
        external = Settings().with_overrides({"redis": {"url": f"unix://{data_dir}/redis.sock"}})
        async with running(external, workers=NODE_WORKERS) as runtime:
            await prepared(runtime)
        for c in levels:
            connections = [await RawConnection.open(url) for _ in range(c)]
            tokens = [
                issue_token(SECRET, sub=f"h{c}-{i}", role="viewer", ttl_s=3600)
                for i in range(counts)
            ]

            async def one(
                i: int, c: int = c, conns: list = connections, toks: list = tokens
            ) -> None:
                status, reply = await conns[i % c].request(
                    "POST",
                    f"/api/shows/{SHOW}/buy",
                    json={"sku": "p-plain", "idempotency_key": f"k{i}"},
                    headers={"Authorization": f"Bearer {toks[i]}"},
                )
                assert status == 201, reply

            rows.append(("http", c, await drive(counts, c, one)))
            for connection in connections:
                await connection.close()
    finally:
        node.signal(signal.SIGTERM)
        node.wait()
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--buys", type=int, default=4000)
    parser.add_argument("--concurrency", default="1,16,128")
    parser.add_argument("--cluster", action="store_true", help="add the Redis Cluster rows")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]

    with tempfile.TemporaryDirectory(prefix="lcb") as tmp:
        root = Path(tmp)
        rows = await in_process(settings_for(root / "a", "always"), args.buys, levels, "buy, fsync")
        rows += await in_process(
            settings_for(root / "b", "everysec"), args.buys, levels, "buy, everysec"
        )
        rows += await over_http(settings_for(root / "c", "always"), args.buys, levels, root)
        if args.cluster:
            from tests.cluster import ValkeyCluster

            cluster = ValkeyCluster(root / "cluster", replicas_per_primary=1, node_timeout_ms=5000)
            cluster.start()
            try:
                for acks, label in ((0, "cluster, 0 acks"), (1, "cluster, WAITAOF")):
                    settings = cluster_settings(cluster.seed_url, acks)
                    rows += await in_process(settings, args.buys, levels, label)
            finally:
                cluster.stop()

    floors = {c: r["rate"] for name, c, r in rows if name.startswith("floor")}
    print(f"buy() benchmark: {args.buys} operations per row, {os.cpu_count()} cores")
    print(f"| {'peer':<16} | conc. | ops/s   | p50 ms | p99 ms | x floor |")
    print("|------------------|------:|--------:|-------:|-------:|--------:|")
    for name, c, r in sorted(rows, key=lambda row: (row[1], row[0])):
        print(
            f"| {name:<16} | {c:>5} | {r['rate']:>7.0f} | {r['p50_ms']:>6.2f} | "
            f"{r['p99_ms']:>6.2f} | {r['rate'] / floors[c]:>7.2f} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
