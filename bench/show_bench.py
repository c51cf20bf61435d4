"""A live show: viewers watching while a streamer pins, a flash sale sells, viewers chat
and react; livecart's node against peers that broadcast each event at once.

    python bench/show_bench.py [--viewers 10000] [--seconds 60] \
        [--servers livecart,starlette,socketio] [--pin-every 10] [--buys-per-s 500] \
        [--chat-per-s 50] [--reactions-per-s 200] [--sample 200] [--py-spy /tmp/show]

Set-up: one Redis (the bundled valkey-server, ``appendfsync everysec``), show s1 seeded
as the tests seed it plus ``p-flash`` (1 000 000 units) in its lineup, one
``livecart serve`` with default settings except pings off and the joins limit lifted
(``LIVECART_HUB_MAX_JOINS_PER_S=100000``), so joining is not what is measured. The
bench's own runtime seeds the show and then closes: no second node shares the work.

The scenario is played through livecart's real interfaces, as the show's people do it,
by an actors process (``--actors``) holding signed-in WebSocket sessions on the
livecart node (tokens from ``livecart.auth.tokens.issue_token``):
- the streamer (role ``streamer``): ``flash_start`` on p-flash (price 800, no per-buyer
  limit) when the row starts, then ``pin`` every ``--pin-every`` s, rotating over the
  lineup so each pin changes something (what studio.html does, over its socket);
- ``--buyers`` viewers sending ``buy`` (1 unit of p-flash, a new idempotency key per
  tap) at ``--buys-per-s`` in all, round robin, so each buyer stays far under
  ``hub.buys_per_s`` (5/s, burst 10);
- ``--chatters`` viewers sending ``chat`` at ``--chat-per-s`` in all (under
  ``hub.chat_per_s`` = 1/s each; slow mode is off);
- ``--reactors`` viewers sending ``react`` at ``--reactions-per-s`` in all (under
  ``hub.reacts_per_s`` = 10/s each). The node folds taps into one ``reactions`` event
  every 250 ms by design, so about 4 such events a second are written whatever the taps.
Every actor socket also receives the show's frames, as any viewer does.

Rows (``--servers``), each with its own actors, sample and viewers, one after the other:
- livecart: ``--viewers`` sockets on the livecart node in all: the actors, the sampled
  viewers and anonymous viewers (bench/viewers.py's ViewerGroups, one process per
  2 500, at least two) for the rest.
- starlette, socketio: ``bench/peers.py SERVER``, a process reading the same show's
  stream and sending each batch at once as the hub's ``events`` JSON, the usual way,
  to its own ``--viewers`` sockets (sampled plus anonymous). The actors keep playing
  the scenario on livecart's node, so the same kinds of events are written at the
  same rates; livecart then has only the actors connected. The peers only fan out:
  their CPU is fan-out alone, livecart's includes the commerce and the actors'
  messages (its CPU in a peer row is given as "node CPU"). In a peer row the buy and
  chat figures are livecart's, serving the actors only.

Measured over ``--seconds`` after ``--warmup`` seconds of the same scenario:
- written/s: events appended to the show's stream in the window, by type (the bench
  reads the stream as it is written: XREAD; staff-only events are not counted)
- server CPU: utime + stime of the server process, /proc/PID/stat, in cores (1.0 =
  one core busy), with user and system apart; node CPU: livecart's in every row;
  Redis CPU: the valkey-server's (the sale's scripts run there); CPU wait: seconds per
  second the server's threads were ready to run but had no core (schedstat): well
  above 0, the machine, not the server, set the pace
- frames/viewer/s: text frames the anonymous viewers received per viewer per second
- p99 per type: for ``--sample`` viewers in a process of this bench, each event's
  arrival minus the ms part of its stream id (Redis' clock when it was written; one
  machine, one clock, 1 ms resolution), over events written in the window, every copy
  of every event counted. Every sampled viewer gets the same bytes for a frame (same
  ``last``), so a frame is decoded once with orjson and each copy adds only its
  arrival: the sample's own CPU stays small and out of the figures. A folded event
  (stock, reactions, viewers) is measured from the id it is sent with, the newest of
  those it stands for.
- kept up: every sampled viewer received every event of the window that is never
  folded (all but stock, viewers, reactions): count and sum of ids against the stream
- buy p50/p99: a buy sent to its ``order`` reply; chat echo: a chat sent to the frame
  carrying it back to its sender; refusals: replies other than ack / confirmed order,
  by code, and requests left unanswered
- client CPU: the busiest client process (viewers, sample, actors), in cores; machine
  idle: the share of both cores idle over the window (near 0: the figures are the
  machine's, not the server's)

Joining is not measured: the sample and the actors join 64 at a time and try a failed
join again (``join_retries``); viewers.py's count of viewers that never joined is given.
Payments: the provider bench.common.livecart_env leaves the node (today livecart's
``builtin``: approves at once). A row whose peer exits is kept with its error.
``--py-spy PREFIX`` records each server over the window (``py-spy record --format
raw``, 50 Hz, non-blocking) to ``PREFIX-SERVER.txt``. Writes bench/results/show.md and show.json
(every figure, latency by type with p50/p99/max, refusals by code).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
import uvloop
from redis.asyncio import Redis

from bench.common import (
    SECRET,
    Child,
    CpuTimes,
    MachineIdle,
    bench_settings,
    command_line,
    cpu_times,
    markdown_table,
    next_frame,
    percentile,
    raise_open_files,
    start_livecart,
    start_redis,
    stop_livecart,
    write_results,
)
from bench.viewers import ViewerGroups
from livecart.hub.events import STAFF_ONLY
from livecart.hub.moderation import REACTION_KINDS

SHOW = "s1"
FLASH_SKU = "p-flash"
FLASH_UNITS = 1_000_000
FLASH_PRICE = 800
LINEUP = ("p-flash", "p-plain", "p-limited", "p-scarce", "p-dollars")
# Folded by the hub (a later value replaces an earlier one within a tick): a viewer may
# not get each one. Every other type must reach every viewer (docs/protocol.md, "Folding").
FOLDED = frozenset({"stock", "viewers", "reactions", "bid", "auction_extended", "giveaway_entries"})
TABLE_TYPES = ("pinned", "sold", "stock", "chat", "reactions")
SERVERS = ("livecart", "starlette", "socketio")
EVENTS_PREFIX = b'{"type":"events"'


def now_ms() -> float:
    return time.time() * 1000


# --- a WebSocket client on raw asyncio sockets ------------------------------------------


def handshake(host: str, port: int, path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n"
    ).encode()


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (RFC 6455 5.3): the XOR is one big-int operation."""
    n = len(payload)
    mask = os.urandom(4)
    key = (mask * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + mask + masked


class WsClient(asyncio.Protocol):
    """One WebSocket client: the upgrade, server frames parsed by hand (never masked,
    never fragmented by the servers here), pings answered; each text message goes to
    ``on_message(client, payload, arrival_ms)``. ``socketio``: Engine.IO v4 on top (open,
    namespace connect, pings answered with pongs), ``42["name", data]`` passed on."""

    def __init__(
        self,
        request: bytes,
        on_message: Callable[[WsClient, bytes, float], None],
        socketio: bool = False,
        index: int = 0,
    ) -> None:
        self.request = request
        self.on_message = on_message
        self.socketio = socketio
        self.index = index
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.upgraded = False
        self.closed = False
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
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
                if not self.ready.done():
                    self.ready.set_exception(RuntimeError(data[:200].decode(errors="replace")))
                return
            self.upgraded = True
            pos = end + 4
        n = len(data)
        arrival = now_ms()
        while (frame := next_frame(data, pos)) is not None:
            opcode, start, end = frame
            if opcode == 1:
                if self.socketio:
                    self.engine_io(data[start:end], arrival)
                else:
                    if not self.ready.done() and data.startswith(b'{"type":"hello"', start):
                        self.ready.set_result(None)
                    self.on_message(self, data[start:end], arrival)
            elif opcode == 9:
                self.send_frame(0xA, data[start:end])
            elif opcode == 8:
                self.closed = True
                if self.transport is not None:
                    self.transport.close()
                return
            pos = end
        if pos < n:
            self.buf = data[pos:]

    def engine_io(self, packet: bytes, arrival: float) -> None:
        if packet[:2] == b"42":
            if not self.ready.done() and packet.startswith(b'42["hello"'):
                self.ready.set_result(None)
            self.on_message(self, packet, arrival)
        elif packet[:1] == b"2":
            self.send_text(b"3" + packet[1:])
        elif packet[:1] == b"0":
            self.send_text(b"40")

    def send_frame(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(client_frame(opcode, payload))

    def send_text(self, payload: bytes) -> None:
        self.send_frame(0x1, payload)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed before it was ready"))


def run_wait_s(pid: int) -> float:
    """Seconds the process's threads spent ready to run but waiting for a core
    (/proc/PID/task/*/schedstat, second field): the share of the window a server was
    starved by the rest of the machine."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


def split_url(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").rstrip("/").split(":")
    return host, int(port)


def socket_path(protocol: str, token: str | None = None) -> str:
    if protocol == "socketio":
        return f"/socket.io/?EIO=4&transport=websocket&show={SHOW}"
    return f"/ws/shows/{SHOW}" + (f"?token={token}" if token else "")


async def open_clients(
    url: str,
    paths: Sequence[str],
    on_message: Callable[[WsClient, bytes, float], None],
    socketio: bool = False,
    retries: list[int] | None = None,
) -> list[WsClient]:
    """One client per path, 64 handshakes at a time (as bench/viewers.py), each joined
    (its hello received) when this returns; a join that fails is tried again, up to 5
    times, and ``retries`` counts them."""
    loop = asyncio.get_running_loop()
    host, port = split_url(url)
    gate = asyncio.Semaphore(64)
    clients: list[WsClient] = []
    retries = [] if retries is None else retries

    async def one(index: int, path: str) -> None:
        async with gate:
            for attempt in range(5):
                _, client = await loop.create_connection(
                    lambda: WsClient(handshake(host, port, path), on_message, socketio, index),
                    host,
                    port,
                )
                try:
                    await asyncio.wait_for(client.ready, 20)
                except (ConnectionError, RuntimeError, TimeoutError):
                    if client.transport is not None:
                        client.transport.abort()
                    if attempt == 4:
                        raise
                    retries.append(index)
                    await asyncio.sleep(0.2 * (attempt + 1))
                    continue
                clients.append(client)
                return

    await asyncio.gather(*(one(i, path) for i, path in enumerate(paths)))
    clients.sort(key=lambda c: c.index)
    return clients


async def stdin_lines() -> Any:
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        yield line.strip()


def say(document: Any) -> None:
    print(json.dumps(document), flush=True)


# --- the sampled viewers (run as `show_bench.py --sampler URL N PROTOCOL`) -----------------


def decode_events(payload: bytes, socketio: bool) -> list[dict[str, Any]]:
    """The events of an ``events`` message (livecart's or a peer's, ws or Socket.IO)."""
    if socketio:
        message = orjson.loads(payload[2:])[1]
        if isinstance(message, str | bytes):
            message = orjson.loads(message)
    else:
        message = orjson.loads(payload)
    events: list[dict[str, Any]] = message.get("events") or []
    return events


def frame_key(payload: bytes) -> bytes:
    """The frame's ``last``: every viewer of one audience gets the same frame for it."""
    at = payload.index(b'"last"')
    start = payload.index(b'"', at + 6) + 1
    return payload[start : payload.index(b'"', start)]


class Frame:
    """One frame as every sampled viewer got it: its events of the window, as (type,
    ms) pairs, decoded once; the arrivals (whole ms) of its copies, counted."""

    __slots__ = ("arrivals", "events", "kept", "kept_sum")

    def __init__(self, events: list[tuple[str, int]]) -> None:
        self.events = events
        kept = [ms for kind, ms in events if kind not in FOLDED]
        self.kept, self.kept_sum = len(kept), sum(kept)
        self.arrivals: Counter[int] = Counter()


class Sample:
    """What the sampled viewers saw. Each distinct frame (by its ``last``) is decoded
    once; each copy adds its arrival, so the measured work per copy is a few lookups.
    Per viewer: how many never-folded events of the window it got and the sum of their
    ms parts (compared with the stream's own). Latencies are made after the window:
    arrival minus the ms part of each event's id, per type, in 1 ms buckets."""

    def __init__(self, count: int, socketio: bool) -> None:
        self.socketio = socketio
        self.head = b'42["events"' if socketio else EVENTS_PREFIX
        self.window = (float("inf"), float("inf"))
        self.counting = False
        self.frames = 0
        self.other = Counter[str]()
        self.seen: dict[bytes, Frame] = {}
        self.kept = [0] * count
        self.kept_sum = [0] * count

    def on_message(self, client: WsClient, payload: bytes, arrival: float) -> None:
        if not payload.startswith(self.head):
            if payload.startswith(b'{"type":"state"'):
                self.other["state"] += 1
            return
        if self.counting:
            self.frames += 1
        key = frame_key(payload)
        frame = self.seen.get(key)
        if frame is None:
            low, high = self.window
            events = []
            for event in decode_events(payload, self.socketio):
                event_id: str = event["id"]
                ms = int(event_id[: event_id.index("-")])
                if low <= ms < high:
                    events.append((str(event["type"]), ms))
            frame = self.seen[key] = Frame(events)
        if frame.events:
            frame.arrivals[int(arrival)] += 1
            self.kept[client.index] += frame.kept
            self.kept_sum[client.index] += frame.kept_sum

    def report(self) -> dict[str, Any]:
        hists: dict[str, Counter[int]] = {}
        for frame in self.seen.values():
            for kind, ms in frame.events:
                hist = hists.setdefault(kind, Counter())
                for arrival, n in frame.arrivals.items():
                    hist[max(0, arrival - ms)] += n
        by_type = {}
        for kind, hist in sorted(hists.items()):
            total = sum(hist.values())
            marks: dict[str, float] = {}
            seen = 0
            for ms in sorted(hist):
                n = hist[ms]
                for name, p in (("p50_ms", 0.5), ("p99_ms", 0.99)):
                    if name not in marks and seen + n > total * p:
                        marks[name] = float(ms)
                seen += n
            marks["max_ms"] = float(max(hist))
            by_type[kind] = {"deliveries": total, **marks}
        return {
            "types": by_type,
            "kept": self.kept,
            "kept_sum": self.kept_sum,
            "frames": self.frames,
            "distinct_frames": len(self.seen),
            "other": dict(self.other),
        }


async def run_sample(url: str, count: int, protocol: str) -> None:
    """Open ``count`` viewers, then obey stdin: ``window LOW_MS HIGH_MS`` (events of the
    window are measured), ``start`` / ``stop`` (frames and CPU), ``report``, ``exit``."""
    socketio = protocol == "socketio"
    sample = Sample(count, socketio)
    started = time.monotonic()
    retries: list[int] = []
    clients = await open_clients(
        url, [socket_path(protocol)] * count, sample.on_message, socketio, retries
    )
    say({"joined": count, "seconds": time.monotonic() - started, "retries": len(retries)})
    me, cpu0, cpu = os.getpid(), cpu_times(os.getpid()), CpuTimes(0.0, 0.0)
    async for line in stdin_lines():
        word, *rest = line.split()
        if word == "window":
            sample.window = (float(rest[0]), float(rest[1]))
        elif word == "start":
            cpu0, sample.counting = cpu_times(me), True
        elif word == "stop":
            cpu, sample.counting = cpu_times(me) - cpu0, False
        elif word == "report":
            report = sample.report()
            report["cpu_s"] = cpu.total
            report["closed"] = sum(c.closed for c in clients)
            say(report)
        else:
            break
    for client in clients:
        if client.transport is not None:
            client.transport.abort()


# --- the show's actors (run as `show_bench.py --actors URL ...`) ------------------------


def token_for(user: str, role: str = "viewer") -> str:
    from livecart.auth.tokens import issue_token

    show = SHOW if role == "streamer" else None
    return issue_token(SECRET, sub=user, role=role, show=show, ttl_s=6 * 3600)


@dataclass
class KindTally:
    """One kind of request over the window: sent, replied (latency ms), outcomes."""

    sent: int = 0
    latencies: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    echoes: list[float] = field(default_factory=list)

    def report(self, unanswered: int) -> dict[str, Any]:
        ordered, echoes = sorted(self.latencies), sorted(self.echoes)
        return {
            "sent": self.sent,
            "replied": len(ordered),
            "unanswered": unanswered,
            "p50_ms": percentile(ordered, 0.5),
            "p99_ms": percentile(ordered, 0.99),
            "outcomes": dict(self.outcomes),
            "echo_p50_ms": percentile(echoes, 0.5),
            "echo_p99_ms": percentile(echoes, 0.99),
        }


class Actors:
    """The streamer, buyers, chatters and reactors: one signed-in socket each."""

    def __init__(self) -> None:
        self.kinds: dict[str, KindTally] = {}
        self.since = 0.0  # requests sent before this (perf_counter) are not counted
        self.pending: dict[int, tuple[str, float, asyncio.Future[dict[str, Any]] | None]] = {}
        self.echoes: list[dict[bytes, float]] = []  # per socket: chat text -> sent at
        self.chats: dict[int, bytes] = {}  # req of a chat -> its text, until the reply
        self.req = 0
        self.driving = False
        self.errors: Counter[str] = Counter()
        self.reset()

    def reset(self) -> None:
        self.kinds = {kind: KindTally() for kind in ("buy", "chat", "react", "pin", "flash")}
        self.since = time.perf_counter()

    def on_message(self, client: WsClient, payload: bytes, arrival: float) -> None:
        if payload.startswith(EVENTS_PREFIX):
            echoes = self.echoes[client.index]
            if echoes:
                for needle in [n for n in echoes if n in payload]:
                    sent = echoes.pop(needle)
                    if sent >= self.since:
                        self.kinds["chat"].echoes.append((time.perf_counter() - sent) * 1000)
            return
        message = orjson.loads(payload)
        req = message.get("req")
        if not isinstance(req, int) or req not in self.pending:
            if message.get("type") == "error":
                self.errors[f"unsolicited {message.get('code')}"] += 1
            return
        kind, sent, future = self.pending.pop(req)
        chat_text = self.chats.pop(req) if req in self.chats else None
        if chat_text is not None and message["type"] == "error":
            self.echoes[client.index].pop(chat_text, 0.0)  # refused: no echo will come
        if message["type"] == "order":
            outcome = str(message.get("result"))
        elif message["type"] == "error":
            outcome = f"error {message.get('code')}"
        else:
            outcome = str(message["type"])
        if sent >= self.since:
            tally = self.kinds[kind]
            tally.latencies.append((time.perf_counter() - sent) * 1000)
            tally.outcomes[outcome] += 1
        if future is not None and not future.done():
            future.set_result(message)

    def send(
        self, client: WsClient, kind: str, body: dict[str, Any], wait: bool = False
    ) -> asyncio.Future[dict[str, Any]] | None:
        self.req += 1
        future = asyncio.get_running_loop().create_future() if wait else None
        sent = time.perf_counter()
        self.pending[self.req] = (kind, sent, future)
        if sent >= self.since:
            self.kinds[kind].sent += 1
        client.send_text(orjson.dumps({**body, "req": self.req}))
        return future

    async def ask(self, client: WsClient, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        future = self.send(client, kind, body, wait=True)
        assert future is not None
        return await asyncio.wait_for(future, 30)

    def unanswered(self, kind: str) -> int:
        return sum(1 for k, sent, _ in self.pending.values() if k == kind and sent >= self.since)

    async def drive(self, pool: list[WsClient], rate: float, make: Callable[[int], Any]) -> None:
        """``rate`` requests a second over ``pool``, round robin (each member at rate /
        len(pool)), until ``driving`` is cleared."""
        if rate <= 0 or not pool:
            return
        started, sent = time.monotonic(), 0
        while self.driving:
            due = int((time.monotonic() - started) * rate)
            while sent < due:
                make(sent)
                sent += 1
            await asyncio.sleep(0.005)


async def run_actors(url: str, args: argparse.Namespace) -> None:
    """Join, then obey stdin: ``go`` (start the scenario), ``start`` (count from now),
    ``stop`` (stop the scenario, report), ``exit``."""
    actors = Actors()
    users = (
        [("streamer", "streamer")]
        + [(f"buyer{i}", "viewer") for i in range(args.buyers)]
        + [(f"chatter{i}", "viewer") for i in range(args.chatters)]
        + [(f"reactor{i}", "viewer") for i in range(args.reactors)]
    )
    actors.echoes = [{} for _ in users]
    paths = [socket_path("ws", token_for(user, role)) for user, role in users]
    started = time.monotonic()
    retries: list[int] = []
    clients = await open_clients(url, paths, actors.on_message, retries=retries)
    say({"joined": len(clients), "seconds": time.monotonic() - started, "retries": len(retries)})
    streamer = clients[0]
    buyers = clients[1 : 1 + args.buyers]
    chatters = clients[1 + args.buyers : 1 + args.buyers + args.chatters]
    reactors = clients[1 + args.buyers + args.chatters :]
    tasks: list[asyncio.Task[None]] = []

    def buy(n: int) -> None:
        client = buyers[n % len(buyers)]
        key = f"k{os.getpid()}-{n}"
        actors.send(client, "buy", {"type": "buy", "sku": FLASH_SKU, "idempotency_key": key})

    def chat(n: int) -> None:
        client = chatters[n % len(chatters)]
        text = f"hello from {n}"
        needle = f'"text":"{text}"'.encode()
        actors.echoes[client.index][needle] = time.perf_counter()
        actors.send(client, "chat", {"type": "chat", "text": text})
        actors.chats[actors.req] = needle

    def react(n: int) -> None:
        client = reactors[n % len(reactors)]
        kind = REACTION_KINDS[n % len(REACTION_KINDS)]
        actors.send(client, "react", {"type": "react", "kind": kind})

    async def stream() -> None:
        """A new flash sale (the last row's ended first) and nothing pinned, so that
        every pin of the row changes something; then a pin every ``pin_every``."""
        sale = {
            "type": "flash_start",
            "sku": FLASH_SKU,
            "price": FLASH_PRICE,
            "quantity": args.flash_quantity,
            "duration_s": args.flash_duration_s,
        }
        for body in ({"type": "flash_stop"}, {"type": "unpin"}, sale):
            try:
                reply = await actors.ask(streamer, "flash", body)
            except TimeoutError:
                reply = {"type": "error", "code": "no reply in 30 s"}
            if reply.get("type") != "ack":
                actors.errors[f"{body['type']} {reply.get('code')}"] += 1
        pins = 0
        while actors.driving:
            sku = LINEUP[pins % len(LINEUP)]
            pins += 1
            actors.send(streamer, "pin", {"type": "pin", "sku": sku})
            await asyncio.sleep(args.pin_every)

    me, cpu0 = os.getpid(), cpu_times(os.getpid())
    async for line in stdin_lines():
        if line == "go":
            actors.driving = True
            tasks = [
                asyncio.create_task(stream()),
                asyncio.create_task(actors.drive(buyers, args.buys_per_s, buy)),
                asyncio.create_task(actors.drive(chatters, args.chat_per_s, chat)),
                asyncio.create_task(actors.drive(reactors, args.reactions_per_s, react)),
            ]
        elif line == "start":
            actors.reset()
            cpu0 = cpu_times(me)
        elif line == "stop":
            actors.driving = False
            cpu = cpu_times(me) - cpu0
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.sleep(3)  # replies still on their way
            say(
                {
                    "cpu_s": cpu.total,
                    "kinds": {k: t.report(actors.unanswered(k)) for k, t in actors.kinds.items()},
                    "errors": dict(actors.errors),
                    "closed": sum(c.closed for c in clients),
                    "sockets": len(clients),
                }
            )
        else:
            break
    for client in clients:
        if client.transport is not None:
            client.transport.abort()


# --- the bench ------------------------------------------------------------------------------


class StreamTally:
    """The show's stream as it is written (XREAD), counted by type over a window of
    Redis time; never-folded, not staff-only events also as (count, sum of ms parts),
    which every sampled viewer must match. The stream is trimmed (MAXLEN ~
    hub.stream_max_events), so it is read as it goes, not afterwards."""

    def __init__(self, redis_url: str) -> None:
        self.redis = Redis.from_url(redis_url)
        self.window: tuple[float, float] = (float("inf"), float("inf"))
        self.types: Counter[str] = Counter()
        self.kept = 0
        self.kept_sum = 0
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        from livecart.store import keys

        key = keys.show_events(SHOW)
        entries: Any = await self.redis.xrevrange(key, count=1)
        last: bytes = entries[0][0] if entries else b"0-0"
        self.task = asyncio.create_task(self.read(key, last))

    async def read(self, key: str, last: bytes) -> None:
        while True:
            reply: Any = await self.redis.xread({key: last}, block=1000, count=5000)
            for _name, entries in reply:
                for entry_id, fields in entries:
                    last = entry_id
                    ms = int(entry_id.split(b"-")[0])
                    if not self.window[0] <= ms < self.window[1]:
                        continue
                    kind = fields.get(b"type", b"").decode()
                    if kind in STAFF_ONLY:
                        continue
                    self.types[kind] += 1
                    if kind not in FOLDED:
                        self.kept += 1
                        self.kept_sum += ms

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.redis.aclose()


def viewers_report(report: dict[str, Any], count: int, seconds: float) -> dict[str, Any]:
    """The figures this bench takes from bench/viewers.py's merged window report."""
    return {
        "frames": report["frames"],
        "viewers": count,
        "client_cpu": report["client_max_process_cores"],
        "client_cores": report["client_cores"],
        "closed": report["closed"],
        "close_codes": report["close_codes"],
        "oldest_p99_ms": report["p99_ms"],
    }


async def hub_metrics(url: str) -> dict[str, float]:
    """The node's hub figures from ``/metrics``, and how long the scrape took
    (``scrape_s``; the scrape PINGs Redis through the node's pool). Empty when the node
    did not answer within 30 s."""
    import httpx

    started = time.monotonic()
    try:
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"{url}/metrics", timeout=30)).text
    except httpx.HTTPError:
        return {}
    wanted = {
        "skipped": "livecart_hub_slow_skipped_total",
        "closed_slow": "livecart_hub_slow_closed_total",
        "tick_ms": f'livecart_hub_tick_ms{{show="{SHOW}"}}',
        "connections": "livecart_hub_connections",
        "redis_up": "livecart_redis_up",
    }
    found: dict[str, float] = {"scrape_s": time.monotonic() - started}
    for line in text.splitlines():
        for name, metric in wanted.items():
            if line.startswith(metric + " "):
                found[name] = float(line.split()[-1])
    return found


async def start_peer(server: str, redis_url: str) -> tuple[Child, str]:
    child = Child([sys.executable, "bench/peers.py", server, redis_url, "--show", SHOW])
    while True:
        line = await child.line(60)
        if line.startswith("listening"):
            return child, line.split()[-1]


async def one_row(
    server: str, args: argparse.Namespace, node: Any, redis_url: str, redis_pid: int
) -> dict[str, Any]:
    livecart_url: str = node.url
    actor_count = 1 + args.buyers + args.chatters + args.reactors
    peer: Child | None = None
    sample: Child | None = None
    actors: Child | None = None
    viewers: Any = None
    tally = StreamTally(redis_url)
    try:
        if server == "livecart":
            url, pid, protocol = livecart_url, node.proc.pid, "ws"
            anonymous = args.viewers - args.sample - actor_count
        else:
            peer, url = await start_peer(server, redis_url)
            pid, protocol = peer.pid, "socketio" if server == "socketio" else "ws"
            anonymous = args.viewers - args.sample
        if anonymous < 0:
            raise SystemExit(f"--viewers {args.viewers} is fewer than the sample and actors")
        actors = Child(
            [
                sys.executable,
                __file__,
                "--actors",
                livecart_url,
                *actor_args(args),
            ]
        )
        joined_actors = await actors.json_line(300)
        sample = Child([sys.executable, __file__, "--sampler", url, str(args.sample), protocol])
        joined_sample = await sample.json_line(300)
        started = time.monotonic()
        viewers = await ViewerGroups.open(
            url, anonymous, protocol=protocol, processes=args.viewer_processes, show=SHOW
        )
        join_s = time.monotonic() - started
        await tally.start()
        actors.tell("go")
        await asyncio.sleep(args.warmup)
        low = int(now_ms()) + 500  # the sample learns the window before it begins
        high = low + int(args.seconds * 1000)  # whole ms, the same for stream and sample
        tally.window = (low, high)
        sample.tell(f"window {low} {high}")
        await asyncio.sleep(max(0.0, (low - now_ms()) / 1000))
        before = await hub_metrics(livecart_url)
        idle = MachineIdle()
        cpu0, node0, t0 = cpu_times(pid), cpu_times(node.proc.pid), time.monotonic()
        redis0 = cpu_times(redis_pid)
        wait0, node_wait0 = run_wait_s(pid), run_wait_s(node.proc.pid)
        idle.start()
        profiler = start_py_spy(args.py_spy, server, pid, args.seconds)
        await viewers.start()
        sample.tell("start")
        actors.tell("start")
        await asyncio.sleep(args.seconds)
        seen = viewers_report(await viewers.stop(), anonymous, args.seconds)
        seen["join_failed"] = viewers.join.get("failed", 0)
        sample.tell("stop")
        actors.tell("stop")
        elapsed = time.monotonic() - t0
        cpu, node_cpu = cpu_times(pid) - cpu0, cpu_times(node.proc.pid) - node0
        redis_cpu = cpu_times(redis_pid) - redis0
        wait, node_wait = run_wait_s(pid) - wait0, run_wait_s(node.proc.pid) - node_wait0
        if peer is not None and peer.proc.poll() is not None:
            raise RuntimeError(f"{server} exited with {peer.proc.returncode} during the row")
        idle.stop()
        after = await hub_metrics(livecart_url)
        if profiler is not None:
            await asyncio.to_thread(profiler.wait, 60)
        played = await actors.json_line(60)
        await asyncio.sleep(args.drain)  # the window's last events reach the sample
        sample.tell("report")
        sampled = await sample.json_line(60)
    finally:
        await tally.close()
        for child in (actors, sample):
            if child is not None:
                with contextlib.suppress(OSError):
                    child.tell("exit")
                child.stop()
        if viewers is not None:
            await viewers.close()
        if peer is not None:
            peer.stop()
    return make_row(
        server,
        args,
        elapsed=elapsed,
        cpu=cpu,
        node_cpu=node_cpu,
        redis_cpu=redis_cpu,
        waits=(wait / elapsed, node_wait / elapsed),
        idle=idle.idle,
        seen=seen,
        sampled=sampled,
        played=played,
        tally=tally,
        hub=(before, after) if server == "livecart" else None,
        join_s=join_s,
        joined=(joined_actors, joined_sample),
    )


def start_py_spy(
    prefix: str | None, server: str, pid: int, seconds: float
) -> subprocess.Popen[bytes] | None:
    """``py-spy record`` of the server over the window (raw, collapsed stacks), to
    ``PREFIX-SERVER.txt``; sampling at 50 Hz, non-blocking, so the server barely notices."""
    if not prefix:
        return None
    py_spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen(
        [
            str(py_spy),
            "record",
            "--format",
            "raw",
            "--nonblocking",
            "--rate",
            "50",
            "--duration",
            str(max(1, int(seconds))),
            "--pid",
            str(pid),
            "-o",
            f"{prefix}-{server}.txt",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def actor_args(args: argparse.Namespace) -> list[str]:
    flash_duration = int(args.warmup + args.seconds + args.drain + 60)
    flash_quantity = min(FLASH_UNITS // 4, max(1, int(args.buys_per_s * flash_duration * 2)))
    return [
        f"--buyers={args.buyers}",
        f"--chatters={args.chatters}",
        f"--reactors={args.reactors}",
        f"--pin-every={args.pin_every}",
        f"--buys-per-s={args.buys_per_s}",
        f"--chat-per-s={args.chat_per_s}",
        f"--reactions-per-s={args.reactions_per_s}",
        f"--flash-quantity={flash_quantity}",
        f"--flash-duration-s={min(21_600, flash_duration)}",
    ]


def make_row(
    server: str,
    args: argparse.Namespace,
    *,
    elapsed: float,
    cpu: CpuTimes,
    node_cpu: CpuTimes,
    redis_cpu: CpuTimes,
    waits: tuple[float, float],
    idle: float,
    seen: dict[str, Any],
    sampled: dict[str, Any],
    played: dict[str, Any],
    tally: StreamTally,
    hub: tuple[dict[str, float], dict[str, float]] | None,
    join_s: float,
    joined: tuple[dict[str, Any], dict[str, Any]],
) -> dict[str, Any]:
    types = sampled["types"]
    kinds = played["kinds"]
    behind = [
        i
        for i, (n, s) in enumerate(zip(sampled["kept"], sampled["kept_sum"], strict=True))
        if n != tally.kept or s != tally.kept_sum
    ]
    refusals: Counter[str] = Counter()
    for kind, report in kinds.items():
        for outcome, n in report["outcomes"].items():
            if outcome not in ("ack", "confirmed"):
                refusals[f"{kind} {outcome}"] += n
        if report["unanswered"]:
            refusals[f"{kind} unanswered"] += report["unanswered"]
    for error, n in played["errors"].items():
        refusals[error] += n
    written = {k: n / args.seconds for k, n in sorted(tally.types.items())}
    viewer_count = seen["viewers"] or 1
    row: dict[str, Any] = {
        "server": server,
        "viewers": args.viewers,
        "seconds": args.seconds,
        "written": " ".join(f"{k} {v:.3g}" for k, v in written.items()),
        "written_per_s": written,
        "cpu": cpu.total / elapsed,
        "cpu_user": cpu.user / elapsed,
        "cpu_system": cpu.system / elapsed,
        "node_cpu": node_cpu.total / elapsed,
        "redis_cpu": redis_cpu.total / elapsed,
        "cpu_wait": waits[0],
        "node_cpu_wait": waits[1],
        "frames_per_viewer_s": seen["frames"] / viewer_count / elapsed,
        "sample_frames_per_viewer_s": sampled["frames"] / args.sample / elapsed,
        "latency": types,
        "buy_p50_ms": kinds["buy"]["p50_ms"],
        "buy_p99_ms": kinds["buy"]["p99_ms"],
        "chat_echo_p99_ms": kinds["chat"]["echo_p99_ms"],
        "requests": kinds,
        "refusals": sum(refusals.values()),
        "refusal_codes": dict(refusals),
        "client_cpu": max(
            seen["client_cpu"], sampled["cpu_s"] / elapsed, played["cpu_s"] / elapsed
        ),
        "viewers_cpu": seen["client_cpu"],
        "sample_cpu": sampled["cpu_s"] / elapsed,
        "actors_cpu": played["cpu_s"] / elapsed,
        "idle": idle,
        "kept_up": not behind and tally.kept > 0,
        "sample_behind": len(behind),
        "expected_kept_events": tally.kept,
        "closed": seen["closed"] + sampled["closed"] + played["closed"],
        "state_messages": sampled["other"].get("state", 0),
        "join_s": join_s,
        "actors_join_s": joined[0]["seconds"],
        "join_retries": joined[0]["retries"] + joined[1]["retries"],
        "viewers_join_failed": seen["join_failed"],
        "close_codes": seen["close_codes"],
    }
    for kind in TABLE_TYPES:
        row[f"p99_{kind}"] = types.get(kind, {}).get("p99_ms")
    if hub is not None:
        before, after = hub
        row["tick_ms"] = after.get("tick_ms")
        row["slow_skipped"] = after.get("skipped", 0) - before.get("skipped", 0)
        row["slow_closed"] = after.get("closed_slow", 0) - before.get("closed_slow", 0)
        row["metrics_scrape_s"] = after.get("scrape_s")
        row["metrics_redis_up"] = after.get("redis_up")
    return row


COLUMNS = [
    ("server", "server"),
    ("viewers", "viewers"),
    ("s", "seconds"),
    ("written/s", "written"),
    ("CPU cores", "cpu"),
    ("user", "cpu_user"),
    ("sys", "cpu_system"),
    ("CPU wait", "cpu_wait"),
    ("node CPU", "node_cpu"),
    ("Redis CPU", "redis_cpu"),
    ("frames/viewer/s", "frames_per_viewer_s"),
    *((f"p99 {kind} ms", f"p99_{kind}") for kind in TABLE_TYPES),
    ("buy p50 ms", "buy_p50_ms"),
    ("buy p99 ms", "buy_p99_ms"),
    ("chat echo p99 ms", "chat_echo_p99_ms"),
    ("refusals", "refusals"),
    ("client CPU max", "client_cpu"),
    ("idle", "idle"),
    ("kept up", "kept_up"),
]


def reading(rows: list[dict[str, Any]], args: argparse.Namespace) -> list[str]:
    actors = 1 + args.buyers + args.chatters + args.reactors
    notes = [
        f"Scenario through livecart's WebSocket by {actors} signed-in actor sockets in one "
        f"process: the streamer (flash_start, then pin every {args.pin_every:g} s), "
        f"{args.buyers} buyers ({args.buys_per_s:g} buys/s), {args.chatters} chatters "
        f"({args.chat_per_s:g}/s), {args.reactors} reactors ({args.reactions_per_s:g} taps/s); "
        f"warm-up {args.warmup:g} s, window {args.seconds:g} s.",
        f"p99 per type from {args.sample} sampled viewers (every copy of every event: arrival "
        "minus stream id ms); frames/viewer/s from the anonymous viewers (bench/viewers.py).",
        "The peers (starlette, socketio) only fan out: each reads the stream and sends every "
        "batch at once. Their CPU is fan-out alone; livecart's CPU includes the commerce "
        "(reserve, payment, confirm, order consumers), the actors' messages and its own fan-out. "
        "In peer rows the actors still play on livecart (node CPU column), with no viewers there; "
        "buy and chat figures in those rows are livecart's serving the actors alone.",
        "reactions are folded by livecart's node into one event per 250 ms whatever the taps, "
        "so a few reactions events a second are written; stock events are folded per tick by "
        "livecart's hub only, the peers send each.",
    ]
    for row in rows:
        if "error" in row:
            notes.append(f"{row['server']}: no figures: {row['error']}")
            continue
        line = (
            f"{row['server']}: {row['cpu']:.2f} cores (user {row['cpu_user']:.2f}, "
            f"system {row['cpu_system']:.2f}), waited for a core {row['cpu_wait']:.2f} s/s "
            f"(livecart's node {row['node_cpu_wait']:.2f}), "
            f"{row['frames_per_viewer_s']:.1f} frames/viewer/s, "
            f"kept up: {'yes' if row['kept_up'] else 'no'} "
            f"({row['sample_behind']} of {args.sample} sampled viewers missed events of "
            f"{row['expected_kept_events']} never-folded), closed sockets {row['closed']} "
            f"{row['close_codes'] or ''}, viewers that never joined {row['viewers_join_failed']}, "
            f"machine idle {row['idle']:.0%}"
        )
        if row.get("tick_ms") is not None:
            line += (
                f"; hub tick {row['tick_ms']:.0f} ms, slow-skipped {row['slow_skipped']:.0f}, "
                f"slow-closed {row['slow_closed']:.0f}, state messages {row['state_messages']}"
            )
        if row.get("metrics_scrape_s") is not None:
            line += (
                f"; GET /metrics after the window took {row['metrics_scrape_s']:.1f} s "
                f"(livecart_redis_up {row['metrics_redis_up']})"
            )
        if row["refusal_codes"]:
            line += "; refusals: " + ", ".join(f"{k} {v}" for k, v in row["refusal_codes"].items())
        lat = ", ".join(
            f"{k} p50 {v.get('p50_ms', float('nan')):.0f}/p99 {v.get('p99_ms', float('nan')):.0f}"
            for k, v in row["latency"].items()
        )
        line += f"; latency ms by type: {lat}"
        line += (
            f"; client CPU: viewers {row['viewers_cpu']:.2f}, sample {row['sample_cpu']:.2f}, "
            f"actors {row['actors_cpu']:.2f}"
        )
        notes.append(line)
    return notes


def node_log(stderr: str) -> Counter[str]:
    """livecart's warnings and errors, counted by their text up to the first digit (ids
    and numbers vary)."""
    logged: Counter[str] = Counter()
    for line in stderr.splitlines():
        found = re.search(r" (WARNING|ERROR|CRITICAL) (.*)", line)
        if found is not None or line.startswith("Traceback"):
            text = found.group(2) if found is not None else line
            cut = next((i for i, c in enumerate(text) if c.isdigit()), len(text))
            logged[text[: min(cut, 100)].strip()] += 1
    return logged


async def main(args: argparse.Namespace) -> None:
    from livecart.commerce.catalog.products import Product, save_product
    from livecart.commerce.shows.control import add_to_lineup
    from livecart.runtime import running
    from tests.commerce.conftest import seed_show

    raise_open_files()
    servers = [s for s in args.servers.split(",") if s]
    rows: list[dict[str, Any]] = []
    logged: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="lcshow") as tmp:
        root = Path(tmp)
        redis = await start_redis(root / "redis")
        try:
            # Seeding only: no node workers here, so no second node shares the order work.
            async with running(bench_settings(redis.url)) as runtime:
                await runtime.redis.flushall()
                await seed_show(runtime, SHOW)
                product = Product(
                    sku=FLASH_SKU, brand="b1", title="Flash", price=1200, currency="EUR"
                )
                await save_product(runtime.redis, product)
                await add_to_lineup(runtime, SHOW, FLASH_SKU, FLASH_UNITS)
            node = await start_livecart(redis.url, root, LIVECART_HUB_MAX_JOINS_PER_S="100000")
            try:
                for server in servers:
                    try:
                        row = await one_row(server, args, node, redis.url, redis.pid)
                    except (RuntimeError, TimeoutError) as exc:  # a peer died, a child hung
                        row = {"server": server, "viewers": args.viewers, "error": str(exc)}
                    rows.append(row)
                    print(json.dumps(row, default=str), file=sys.stderr, flush=True)
            finally:
                stop_livecart(node)
                logged = node_log(node.stderr)
        finally:
            await redis.stop()
    notes = reading(rows, args)
    if logged:
        notes.append(
            "livecart's log over the run (all rows): "
            + "; ".join(f"{n} x {line!r}" for line, n in logged.most_common(8))
        )
    write_results(
        "show",
        title="A live show: fan-out with commerce, chat and reactions",
        command=command_line(),
        table=markdown_table(COLUMNS, rows),
        rows=rows,
        notes=notes,
        settings={k: v for k, v in vars(args).items() if not k.startswith("_")},
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--viewers", type=int, default=10_000, help="sockets per server, all told")
    p.add_argument("--seconds", type=float, default=60.0, help="measured window")
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--drain", type=float, default=3.0, help="seconds for the last frames")
    p.add_argument("--servers", default=",".join(SERVERS))
    p.add_argument("--pin-every", type=float, default=10.0)
    p.add_argument("--buys-per-s", type=float, default=500.0)
    p.add_argument("--chat-per-s", type=float, default=50.0)
    p.add_argument("--reactions-per-s", type=float, default=200.0)
    p.add_argument("--buyers", type=int, default=200, help="buyer sockets (users)")
    p.add_argument("--chatters", type=int, default=100, help="chatter sockets (users)")
    p.add_argument("--reactors", type=int, default=40, help="reactor sockets (users)")
    p.add_argument("--sample", type=int, default=200, help="viewers whose every frame is parsed")
    p.add_argument(
        "--viewer-processes", type=int, help="default: bench/viewers.py's (1 per 2 500, >= 2)"
    )
    p.add_argument("--flash-quantity", type=int, default=100_000, help=argparse.SUPPRESS)
    p.add_argument("--flash-duration-s", type=int, default=600, help=argparse.SUPPRESS)
    p.add_argument("--actors", metavar="URL", help=argparse.SUPPRESS)
    p.add_argument("--py-spy", metavar="PREFIX", help="profile each server to PREFIX-SERVER.txt")
    p.add_argument("--sampler", nargs=3, help=argparse.SUPPRESS)
    return p


def cli() -> None:
    args = parser().parse_args()
    if args.sampler:
        raise_open_files()
        uvloop.run(run_sample(args.sampler[0], int(args.sampler[1]), args.sampler[2]))
    elif args.actors:
        uvloop.run(run_actors(args.actors, args))
    else:
        uvloop.run(main(args))


if __name__ == "__main__":
    cli()
