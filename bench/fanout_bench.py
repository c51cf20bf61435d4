"""Fan-out: how a show's events reach its viewers, livecart against the servers a user
might pick instead, at several audience sizes, in one run.

    python bench/fanout_bench.py [--viewers 1000,5000,10000]
        [--servers livecart,livecart-50ms,floor,broadcast,starlette,socketio]
        [--rate 20] [--seconds 10] [--warmup 3]

One Redis (the bundled valkey-server, ``appendfsync everysec``) holds show s1
(tests/commerce/conftest.py's ``seed_show``). For each viewer count and each server, in
that order: the server starts in its own process, the viewers join (bench/viewers.py,
``ceil(n / 2500)`` but at least 2 client processes), then this process writes ``rate``
stock changes a second through livecart's own ``adjust_stock`` (the Lua script that
appends the ``stock`` event), rotating over the show's four products, so a tick of up to
four events' length folds nothing away. After ``warmup`` seconds the clients start
counting; 0.5 s later the measured window of ``seconds`` begins (server CPU, machine
idle, the stream ids that count); 2 s after it ends the clients stop counting (the
window's last events are still on their way); then the server is stopped.

Servers (bench/peers.py has the peers' code):

- livecart:       ``livecart serve``, default settings (adaptive tick: budget
                  ``hub.max_deliveries_per_s`` = 100 000, ``hub.tick_ms`` 50 ms), except
                  pings off and ``LIVECART_HUB_MAX_JOINS_PER_S=100000`` (joining is not
                  what this measures)
- livecart-50ms:  the same, budget lifted (``LIVECART_HUB_MAX_DELIVERIES_PER_S=10000000``):
                  the tick stays at 50 ms, livecart at the frame rate of the peers
- floor:          a bare asyncio server writing each batch framed once to every transport
- broadcast:      websockets' own asyncio server and ``websockets.broadcast()``
- starlette:      Starlette on uvicorn, ``for ws in viewers: await ws.send_text(...)``
- socketio:       python-socketio on uvicorn, ``await sio.emit("events", ..., room=show)``

Every server reads the same stream and sends viewers the same ``events`` JSON; the peers
send each XREAD batch at once (at 20 events a second: one frame per event), livecart one
frame per tick. No server sends pings.

Columns, over the measured window:

- kept up: every viewer got every event (viewer-events at least 98% of expected), p99
  under 1 s, no viewer closed by the server, none failed to join
- deliveries/s: ``events`` frames received by all viewers together (each client process
  over its own window)
- viewer-events/s: the events written during the window (stream ids in it, read back
  with XRANGE) that reached viewers, counted by their ids whenever they arrived (up to
  2 s after the window), / the window; expected = those events x viewers joined / the
  window. livecart folds a product's stock events within one tick: with four products
  and 20 events a second, a frame carrying more than four events folds the older values
  of a product away (by design: every frame has the latest stock of every product it
  names); "delivered" and "kept up" count those folded values as not delivered
- server cores: the server process's CPU (user + system, /proc/PID/stat) / window
- us/delivery, us/viewer-event: the server's CPU per frame delivered and per event
  delivered to one viewer, both as received over the window (the latter does not
  reward packing events into fewer frames), each split user / system
- x floor: us/delivery (and us/viewer-event) over the floor's at the same viewer count
- p50, p99 ms: a frame's arrival at its viewer minus the Redis time (the ms part of the
  stream id) of the oldest event it carries, over all frames; one machine, one clock,
  1 ms resolution
- client cores: all viewer processes' CPU / window; max client: the busiest one (near 1.0
  means the load generator, not the server, was the limit)
- idle: the machine's idle share over the window (near 0: the row measures a machine
  short of CPU)
- livecart only: tick ms (``livecart_hub_tick_ms`` for the show at the window's end),
  frames out/s (``livecart_hub_frames_out_total`` over the window), slow-skipped
  (``livecart_hub_slow_skipped_total`` over the window)
- closed: viewers the server closed or cut off

Writes bench/results/fanout.md and fanout.json.
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

import httpx
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
from livecart.commerce.shows.control import adjust_stock
from livecart.hub.events import HubEvent
from livecart.runtime import Runtime, running
from livecart.store import keys
from tests.commerce.conftest import PRODUCTS, SHOW, seed_show

SERVERS = ("livecart", "livecart-50ms", "floor", "broadcast", "starlette", "socketio")
LIVECART_ENV = {
    "livecart": {"LIVECART_HUB_MAX_JOINS_PER_S": "100000"},
    "livecart-50ms": {
        "LIVECART_HUB_MAX_JOINS_PER_S": "100000",
        "LIVECART_HUB_MAX_DELIVERIES_PER_S": "10000000",
    },
}
SKUS = list(PRODUCTS)
MARGIN_S = 0.5  # from telling the clients "start" to the window's start
GRACE_S = 2.0  # from the window's end to "stop": the window's last events still arrive


class StockWriter:
    """``rate`` stock changes a second, each one ``stock`` event, rotating over the
    show's products (+1 on one round, -1 on the next: the stock stays put)."""

    def __init__(self, runtime: Runtime, rate: float) -> None:
        self.runtime = runtime
        self.rate = rate
        self.written = 0

    async def run(self, stop: asyncio.Event) -> None:
        started, first = time.monotonic(), self.written
        while not stop.is_set():
            n = self.written
            await adjust_stock(
                self.runtime, SHOW, SKUS[n % len(SKUS)], 1 if (n // len(SKUS)) % 2 == 0 else -1
            )
            self.written += 1
            due = started + (self.written - first) / self.rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))


async def hub_metrics(url: str) -> tuple[dict[str, float], float]:
    """livecart's hub figures from /metrics, and when (monotonic) they were read."""
    wanted = {
        "livecart_hub_frames_out_total": "frames_out",
        "livecart_hub_slow_skipped_total": "skipped",
        "livecart_hub_slow_closed_total": "closed_slow",
        f'livecart_hub_tick_ms{{show="{SHOW}"}}': "tick_ms",
        "livecart_hub_connections": "connections",
    }
    async with httpx.AsyncClient(timeout=10) as client:
        asked = time.monotonic()
        text = (await client.get(f"{url}/metrics")).text
        at = (asked + time.monotonic()) / 2
    found: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name in wanted:
            found[wanted[name]] = float(value)
    return found, at


def now_ms() -> int:
    """Wall-clock ms: the clock of the stream ids (Redis runs on this machine)."""
    return int(time.time() * 1000)


async def events_written(runtime: Runtime, low_ms: int, high_ms: int) -> int:
    """Events of the show's stream with ids in [low_ms, high_ms) that viewers receive."""
    stream = keys.show_events(SHOW)
    entries = await runtime.redis.xrange(stream, min=f"{low_ms}", max=f"{high_ms - 1}")
    return sum(not HubEvent.from_entry(i, fields).staff_only for i, fields in entries)


def per(total: float, count: float) -> float:
    return total / count * 1e6 if count else math.nan


async def one_row(
    name: str, viewers: int, args: argparse.Namespace, writer: StockWriter, workdir: Path
) -> dict[str, Any]:
    redis_url = writer.runtime.settings.redis.url
    server = await start_server(name, redis_url, workdir, SHOW, **LIVECART_ENV.get(name, {}))
    groups: ViewerGroups | None = None
    stop = asyncio.Event()
    writing: asyncio.Task[None] | None = None
    livecart = name.startswith("livecart")
    try:
        await asyncio.sleep(1.0)  # settle
        groups = await ViewerGroups.open(server.url, viewers, protocol=server.protocol, show=SHOW)
        join = groups.join
        writing = asyncio.create_task(writer.run(stop))
        await asyncio.sleep(args.warmup)
        before, at_before = await hub_metrics(server.url) if livecart else ({}, 0.0)
        await groups.start()
        await asyncio.sleep(MARGIN_S)  # every client process is counting
        idle = MachineIdle()
        cpu0, t0, low_ms = cpu_times(server.pid), time.monotonic(), now_ms()
        await asyncio.sleep(args.seconds)
        cpu, elapsed, high_ms = cpu_times(server.pid) - cpu0, time.monotonic() - t0, now_ms()
        idle.stop()
        after, at_after = await hub_metrics(server.url) if livecart else ({}, 0.0)
        await asyncio.sleep(GRACE_S)  # events of the window still on their way
        seen = await groups.stop(id_range=(low_ms, high_ms))
        written = await events_written(writer.runtime, low_ms, high_ms)
    finally:
        stop.set()
        if writing is not None:
            await writing
        if groups is not None:
            await groups.close()
        await asyncio.to_thread(server.stop)
        problems = server.log_problems()
    # Deliveries: as each client process counted them over its own window; the server's
    # CPU over this process's window, at those rates. Viewer-events: the events written
    # in the window [low_ms, high_ms) that reached the viewers, whenever they arrived.
    frames_per_s = seen["frames_per_s"]
    frames, events = frames_per_s * elapsed, seen["events_per_s"] * elapsed
    window_s = (high_ms - low_ms) / 1000
    reached = seen["events_in_range"]
    expected = written * join["joined"]
    row: dict[str, Any] = {
        "server": name,
        "server_log": problems,
        "viewers": viewers,
        "joined": join["joined"],
        "join_s": join["seconds"],
        "written_per_s": written / window_s,
        "deliveries_per_s": frames_per_s,
        "events_per_s": reached / window_s,
        "expected_events_per_s": expected / window_s,
        "delivered_share": reached / expected if expected else math.nan,
        "server_cores": cpu.total / elapsed,
        "us_delivery": per(cpu.total, frames),
        "us_delivery_user": per(cpu.user, frames),
        "us_delivery_sys": per(cpu.system, frames),
        "us_event": per(cpu.total, events),
        "us_event_user": per(cpu.user, events),
        "us_event_sys": per(cpu.system, events),
        "p50_ms": seen["p50_ms"],
        "p99_ms": seen["p99_ms"],
        "max_ms": seen["max_ms"],
        "client_cores": seen["client_cores"],
        "client_max_cores": seen["client_max_process_cores"],
        "client_processes": seen["per_process"],
        "idle": idle.idle,
        "closed": seen["closed"],
        "close_codes": seen["close_codes"],
        "other_frames_per_s": seen["other_frames_per_s"],
        "bytes_per_s": seen["bytes_per_s"],
        "seconds": elapsed,
    }
    row["kept_up"] = (
        reached >= 0.98 * expected
        and seen["p99_ms"] is not None
        and seen["p99_ms"] < 1000.0
        and seen["closed"] == 0
        and join["failed"] == 0
    )
    if livecart:
        row["tick_ms"] = after.get("tick_ms")
        # Over the time between the two reads (the viewers' window is a little shorter).
        row["frames_out_per_s"] = (after["frames_out"] - before["frames_out"]) / (
            at_after - at_before
        )
        row["slow_skipped"] = after.get("skipped", 0.0) - before.get("skipped", 0.0)
        row["slow_closed"] = after.get("closed_slow", 0.0) - before.get("closed_slow", 0.0)
    return row


COLUMNS = [
    ("server", "server"),
    ("viewers", "viewers"),
    ("kept up", "kept_up"),
    ("deliveries/s", "deliveries_per_s"),
    ("viewer-events/s", "events_per_s"),
    ("expected", "expected_events_per_s"),
    ("delivered", "delivered_share"),
    ("server cores", "server_cores"),
    ("us/delivery user", "us_delivery_user"),
    ("sys", "us_delivery_sys"),
    ("us/viewer-event user", "us_event_user"),
    ("sys", "us_event_sys"),
    ("x floor /delivery", "x_floor_delivery"),
    ("x floor /event", "x_floor_event"),
    ("p50 ms", "p50_ms"),
    ("p99 ms", "p99_ms"),
    ("client cores", "client_cores"),
    ("max client", "client_max_cores"),
    ("idle", "idle"),
    ("tick ms", "tick_ms"),
    ("frames out/s", "frames_out_per_s"),
    ("slow-skipped", "slow_skipped"),
    ("closed", "closed"),
]


def add_floor_ratios(rows: list[dict[str, Any]]) -> None:
    floors = {r["viewers"]: r for r in rows if r["server"] == "floor" and "error" not in r}
    for r in rows:
        floor = floors.get(r["viewers"])
        if floor is None or "error" in r:
            continue
        for key, ratio in (("us_delivery", "x_floor_delivery"), ("us_event", "x_floor_event")):
            if floor[key] and not math.isnan(floor[key]):
                r[ratio] = r[key] / floor[key]


def reading(rows: list[dict[str, Any]], rate: float) -> list[str]:
    """Facts read off the rows (no judgement beyond the thresholds named)."""
    notes: list[str] = []
    for viewers in sorted({r["viewers"] for r in rows}):
        level = [r for r in rows if r["viewers"] == viewers and "error" not in r]
        kept = [r["server"] for r in level if r["kept_up"]]
        missed = [r["server"] for r in level if not r["kept_up"]]
        if level:
            notes.append(
                f"{viewers} viewers at {rate:g} events/s: kept up: {', '.join(kept) or 'none'}"
                + (f"; did not: {', '.join(missed)}" if missed else "")
            )
    for r in rows:
        where = f"{r['server']} at {r['viewers']} viewers"
        if r.get("server_log"):
            notes.append(f"{where}: its log reports: {' | '.join(r['server_log'][:3])}")
        if "error" in r:
            notes.append(f"{where}: failed: {r['error']}")
            continue
        if r["idle"] < 0.05:
            notes.append(
                f"{where}: the machine was {100 * (1 - r['idle']):.0f}% busy: its figures are "
                "the machine's limit as much as the server's"
            )
        if r["client_max_cores"] > 0.9:
            notes.append(
                f"{where}: a client process used {r['client_max_cores']:.2f} cores: the "
                "load generator may have been the limit"
            )
        if r["closed"]:
            notes.append(f"{where}: the server closed {r['closed']} viewers {r['close_codes']}")
        if r["server"].startswith("livecart") and r.get("frames_out_per_s"):
            delivered = r["deliveries_per_s"] + r["other_frames_per_s"]
            gap = 1 - delivered / r["frames_out_per_s"]
            if abs(gap) > 0.02:
                notes.append(
                    f"{where}: viewers received {delivered:.0f} frames/s, livecart counted "
                    f"{r['frames_out_per_s']:.0f}/s written ({100 * gap:+.1f}%)"
                )
            if r.get("slow_skipped"):
                notes.append(f"{where}: {r['slow_skipped']:.0f} frames slow-skipped")
    return notes


async def main(args: argparse.Namespace) -> None:
    raise_open_files()
    levels = [int(v) for v in args.viewers.split(",")]
    servers = args.servers.split(",")
    unknown = set(servers) - set(SERVERS)
    if unknown:
        raise SystemExit(f"unknown servers {sorted(unknown)}; choose from {SERVERS}")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lcf") as tmp:
        root = Path(tmp)
        redis = await start_redis(root / "r")
        try:
            async with running(bench_settings(redis.url)) as runtime:
                await runtime.redis.flushall()
                await seed_show(runtime)
                writer = StockWriter(runtime, args.rate)
                for viewers in levels:
                    for name in servers:
                        try:
                            row = await one_row(name, viewers, args, writer, root)
                        except Exception as exc:  # one server failing does not end the run
                            row = {"server": name, "viewers": viewers, "error": repr(exc)}
                        rows.append(row)
                        brief = {k: v for k, v in row.items() if k != "client_processes"}
                        print(brief, file=sys.stderr, flush=True)
        finally:
            with contextlib.suppress(Exception):
                await redis.stop()
    add_floor_ratios(rows)
    write_results(
        "fanout",
        title=(
            f"Fan-out: {args.rate:g} stock events/s to a show's viewers, "
            f"{args.seconds:g} s measured after {args.warmup:g} s"
        ),
        command=command_line(),
        table=markdown_table(COLUMNS, rows),
        rows=rows,
        notes=reading(rows, args.rate),
        settings={
            "rate": args.rate,
            "seconds": args.seconds,
            "warmup": args.warmup,
            "livecart_env": LIVECART_ENV,
        },
    )


def cli() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--viewers", default="1000,5000,10000")
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--rate", type=float, default=20.0, help="events written a second")
    parser.add_argument("--seconds", type=float, default=10.0, help="the measured window")
    parser.add_argument("--warmup", type=float, default=3.0)
    uvloop.run(main(parser.parse_args()))


if __name__ == "__main__":
    cli()
