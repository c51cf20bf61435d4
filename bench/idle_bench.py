"""Idle viewers: the memory one more connected, silent viewer costs each server.

    python bench/idle_bench.py [--viewers 10000]
        [--servers livecart,floor,broadcast,starlette,socketio]

One Redis holds show s1 (tests/commerce/conftest.py's ``seed_show``); nothing is written
to it during the run. For each server in turn (bench/peers.py; livecart is ``livecart
serve`` with default settings except pings off and ``LIVECART_HUB_MAX_JOINS_PER_S=100000``,
so all viewers are admitted at once; no server sends pings): start it, let it settle
(``--settle`` s), read its RSS, join ``--viewers`` viewers (bench/viewers.py, several
client processes, as fast as they go with a bounded number of handshakes in flight),
let it settle again, read its RSS again; then stop it. Measured as a user would see it:
no forced garbage collection, the process's resident set as the kernel reports it.

Columns:

- RSS before / with viewers (MiB): the server process's resident set
  (``/proc/PID/statm``) after start-up, and with every viewer joined and settled
- KB per viewer: (RSS with viewers - RSS before) / viewers joined, in KiB
- join s: from the first connect to the last hello; hello p50/p99 ms: from a viewer's
  first connect attempt to its hello
- server us/join: the server's CPU (user + system) while the viewers joined / viewers
- failed: viewers that never got their hello

Writes bench/results/idle.md and idle.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import uvloop

from bench.common import (
    bench_settings,
    command_line,
    cpu_times,
    markdown_table,
    raise_open_files,
    rss_bytes,
    start_redis,
    write_results,
)
from bench.peers import start_server
from bench.viewers import ViewerGroups
from livecart.runtime import running
from tests.commerce.conftest import SHOW, seed_show

SERVERS = ("livecart", "floor", "broadcast", "starlette", "socketio")
LIVECART_ENV = {"LIVECART_HUB_MAX_JOINS_PER_S": "100000"}
MIB = 1024 * 1024

COLUMNS = [
    ("server", "server"),
    ("viewers", "viewers"),
    ("joined", "joined"),
    ("RSS before MiB", "rss_before_mib"),
    ("RSS with viewers MiB", "rss_after_mib"),
    ("KB per viewer", "kb_per_viewer"),
    ("join s", "join_s"),
    ("hello p50 ms", "hello_p50_ms"),
    ("hello p99 ms", "hello_p99_ms"),
    ("server us/join", "us_per_join"),
    ("failed", "failed"),
]


async def one_row(
    name: str, viewers: int, args: argparse.Namespace, redis_url: str, workdir: Path
) -> dict[str, Any]:
    env = LIVECART_ENV if name.startswith("livecart") else {}
    server = await start_server(name, redis_url, workdir, SHOW, **env)
    groups: ViewerGroups | None = None
    try:
        await asyncio.sleep(args.settle)
        before = rss_bytes(server.pid)
        cpu0 = cpu_times(server.pid)
        groups = await ViewerGroups.open(
            server.url, viewers, protocol=server.protocol, show=SHOW, retry=True
        )
        cpu = cpu_times(server.pid) - cpu0
        await asyncio.sleep(args.settle)
        after = rss_bytes(server.pid)
        join = groups.join
    finally:
        if groups is not None:
            await groups.close()
        await asyncio.to_thread(server.stop)
        problems = server.log_problems()
    joined = join["joined"]
    return {
        "server": name,
        "server_log": problems,
        "viewers": viewers,
        "joined": joined,
        "rss_before_mib": before / MIB,
        "rss_after_mib": after / MIB,
        "kb_per_viewer": (after - before) / joined / 1024 if joined else math.nan,
        "join_s": join["seconds"],
        "hello_p50_ms": join["hello_ms"]["p50"],
        "hello_p99_ms": join["hello_ms"]["p99"],
        "us_per_join": cpu.total / joined * 1e6 if joined else math.nan,
        "us_per_join_user": cpu.user / joined * 1e6 if joined else math.nan,
        "us_per_join_sys": cpu.system / joined * 1e6 if joined else math.nan,
        "failed": join["failed"],
        "failures": join["failures"],
        "refused": join["refused"],
    }


def reading(rows: list[dict[str, Any]]) -> list[str]:
    notes = []
    done = [r for r in rows if "error" not in r and r["joined"]]
    if done:
        least = min(done, key=lambda r: r["kb_per_viewer"])
        notes.append(
            f"least memory per idle viewer: {least['server']} ({least['kb_per_viewer']:.1f} KB)"
        )
    for r in rows:
        if r.get("server_log"):
            notes.append(f"{r['server']}: its log reports: {' | '.join(r['server_log'][:3])}")
        if "error" in r:
            notes.append(f"{r['server']}: failed: {r['error']}")
        elif r["failed"]:
            notes.append(f"{r['server']}: {r['failed']} viewers never joined {r['failures']}")
    return notes


async def main(args: argparse.Namespace) -> None:
    raise_open_files()
    servers = args.servers.split(",")
    unknown = {s for s in servers if not s.startswith("livecart")} - set(SERVERS)
    if unknown:
        raise SystemExit(f"unknown servers {sorted(unknown)}; choose from {SERVERS}")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lci") as tmp:
        root = Path(tmp)
        redis = await start_redis(root / "r")
        try:
            async with running(bench_settings(redis.url)) as runtime:
                await runtime.redis.flushall()
                await seed_show(runtime)
                for name in servers:
                    started = time.monotonic()
                    try:
                        row = await one_row(name, args.viewers, args, redis.url, root)
                    except Exception as exc:  # one server failing does not end the run
                        row = {"server": name, "viewers": args.viewers, "error": repr(exc)}
                    row["row_s"] = time.monotonic() - started
                    rows.append(row)
                    print(row, file=sys.stderr, flush=True)
        finally:
            with contextlib.suppress(Exception):
                await redis.stop()
    write_results(
        "idle",
        title=f"Idle viewers: memory per connected viewer, {args.viewers} viewers",
        command=command_line(),
        table=markdown_table(COLUMNS, rows),
        rows=rows,
        notes=reading(rows),
        settings={"settle_s": args.settle, "livecart_env": LIVECART_ENV},
    )


def cli() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--viewers", type=int, default=10_000)
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--settle", type=float, default=3.0, help="seconds before each RSS")
    uvloop.run(main(parser.parse_args()))


if __name__ == "__main__":
    cli()
