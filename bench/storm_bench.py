"""The connect storm: N viewers arrive within a couple of seconds (a show goes live, a
node restarts). How long until every one has its hello, and what it costs the server.

    python bench/storm_bench.py [--viewers 10000] [--within 2]
        [--servers livecart,livecart-unlimited,floor,broadcast,starlette,socketio]

One Redis holds show s1 (tests/commerce/conftest.py's ``seed_show``); nothing is written
to it during the run. For each server in turn (bench/peers.py): start it, let it settle,
then ``--viewers`` viewers connect spread evenly over ``--within`` seconds (bench/
viewers.py, several client processes started together, each at its share of the rate,
all with ``--retry``: a refused viewer comes back as docs/protocol.md's client algorithm
says, after ``retry_after_ms`` plus up to 1 s of jitter, or full-jitter backoff), until
every viewer has its hello or has given up (300 s after its first attempt); then it
stops the server.

Servers: ``livecart`` is ``livecart serve`` with its default settings (pings off), so
``hub.max_joins_per_s`` (default 1000, livecart/config.py) admits joins and refuses the
rest with close 4429; ``livecart-unlimited`` the same with
``LIVECART_HUB_MAX_JOINS_PER_S=1000000``; the peers admit everyone and read a
snapshot from Redis per connection (the floor: once).

Columns:

- all joined s: from the first connect to the last hello, over all client processes
- hello p50/p99/max ms: from a viewer's first connect attempt to its hello, retries
  included
- refused: refusals received (4429 / 1013 closes); retries: reconnects made; failed:
  viewers that never got a hello
- server us/join user, sys: the server process's CPU from the first connect until every
  viewer had joined, / viewers joined; server cores: that CPU / that time
- max client: the busiest client process's CPU share over the storm (near 1.0: the
  load generator may have been the limit); idle: the machine's idle share over the storm

Writes bench/results/storm.md and storm.json.
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
    MachineIdle,
    bench_settings,
    command_line,
    cpu_times,
    markdown_table,
    raise_open_files,
    start_redis,
    write_results,
)
from bench.peers import start_server
from bench.viewers import ViewerGroups
from livecart.runtime import running
from tests.commerce.conftest import SHOW, seed_show

SERVERS = ("livecart", "livecart-unlimited", "floor", "broadcast", "starlette", "socketio")
LIVECART_ENV = {
    "livecart": {},
    "livecart-unlimited": {"LIVECART_HUB_MAX_JOINS_PER_S": "1000000"},
}
LEAD_S = 2.0  # from starting the client processes to the first connect

COLUMNS = [
    ("server", "server"),
    ("viewers", "viewers"),
    ("joined", "joined"),
    ("all joined s", "all_joined_s"),
    ("hello p50 ms", "hello_p50_ms"),
    ("hello p99 ms", "hello_p99_ms"),
    ("hello max ms", "hello_max_ms"),
    ("refused", "refused"),
    ("retries", "retries"),
    ("failed", "failed"),
    ("server us/join user", "us_per_join_user"),
    ("sys", "us_per_join_sys"),
    ("server cores", "server_cores"),
    ("max client", "client_max_cores"),
    ("idle", "idle"),
]


async def one_row(
    name: str, args: argparse.Namespace, redis_url: str, workdir: Path
) -> dict[str, Any]:
    server = await start_server(name, redis_url, workdir, SHOW, **LIVECART_ENV.get(name, {}))
    viewers = args.viewers
    opening: asyncio.Task[ViewerGroups] | None = None
    groups: ViewerGroups | None = None
    try:
        await asyncio.sleep(args.settle)
        start_at = time.time() + LEAD_S
        opening = asyncio.create_task(
            ViewerGroups.open(
                server.url,
                viewers,
                protocol=server.protocol,
                show=SHOW,
                rate=viewers / args.within,
                retry=True,
                start_at=start_at,
            )
        )
        await asyncio.sleep(max(0.0, start_at - time.time()))
        idle = MachineIdle()
        cpu0, t0 = cpu_times(server.pid), time.monotonic()
        groups = await opening
        cpu, elapsed = cpu_times(server.pid) - cpu0, time.monotonic() - t0
        idle.stop()
        join = groups.join
    finally:
        if opening is not None and not opening.done():
            opening.cancel()
            with contextlib.suppress(BaseException):
                await opening
        if groups is not None:
            await groups.close()
        await asyncio.to_thread(server.stop)
        problems = server.log_problems()
    joined = join["joined"]
    return {
        "server": name,
        "server_log": problems,
        "viewers": viewers,
        "within_s": args.within,
        "joined": joined,
        "all_joined_s": join["seconds"],
        "hello_p50_ms": join["hello_ms"]["p50"],
        "hello_p99_ms": join["hello_ms"]["p99"],
        "hello_max_ms": join["hello_ms"]["max"],
        "refused": join["refused"],
        "retries": join["retries"],
        "failed": join["failed"],
        "failures": join["failures"],
        "retried_after": join["retried_after"],
        "us_per_join_user": cpu.user / joined * 1e6 if joined else math.nan,
        "us_per_join_sys": cpu.system / joined * 1e6 if joined else math.nan,
        "us_per_join": cpu.total / joined * 1e6 if joined else math.nan,
        "server_cores": cpu.total / elapsed,
        "measured_s": elapsed,
        "client_max_cores": join["client_max_process_cores"],
        "idle": idle.idle,
        "per_process": join["per_process"],
    }


def reading(rows: list[dict[str, Any]]) -> list[str]:
    notes = []
    for r in rows:
        if r.get("server_log"):
            notes.append(f"{r['server']}: its log reports: {' | '.join(r['server_log'][:3])}")
        if "error" in r:
            notes.append(f"{r['server']}: failed: {r['error']}")
            continue
        if r["failed"]:
            notes.append(f"{r['server']}: {r['failed']} viewers never joined: {r['failures']}")
        if r["retried_after"]:
            notes.append(f"{r['server']}: retried after other than a refusal: {r['retried_after']}")
        if r["refused"]:
            notes.append(
                f"{r['server']}: {r['refused']} refusals, {r['retries']} reconnects for "
                f"{r['joined']} viewers"
            )
        if r["idle"] < 0.05:
            notes.append(
                f"{r['server']}: the machine was {100 * (1 - r['idle']):.0f}% busy during the storm"
            )
        if r["client_max_cores"] > 0.9:
            notes.append(
                f"{r['server']}: a client process used {r['client_max_cores']:.2f} cores: "
                "the load generator may have been the limit"
            )
    return notes


async def main(args: argparse.Namespace) -> None:
    raise_open_files()
    servers = args.servers.split(",")
    unknown = set(servers) - set(SERVERS)
    if unknown:
        raise SystemExit(f"unknown servers {sorted(unknown)}; choose from {SERVERS}")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lcs") as tmp:
        root = Path(tmp)
        redis = await start_redis(root / "r")
        try:
            async with running(bench_settings(redis.url)) as runtime:
                await runtime.redis.flushall()
                await seed_show(runtime)
                for name in servers:
                    try:
                        row = await one_row(name, args, redis.url, root)
                    except Exception as exc:  # one server failing does not end the run
                        row = {"server": name, "viewers": args.viewers, "error": repr(exc)}
                    rows.append(row)
                    brief = {k: v for k, v in row.items() if k != "per_process"}
                    print(brief, file=sys.stderr, flush=True)
        finally:
            with contextlib.suppress(Exception):
                await redis.stop()
    write_results(
        "storm",
        title=f"Connect storm: {args.viewers} viewers within {args.within:g} s",
        command=command_line(),
        table=markdown_table(COLUMNS, rows),
        rows=rows,
        notes=reading(rows),
        settings={"within_s": args.within, "livecart_env": LIVECART_ENV},
    )


def cli() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--viewers", type=int, default=10_000)
    parser.add_argument("--within", type=float, default=2.0, help="seconds to spread joins")
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--settle", type=float, default=2.0, help="seconds after start-up")
    uvloop.run(main(parser.parse_args()))


if __name__ == "__main__":
    cli()
