"""Fan-out: how a show's events reach 1 000 and 5 000 viewers, against two peers, in one run.

    python bench/fanout_bench.py [--viewers 1000,5000] [--rate 20] [--seconds 10]

Every server under test is its own process reading the same show's Redis stream; the
viewers live in one separate client process (raw asyncio sockets with a minimal
WebSocket client, so 5 000 sockets cost the client little); the bench process starts a
Redis (the bundled valkey-server, ``appendfsync everysec``), seeds show s1 and writes
``rate`` stock changes a second through ``adjust_stock`` (the Lua script that appends the
``stock`` event), rotating over the show's four products so folding drops nothing.

Peers, each at every viewer count:
- hub:        ``livecart serve``: the hub as it ships (adaptive tick, default budget
              ``hub.max_deliveries_per_s`` = 50 000, ``hub.tick_ms`` = 50)
- hub-50ms:   the same with a budget no room reaches, so the tick stays at 50 ms: the
              hub at the frame rate of the peers below
- broadcast:  websockets' own asyncio server; one XREAD BLOCK reader; each batch becomes
              the same ``events`` JSON the hub sends, given to ``websockets.broadcast()``
- floor:      a bare asyncio server (handshake by hand) writing each batch, framed once,
              straight to every transport: the least a server can do

Measured over ``seconds`` after ``warmup`` seconds of the same load:
- deliveries/s: text frames received by all viewers (for the hub, also the node's own
  ``livecart_hub_frames_out`` over the same window)
- server CPU us per delivery: utime + stime of the server process (/proc/PID/stat; the
  Redis and the clients are other processes) / deliveries; and per viewer-event (CPU /
  events delivered to viewers), which does not reward packing events into fewer frames
- latency: a frame's arrival at its viewer minus the Redis time (the ms part of the
  stream id) of the oldest event it carries; p50 and p99 over all deliveries. One machine,
  one clock; ids have 1 ms resolution.
- tick: the hub's effective tick for the room (``livecart_hub_tick_ms``)

Pings are turned off in every server for the run (they would be deliveries of their
own). Writes nothing but stdout; bench/RESULTS.md holds runs with the command.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import uvloop
from redis.asyncio import Redis

from livecart.app import NODE_WORKERS
from livecart.commerce.shows.control import adjust_stock
from livecart.config import Settings
from livecart.hub.events import HubEvent, events_payload
from livecart.hub.wire import text_frame
from livecart.runtime import running
from livecart.store import keys
from livecart.store.embedded import EmbeddedRedis, bundled_server_binary
from tests.commerce.conftest import PRODUCTS, SHOW, seed_show
from tests.helpers import LivecartProcess

SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
ADMIN_KEY = "bench-admin-key-0123456789"
SKUS = list(PRODUCTS)
WS_GUID = b"258EAFA5-E914-47C5-95CA-C5AB0DC11B65"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PEERS = ("hub", "hub-50ms", "broadcast", "floor")


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (not its children), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def raise_open_files() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --- the peers' servers (run as `fanout_bench.py --serve broadcast|floor REDIS_URL`) ------


async def read_batches(redis_url: str, on_batch: Any) -> None:
    """XREAD BLOCK the show's stream from now on; each batch as the hub would frame it."""
    redis = Redis.from_url(redis_url, decode_responses=True)
    epoch = await redis.hget(keys.show(SHOW), "epoch") or ""
    stream, last = keys.show_events(SHOW), "$"
    while True:
        reply = await redis.xread({stream: last}, block=5000, count=1000)
        for _name, entries in reply:
            events = [HubEvent.from_entry(entry_id, fields) for entry_id, fields in entries]
            last = entries[-1][0]
            on_batch(events_payload(epoch, last, [e for e in events if not e.staff_only]))


async def serve_broadcast(redis_url: str) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    viewers: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        viewers.add(ws)
        try:
            await ws.wait_closed()
        finally:
            viewers.discard(ws)

    async with serve(
        handler, "127.0.0.1", 0, compression=None, ping_interval=None, backlog=4096
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"listening http://127.0.0.1:{port}", flush=True)
        await read_batches(redis_url, lambda payload: broadcast(viewers, payload, text=True))


class FloorConnection(asyncio.Protocol):
    """A WebSocket server connection reduced to the handshake and the writes."""

    def __init__(self, viewers: set[asyncio.Transport]) -> None:
        self.viewers = viewers
        self.transport: asyncio.Transport | None = None
        self.head = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.transport in self.viewers:
            return  # the viewers send nothing but a close at the end
        self.head += data
        if b"\r\n\r\n" not in self.head:
            return
        key = re.search(rb"(?i)sec-websocket-key: *([^\r\n]+)", self.head)
        assert key is not None and self.transport is not None
        accept = base64.b64encode(hashlib.sha1(key.group(1).strip() + WS_GUID).digest())
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        self.viewers.add(self.transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.viewers.discard(self.transport)  # type: ignore[arg-type]


async def serve_floor(redis_url: str) -> None:
    viewers: set[asyncio.Transport] = set()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: FloorConnection(viewers), "127.0.0.1", 0, backlog=4096
    )
    port = server.sockets[0].getsockname()[1]
    print(f"listening http://127.0.0.1:{port}", flush=True)

    def write_all(payload: bytes) -> None:
        frame = text_frame(payload)
        for transport in viewers:
            transport.write(frame)

    await read_batches(redis_url, write_all)


# --- the viewers (run as `fanout_bench.py --clients URL N`) -------------------------------


class Tally:
    def __init__(self) -> None:
        self.counting = False
        self.frames = 0
        self.events = 0
        self.bytes = 0
        self.latencies_ms: list[float] = []
        self.closed = 0


EVENTS_HEAD = b'"events":[{"id":"'


class Viewer(asyncio.Protocol):
    """One WebSocket client: server frames parsed by hand (unmasked, 2/4/10-byte
    headers), pings answered with masked pongs, nothing else sent."""

    def __init__(self, tally: Tally, request: bytes, joined: asyncio.Future[None], hello: bool):
        self.tally = tally
        self.request = request
        self.joined = joined
        self.wait_hello = hello
        self.upgraded = False
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if self.buf:
            data = self.buf + data
            self.buf = b""
        pos = 0
        if not self.upgraded:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buf = data
                return
            if not data.startswith(b"HTTP/1.1 101"):
                if not self.joined.done():
                    self.joined.set_exception(RuntimeError(data[:200].decode(errors="replace")))
                return
            self.upgraded = True
            pos = end + 4
            if not self.wait_hello and not self.joined.done():
                self.joined.set_result(None)
        tally = self.tally
        n = len(data)
        now_ms = time.time() * 1000
        while n - pos >= 2:
            length = data[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if n - pos < 4:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                head = 10
            start, end = pos + head, pos + head + length
            if end > n:
                break
            opcode = data[pos] & 0x0F
            if opcode == 1:
                if tally.counting:
                    at = data.find(EVENTS_HEAD, start, end)
                    if at >= 0:
                        at += len(EVENTS_HEAD)
                        tally.frames += 1
                        tally.bytes += end - pos
                        tally.events += data.count(b'{"id":"', at - 7, end)
                        stamp = int(data[at : data.index(b"-", at, end)])
                        tally.latencies_ms.append(now_ms - stamp)
                if not self.joined.done():
                    self.joined.set_result(None)
            elif opcode == 9:
                self.send(0xA, data[start:end])
            elif opcode == 8:
                tally.closed += 1
                assert self.transport is not None
                self.transport.close()
                return
            pos = end
        if pos < n:
            self.buf = data[pos:]

    def send(self, opcode: int, payload: bytes) -> None:
        """A masked client frame (payloads under 126 bytes: pongs and closes)."""
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert self.transport is not None
        self.transport.write(bytes((0x80 | opcode, 0x80 | len(payload))) + mask + masked)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.joined.done():
            self.joined.set_exception(ConnectionError("closed before it joined"))


def percentile(ordered: list[float], p: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")


async def run_clients(url: str, count: int, hello: bool) -> None:
    """Open ``count`` viewers, then obey stdin: ``start`` counts, ``stop`` reports."""
    loop = asyncio.get_running_loop()
    host, port = url.removeprefix("http://").split(":")
    key = base64.b64encode(os.urandom(16))
    request = (
        (
            f"GET /ws/shows/{SHOW} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "
        ).encode()
        + key
        + b"\r\n\r\n"
    )
    tally = Tally()
    gate = asyncio.Semaphore(200)
    transports: list[asyncio.BaseTransport] = []

    async def one() -> None:
        async with gate:
            joined: asyncio.Future[None] = loop.create_future()
            transport, _ = await loop.create_connection(
                lambda: Viewer(tally, request, joined, hello), host, int(port)
            )
            transports.append(transport)
            await asyncio.wait_for(joined, 30)

    started = time.monotonic()
    await asyncio.gather(*(one() for _ in range(count)))
    print(json.dumps({"joined": count, "seconds": time.monotonic() - started}), flush=True)
    me = os.getpid()
    cpu0 = 0.0
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if line == "start":
            tally.frames = tally.events = tally.bytes = 0
            tally.latencies_ms = []
            cpu0 = cpu_seconds(me)
            tally.counting = True
        elif line == "stop":
            tally.counting = False
            cpu = cpu_seconds(me) - cpu0
            ordered = sorted(tally.latencies_ms)
            report = {
                "frames": tally.frames,
                "events": tally.events,
                "bytes": tally.bytes,
                "closed": tally.closed,
                "cpu_s": cpu,
                "p50_ms": percentile(ordered, 0.50),
                "p99_ms": percentile(ordered, 0.99),
                "max_ms": ordered[-1] if ordered else float("nan"),
            }
            print(json.dumps(report), flush=True)
        else:
            for transport in transports:
                transport.abort()
            return


# --- the driver ---------------------------------------------------------------------------


class Child:
    """A helper process of this bench: a peer server or the viewers."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    async def line(self, within: float = 120.0) -> str:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), within)
        if not line:
            raise RuntimeError(f"{self.proc.args} exited with {self.proc.wait()}")
        return line.strip()

    def tell(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def hub_metrics(url: str) -> dict[str, float]:
    import httpx

    text = httpx.get(f"{url}/metrics", timeout=10).text
    wanted = {
        "frames_out": "livecart_hub_frames_out_total",
        "skipped": "livecart_hub_slow_skipped_total",
        "closed_slow": "livecart_hub_slow_closed_total",
        "tick_ms": f'livecart_hub_tick_ms{{show="{SHOW}"}}',
        "connections": "livecart_hub_connections",
    }
    found: dict[str, float] = {}
    for line in text.splitlines():
        for name, metric in wanted.items():
            if line.startswith(metric + " "):
                found[name] = float(line.split()[-1])
    return found


async def drive(runtime: Any, rate: float, stop: asyncio.Event) -> int:
    """``rate`` stock changes a second, each one event, until told to stop."""
    written, started = 0, time.monotonic()
    while not stop.is_set():
        sku = SKUS[written % len(SKUS)]
        delta = 1 if (written // len(SKUS)) % 2 == 0 else -1
        await adjust_stock(runtime, SHOW, sku, delta)
        written += 1
        await asyncio.sleep(max(0.0, started + written / rate - time.monotonic()))
    return written


async def start_server(peer: str, redis_url: str, workdir: Path) -> tuple[int, str, Any]:
    """(pid, base url, handle) of a server under test."""
    if peer.startswith("hub"):
        env = {
            "LIVECART_REDIS_URL": redis_url,
            "LIVECART_AUTH_SECRET": SECRET,
            "LIVECART_AUTH_ADMIN_API_KEY": ADMIN_KEY,
            "LIVECART_SERVER_LOG_LEVEL": "warning",
            "LIVECART_HUB_PING_INTERVAL_S": "3600",
            "LIVECART_HUB_MAX_JOINS_PER_S": "100000",
        }
        if peer == "hub-50ms":  # a budget no room reaches: the tick stays at hub.tick_ms
            env["LIVECART_HUB_MAX_DELIVERIES_PER_S"] = "10000000"
        node = LivecartProcess(["serve", "--port", "0"], cwd=workdir, env=env)
        url = await asyncio.to_thread(node.wait_for_url)
        return node.proc.pid, url, node
    child = Child(["--serve", peer, redis_url])
    url = (await child.line(30)).split()[-1]
    return child.proc.pid, url, child


def stop_server(handle: Any) -> None:
    if isinstance(handle, LivecartProcess):
        handle.signal(signal.SIGTERM)
        try:
            handle.wait(20)
        finally:
            handle.kill()
    else:
        handle.stop()


async def one_row(
    peer: str, viewers: int, args: argparse.Namespace, runtime: Any, workdir: Path
) -> dict[str, Any]:
    pid, url, handle = await start_server(peer, runtime.settings.redis.url, workdir)
    clients: Child | None = None
    stop = asyncio.Event()
    writer: asyncio.Task[int] | None = None
    try:
        clients = Child(
            ["--clients", url, str(viewers), *(["--hello"] if peer.startswith("hub") else [])]
        )
        joined = json.loads(await clients.line(180))
        writer = asyncio.create_task(drive(runtime, args.rate, stop))
        await asyncio.sleep(args.warmup)
        hub = peer.startswith("hub")
        before = hub_metrics(url) if hub else {}
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        clients.tell("start")
        await asyncio.sleep(args.seconds)
        clients.tell("stop")
        cpu, elapsed = cpu_seconds(pid) - cpu0, time.monotonic() - t0
        after = hub_metrics(url) if hub else {}
        seen = json.loads(await clients.line(60))
        stop.set()
        written = await writer
        writer = None
    finally:
        stop.set()
        if writer is not None:
            with contextlib.suppress(Exception):
                await writer
        if clients is not None:
            with contextlib.suppress(Exception):
                clients.tell("exit")
            clients.stop()
        stop_server(handle)
    frames = seen["frames"]
    return {
        "peer": peer,
        "viewers": viewers,
        "join_s": joined["seconds"],
        "tick_ms": after.get("tick_ms"),
        "written": written,
        "deliveries_per_s": frames / elapsed,
        "events_per_s": seen["events"] / elapsed,
        "server_cpu": cpu / elapsed,
        "client_cpu": seen["cpu_s"] / elapsed,
        "us_per_delivery": cpu / frames * 1e6 if frames else float("nan"),
        "us_per_viewer_event": cpu / seen["events"] * 1e6 if seen["events"] else float("nan"),
        "p50_ms": seen["p50_ms"],
        "p99_ms": seen["p99_ms"],
        "max_ms": seen["max_ms"],
        "closed": seen["closed"],
        "frames_out": (after["frames_out"] - before["frames_out"]) / elapsed if after else None,
        "skipped": after.get("skipped", 0) - before.get("skipped", 0) if after else None,
    }


def table(rows: list[dict[str, Any]], rate: float) -> str:
    floors = {r["viewers"]: r["us_per_delivery"] for r in rows if r["peer"] == "floor"}
    out = [
        "| server    | viewers | tick ms | deliveries/s | events/s to viewers | server CPU "
        "| us / delivery | us / viewer-event | x floor | p50 ms | p99 ms | client CPU |",
        "|-----------|--------:|--------:|-------------:|--------------------:|-----------:"
        "|--------------:|------------------:|--------:|-------:|-------:|-----------:|",
    ]
    for r in rows:
        tick = f"{r['tick_ms']:.0f}" if r["tick_ms"] is not None else "-"
        floor = floors.get(r["viewers"])
        ratio = f"{r['us_per_delivery'] / floor:.2f}" if floor else "-"
        out.append(
            f"| {r['peer']:<9} | {r['viewers']:>7} | {tick:>7} | {r['deliveries_per_s']:>12.0f} "
            f"| {r['events_per_s']:>19.0f} | {r['server_cpu'] * 100:>9.0f}% "
            f"| {r['us_per_delivery']:>13.1f} | {r['us_per_viewer_event']:>17.1f} "
            f"| {ratio:>7} | {r['p50_ms']:>6.0f} | {r['p99_ms']:>6.0f} "
            f"| {r['client_cpu'] * 100:>9.0f}% |"
        )
    return "\n".join(out)


async def main(args: argparse.Namespace) -> None:
    raise_open_files()
    levels = [int(v) for v in args.viewers.split(",")]
    peers = args.peers.split(",")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lcf") as tmp:
        root = Path(tmp)
        redis = EmbeddedRedis(root / "r", binary=bundled_server_binary(), appendfsync="everysec")
        await redis.start()
        try:
            settings = Settings().with_overrides(
                {
                    "redis": {"url": redis.url},
                    "auth": {"secret": SECRET, "admin_api_key": ADMIN_KEY},
                    "server": {"log_level": "warning"},
                }
            )
            async with running(settings, workers=NODE_WORKERS) as runtime:
                await runtime.redis.flushall()
                await seed_show(runtime)
                for viewers in levels:
                    for peer in peers:
                        row = await one_row(peer, viewers, args, runtime, root)
                        rows.append(row)
                        print(json.dumps(row), file=sys.stderr, flush=True)
        finally:
            await redis.stop()
    print(
        f"fan-out benchmark: {args.rate:g} stock events/s, {args.seconds:g} s measured after "
        f"{args.warmup:g} s warm-up, {os.cpu_count()} cores"
    )
    print(table(rows, args.rate))
    for r in rows:
        if r["peer"].startswith("hub"):
            print(
                f"{r['peer']}, {r['viewers']} viewers: node's livecart_hub_frames_out "
                f"{r['frames_out']:.0f}/s, slow-skipped {r['skipped']:.0f}, "
                f"closed by the server {r['closed']}, joins took {r['join_s']:.1f} s"
            )


def cli() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--viewers", default="1000,5000")
    parser.add_argument("--rate", type=float, default=20.0, help="events written per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("--serve", nargs=2, metavar=("PEER", "REDIS_URL"), help=argparse.SUPPRESS)
    parser.add_argument("--clients", nargs=2, metavar=("URL", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--hello", action="store_true", help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()
    if args.serve:
        peer, redis_url = args.serve
        uvloop.run(serve_broadcast(redis_url) if peer == "broadcast" else serve_floor(redis_url))
    elif args.clients:
        raise_open_files()
        uvloop.run(run_clients(args.clients[0], int(args.clients[1]), args.hello))
    else:
        uvloop.run(main(args))


if __name__ == "__main__":
    cli()
