"""Lean viewers for the benchmarks: many WebSocket clients per process, raw asyncio
sockets with frames parsed by hand, spread over several processes.

Command line (one process; the benches use ``ViewerGroups`` below)::

    python bench/viewers.py URL COUNT --protocol ws|socketio [--show s1]
        [--rate JOINS_PER_S] [--retry] [--start-at UNIX_S]

opens COUNT viewers of show ``--show`` on the server at URL (``http://HOST:PORT``): at
most ``--rate`` new viewers a second when given (evenly, 2 ms steps), else as fast as it
can with at most 64 handshakes in flight. ``--start-at`` waits until that wall-clock
time before the first connect (several processes storm together). When every viewer has
joined or given up it prints one JSON line::

    {"joined": n, "seconds": s, "hello_ms": {"p50", "p99", "max"}, "refused": r,
     "retries": k, "failed": f, "failures": {why: n}, "retried_after": {why: n},
     "started_at": unix_s, "last_hello_at": unix_s, "hello_hist": HIST, "pid": pid,
     "cpu_user_s", "cpu_sys_s", "cores"}

- joined: viewers that received their hello; failed: viewers that never did
  (failures says why); joined + failed = COUNT
- hello_ms: from a viewer's FIRST connect attempt to its hello, retries included
  (without ``--rate``, an attempt begins when one of the handshakes in flight ends)
- refused: refusals received (close 4429 "join rate" or 1013 "node full" before the
  hello); retries: reconnect attempts made (``--retry`` only; without it a refused
  viewer has failed). With ``--retry`` a timeout (30 s), a lost connection or a close
  1001/1011/1012 before the hello is retried too, counted in retried_after by reason.
- seconds: from the first connect to the last hello (``last_hello_at - started_at``)
- cpu_user_s, cpu_sys_s: this process's CPU while joining; cores: that / the time spent

With ``--retry`` a refused viewer reconnects as docs/protocol.md's client algorithm
does: wait ``random() * min(30 s, 0.5 s * 2**attempt)`` (full jitter), and after a
4429 at least ``retry_after_ms`` + ``random() * 1 s``.

Then it obeys lines on stdin: ``start`` begins a counting window, ``stop [LOW HIGH]``
ends it and prints one JSON line::

    {"frames", "events", "events_in_range", "bytes", "other_frames", "closed",
     "close_codes", "open", "cpu_user_s", "cpu_sys_s", "seconds", "p50_ms", "p99_ms", "max_ms",
     "latency_hist": HIST, "pid"}

- frames: ``events`` frames received (deliveries); events: the events they carry (a frame
  may carry several); events_in_range: with ``stop LOW HIGH``, the events received in
  the window whose stream id's ms part is in [LOW, HIGH) (null without), so a bench
  can check that every viewer got every event written in a span, whenever it arrived;
  bytes: their size on the wire, WebSocket header included; other_frames: any other
  message (livecart's ``state``, acks, ...)
- closed: viewers the server closed or cut off (ever, not only in the window), by code
  in close_codes ("1006" = cut without a close frame); open: viewers still connected
- cpu_user_s, cpu_sys_s: this process's CPU over the window (/proc/PID/stat)
- latency: a frame's arrival minus the ms part of the stream id of the OLDEST event it
  carries (Redis' clock on this machine; ids have 1 ms resolution); p50/p99 over all
  frames of the window

``exit`` closes every socket and ends the process.

Protocols:

- ``ws`` (livecart and the ws peers of bench/peers.py): ``GET /ws/shows/{show}``; a
  viewer has joined at the first text message starting ``{"type":"hello"``; events frames
  start ``{"type":"events"``.
- ``socketio`` (Engine.IO 4 over a WebSocket, no polling): ``GET
  /socket.io/?EIO=4&transport=websocket&show={show}``; the server's open packet
  ``0{...}`` is answered ``40`` (connect to the default namespace), the server acks
  ``40{"sid":..}``, then its ``42["hello",{...}]`` event joins the viewer; events arrive
  as ``42["events",{...}]``; an Engine.IO ping ``2`` is answered ``3``.

HIST, a latency histogram that merges exactly across processes: bucket i < 10 000 holds
[i/10, (i+1)/10) ms (0.1 ms buckets up to 1 s), bucket 10 000 + j holds [1000 + j,
1001 + j) ms for j < 59 000 (1 ms buckets up to 60 s), the last bucket everything
above; serialized as ``[[bucket, count], ...]`` for the non-empty buckets. A quantile is
reported as its bucket's upper edge.

Python API (bench/fanout_bench.py, idle_bench.py, storm_bench.py, show_bench.py)::

    from bench.viewers import ViewerGroups

    groups = await ViewerGroups.open(url, 10_000, protocol="ws", processes=None,
                                     show="s1", rate=None, retry=False,
                                     join_timeout=600.0, start_at=None)
    groups.join       # merged join report: the keys above (summed, or over all
                      # processes), "client_max_process_cores", "per_process"
    groups.pids       # the client processes
    await groups.start()
    report = await groups.stop(id_range=None)  # merged window report (ViewerGroups.stop);
                      # id_range=(low_ms, high_ms) adds "events_in_range"
    await groups.close()           # also: async with await ViewerGroups.open(...) as g

``processes`` defaults to ``ceil(count / 2500)``, at least 2 (never more than count).
The processes' stderr is this process's. A rate given to ``open`` is the total, split
evenly; every process begins at ``start_at`` so a storm is one storm.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math
import os
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Child, cpu_times, next_frame, raise_open_files

VIEWERS_PY = str(Path(__file__).resolve())
START_LEAD_S = 1.5  # from starting the processes to their first connect
IN_FLIGHT = 64  # handshakes in flight per process when no --rate is given
ATTEMPT_TIMEOUT_S = 30.0  # connect + hello of one attempt
GIVE_UP_S = 300.0  # a viewer that has not joined this long after its first attempt
REFUSALS = frozenset({4429, 1013})
RETRYABLE_CLOSES = REFUSALS | {1001, 1011, 1012}
PROTOCOLS = ("ws", "socketio")

# Stream ids of the events a frame carries: {"id":"1712345678901-0" (or "id": "...").
EVENT_ID = re.compile(rb'\{"id": ?"(\d+)-\d+"')
EVENTS_PREFIX = {"ws": b'{"type":"events"', "socketio": b'42["events",'}
HELLO_PREFIX = {"ws": b'{"type":"hello"', "socketio": b'42["hello",'}


# --- the histogram ------------------------------------------------------------------


FINE_BUCKETS = 10_000  # 0.1 ms up to 1 s
COARSE_BUCKETS = 59_000  # 1 ms from 1 s up to 60 s
BUCKETS = FINE_BUCKETS + COARSE_BUCKETS + 1  # the last: everything above 60 s


def bucket_of(ms: float) -> int:
    if ms < 1000.0:
        return int(ms * 10.0) if ms > 0.0 else 0
    if ms < 60_000.0:
        return FINE_BUCKETS + int(ms - 1000.0)
    return BUCKETS - 1


def bucket_top(index: int) -> float:
    """The upper edge of a bucket, in ms (the reported value of a quantile in it)."""
    if index < FINE_BUCKETS:
        return (index + 1) / 10.0
    if index < BUCKETS - 1:
        return 1000.0 + (index - FINE_BUCKETS + 1)
    return math.inf


class Histogram:
    """Latencies in ms in fixed buckets (module docstring): merges exactly."""

    __slots__ = ("counts", "max_ms")

    def __init__(self) -> None:
        self.counts = [0] * BUCKETS
        self.max_ms = math.nan

    def add(self, ms: float) -> None:
        self.counts[bucket_of(ms)] += 1
        if not ms <= self.max_ms:  # also when max_ms is still nan
            self.max_ms = ms

    @property
    def count(self) -> int:
        return sum(self.counts)

    def quantile(self, p: float) -> float:
        """The p-quantile (0..1) as its bucket's upper edge; nan when empty."""
        total = self.count
        if not total:
            return math.nan
        rank = min(total - 1, int(total * p))
        seen = 0
        for index, n in enumerate(self.counts):
            seen += n
            if seen > rank:
                return min(bucket_top(index), self.max_ms)
        return self.max_ms

    def to_sparse(self) -> list[list[int]]:
        return [[i, n] for i, n in enumerate(self.counts) if n]

    def merge_sparse(self, sparse: Iterable[Sequence[int]], max_ms: float | None) -> None:
        for index, n in sparse:
            self.counts[index] += n
        if max_ms is not None and not max_ms <= self.max_ms:
            self.max_ms = max_ms

    def summary(self) -> dict[str, float]:
        return {"p50": self.quantile(0.50), "p99": self.quantile(0.99), "max": self.max_ms}


# --- one process's viewers ----------------------------------------------------------


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame with a payload under 126 bytes (pongs, closes, "40", "3")."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes((0x80 | opcode, 0x80 | len(payload))) + mask + masked


class Outcome:
    """How one connection attempt ended before or at its hello."""

    __slots__ = ("code", "joined_at", "reason", "retry_after_ms")

    def __init__(
        self,
        *,
        joined_at: float | None = None,
        code: int | None = None,
        retry_after_ms: float | None = None,
        reason: str = "",
    ) -> None:
        self.joined_at = joined_at  # monotonic time of the hello
        self.code = code  # the close code of a refusal
        self.retry_after_ms = retry_after_ms
        self.reason = reason or f"closed {code}"  # why it did not join

    @property
    def retryable(self) -> bool:
        """Worth another attempt (with --retry): refusals and the closes docs/protocol.md
        says to resume after, timeouts, lost connections; not a refused handshake or a
        close that will not change (4401, 4403, 4404, ...)."""
        if self.code is not None:
            return self.code in RETRYABLE_CLOSES
        return not self.reason.startswith("handshake")


class Group:
    """The viewers of this process and what they counted."""

    def __init__(self, url: str, show: str, protocol: str) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}")
        self.host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
        self.port = int(port)
        self.protocol = protocol
        self.socketio = protocol == "socketio"
        path = (
            f"/socket.io/?EIO=4&transport=websocket&show={show}"
            if self.socketio
            else f"/ws/shows/{show}"
        )
        self.request = (
            (
                f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Key: "
            ).encode()
            + base64.b64encode(os.urandom(16))
            + b"\r\n\r\n"
        )
        self.events_prefix = EVENTS_PREFIX[protocol]
        self.hello_prefix = HELLO_PREFIX[protocol]
        self.viewers: set[Viewer] = set()
        self.closed_codes: Counter[str] = Counter()
        self.reset_window()
        self.counting = False

    def reset_window(self) -> None:
        self.frames = 0
        self.events = 0
        self.bytes = 0
        self.other_frames = 0
        self.latency = Histogram()
        self.by_id_ms: Counter[int] = Counter()  # events received, by their stream id's ms


class Viewer(asyncio.Protocol):
    """One WebSocket client: the upgrade, then server frames parsed by hand (unmasked,
    2/4/10-byte headers); pings answered; nothing else sent (socketio: its ``40``)."""

    __slots__ = ("buf", "closing", "group", "outcome", "state", "transport")

    def __init__(self, group: Group, outcome: asyncio.Future[Outcome]) -> None:
        self.group = group
        self.outcome = outcome
        self.state = 0  # 0: upgrading, 1: upgraded, waiting for the hello, 2: joined
        self.buf = b""
        self.closing = False  # this side closes: not counted as closed by the server
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.transport.write(self.group.request)

    def data_received(self, data: bytes) -> None:
        if self.buf:
            data = self.buf + data
            self.buf = b""
        pos = 0
        if self.state == 0:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buf = data
                return
            if not data.startswith(b"HTTP/1.1 101"):
                status = data[: data.find(b"\r\n")].decode(errors="replace")
                self.fail(f"handshake: {status}")
                return
            self.state = 1
            pos = end + 4
        group = self.group
        n = len(data)
        now_ms = time.time() * 1000.0
        while (frame := next_frame(data, pos)) is not None:
            opcode, start, end = frame
            if opcode == 1:
                if self.state == 2 and data.startswith(group.events_prefix, start):
                    if group.counting:
                        group.frames += 1
                        group.bytes += end - pos
                        ids = EVENT_ID.findall(data, start, end)
                        if ids:
                            group.events += len(ids)
                            by_id_ms = group.by_id_ms
                            for stamp in ids:
                                by_id_ms[int(stamp)] += 1
                            ms = now_ms - int(ids[0])
                            latency = group.latency
                            if 0.0 < ms < 1000.0:  # Histogram.add, inlined for the common case
                                latency.counts[int(ms * 10.0)] += 1
                                if not ms <= latency.max_ms:
                                    latency.max_ms = ms
                            else:
                                latency.add(ms)
                else:
                    self.message(data[start:end])
            elif opcode == 9:
                self.send(0xA, data[start:end])
            elif opcode == 8:
                self.server_closed(data[start:end])
                return
            pos = end
        if pos < n:
            self.buf = data[pos:]

    def message(self, text: bytes) -> None:
        """A text message that is not a counted events frame."""
        group = self.group
        if self.state == 2:
            if group.socketio and text == b"2":
                self.send(0x1, b"3")
            elif group.counting:
                group.other_frames += 1
            return
        if text.startswith(group.hello_prefix):
            self.state = 2
            group.viewers.add(self)
            if not self.outcome.done():
                self.outcome.set_result(Outcome(joined_at=time.monotonic()))
        elif group.socketio:
            if text.startswith(b"0{"):
                self.send(0x1, b"40")  # the open packet: connect to the default namespace
            elif text == b"2":
                self.send(0x1, b"3")
            elif text.startswith(b"44"):
                self.fail(f"socket.io connect error: {text[:200].decode(errors='replace')}")
            # "40{...}" (the connect ack) and anything else: wait for the hello

    def server_closed(self, payload: bytes) -> None:
        code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
        reason = payload[2:].decode(errors="replace")
        if self.state == 2:
            self.group.closed_codes[str(code)] += 1
        elif not self.outcome.done():
            if code in REFUSALS:
                retry_after_ms = None
                if code == 4429:
                    with contextlib.suppress(ValueError, TypeError, KeyError):
                        retry_after_ms = float(json.loads(reason)["retry_after_ms"])
                self.outcome.set_result(Outcome(code=code, retry_after_ms=retry_after_ms))
            else:
                self.outcome.set_result(Outcome(code=code))
        self.closing = True
        self.send(0x8, payload[:2])  # echo the code, then let the server close
        assert self.transport is not None
        self.transport.close()

    def send(self, opcode: int, payload: bytes) -> None:
        assert self.transport is not None
        if not self.transport.is_closing():
            self.transport.write(client_frame(opcode, payload))

    def fail(self, reason: str) -> None:
        if not self.outcome.done():
            self.outcome.set_result(Outcome(reason=reason))
        self.close()

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.abort()  # RST: no TIME_WAIT left behind on the client side

    def connection_lost(self, exc: Exception | None) -> None:
        group = self.group
        group.viewers.discard(self)
        if not self.outcome.done():
            self.outcome.set_result(Outcome(reason="connection lost before the hello"))
        elif self.state == 2 and not self.closing:
            group.closed_codes["1006"] += 1


class Joiner:
    """Opens this process's viewers and tallies their joins."""

    def __init__(self, group: Group, retry: bool) -> None:
        self.group = group
        self.retry = retry
        self.hello = Histogram()
        self.joined = 0
        self.refused = 0
        self.retries = 0
        self.failures: Counter[str] = Counter()
        self.retried_after: Counter[str] = Counter()  # what else than a refusal was retried
        self.started_at = math.nan
        self.last_hello_at = math.nan

    async def attempt(self, gate: asyncio.Semaphore | None) -> tuple[float, Outcome]:
        """(when the attempt began, how it ended); with ``gate``, it begins once a place
        among the handshakes in flight is free."""
        if gate is None:
            return time.monotonic(), await self.connect()
        async with gate:
            return time.monotonic(), await self.connect()

    async def connect(self) -> Outcome:
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[Outcome] = loop.create_future()
        group = self.group
        viewer: Viewer | None = None
        try:
            async with asyncio.timeout(ATTEMPT_TIMEOUT_S):
                _, viewer = await loop.create_connection(
                    lambda: Viewer(group, outcome), group.host, group.port
                )
                return await outcome
        except TimeoutError:
            if viewer is not None:
                viewer.fail("no hello within the attempt timeout")
            return Outcome(reason="timeout")
        except OSError as exc:
            return Outcome(reason=f"connect: {type(exc).__name__}")

    async def seat(self, gate: asyncio.Semaphore | None) -> None:
        """One viewer, from its first attempt to its hello (or giving up)."""
        first = math.nan
        attempt = 0
        while True:
            began, outcome = await self.attempt(gate)
            if attempt == 0:
                first = began
            if outcome.joined_at is not None:
                self.joined += 1
                self.hello.add((outcome.joined_at - first) * 1000.0)
                self.last_hello_at = time.time()
                return
            if outcome.code in REFUSALS:
                self.refused += 1
            elif self.retry and outcome.retryable:
                self.retried_after[outcome.reason] += 1
            if not (self.retry and outcome.retryable):
                self.failures[outcome.reason] += 1
                return
            wait = random.random() * min(30.0, 0.5 * 2**attempt)  # full jitter
            if outcome.retry_after_ms is not None:
                wait = max(wait, outcome.retry_after_ms / 1000.0 + random.random())
            attempt += 1
            if time.monotonic() + wait - first > GIVE_UP_S:
                self.failures[f"gave up after {attempt} attempts"] += 1
                return
            self.retries += 1
            await asyncio.sleep(wait)

    async def open(self, count: int, rate: float | None) -> None:
        self.started_at = time.time()
        t0 = time.monotonic()
        seats: list[asyncio.Task[None]] = []
        if rate is None:
            gate = asyncio.Semaphore(IN_FLIGHT)
            seats = [asyncio.create_task(self.seat(gate)) for _ in range(count)]
        else:
            while len(seats) < count:
                due = min(count, int((time.monotonic() - t0) * rate) + 1)
                seats.extend(asyncio.create_task(self.seat(None)) for _ in range(due - len(seats)))
                if len(seats) < count:
                    await asyncio.sleep(0.002)
        await asyncio.gather(*seats)

    def report(self) -> dict[str, Any]:
        return {
            "joined": self.joined,
            "seconds": self.last_hello_at - self.started_at if self.joined else math.nan,
            "hello_ms": self.hello.summary(),
            "refused": self.refused,
            "retries": self.retries,
            "failed": sum(self.failures.values()),
            "failures": dict(self.failures),
            "retried_after": dict(self.retried_after),
            "started_at": self.started_at,
            "last_hello_at": self.last_hello_at,
            "hello_hist": self.hello.to_sparse(),
            "pid": os.getpid(),
        }


def window_report(
    group: Group,
    seconds: float,
    cpu_user: float,
    cpu_sys: float,
    id_range: tuple[int, int] | None = None,
) -> dict[str, Any]:
    latency = group.latency
    in_range = None
    if id_range is not None:
        low, high = id_range
        in_range = sum(n for ms, n in group.by_id_ms.items() if low <= ms < high)
    return {
        "frames": group.frames,
        "events": group.events,
        "events_in_range": in_range,
        "bytes": group.bytes,
        "other_frames": group.other_frames,
        "closed": sum(group.closed_codes.values()),
        "close_codes": dict(group.closed_codes),
        "open": len(group.viewers),
        "cpu_user_s": cpu_user,
        "cpu_sys_s": cpu_sys,
        "seconds": seconds,
        "p50_ms": latency.quantile(0.50),
        "p99_ms": latency.quantile(0.99),
        "max_ms": latency.max_ms,
        "latency_hist": latency.to_sparse(),
        "pid": os.getpid(),
    }


def dumps(document: dict[str, Any]) -> str:
    """JSON with nan/inf as null (strict JSON for every reader)."""

    def clean(value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        return value

    return json.dumps(clean(document))


async def run_process(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    group = Group(args.url, args.show, args.protocol)
    joiner = Joiner(group, args.retry)
    if args.start_at is not None:
        await asyncio.sleep(max(0.0, args.start_at - time.time()))
    me = os.getpid()
    cpu0, t0 = cpu_times(me), time.monotonic()
    await joiner.open(args.count, args.rate)
    cpu, spent = cpu_times(me) - cpu0, time.monotonic() - t0
    report = joiner.report()
    report["cpu_user_s"], report["cpu_sys_s"] = cpu.user, cpu.system
    report["cores"] = cpu.total / spent if spent else math.nan
    print(dumps(report), flush=True)

    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    while True:
        line = (await stdin.readline()).decode().strip()
        if line == "start":
            group.reset_window()
            cpu0, t0 = cpu_times(me), time.monotonic()
            group.counting = True
        elif line.startswith("stop"):
            group.counting = False
            cpu = cpu_times(me) - cpu0
            bounds = [int(v) for v in line.split()[1:3]]
            id_range = (bounds[0], bounds[1]) if len(bounds) == 2 else None
            report = window_report(group, time.monotonic() - t0, cpu.user, cpu.system, id_range)
            print(dumps(report), flush=True)
        elif line in ("exit", ""):  # "" is the end of stdin: the parent has gone
            for viewer in list(group.viewers):
                viewer.close()
            return


# --- several processes: the API the benches use -------------------------------------


def default_processes(count: int) -> int:
    return max(1, min(count, max(2, math.ceil(count / 2500))))


def merge_joins(joins: Sequence[dict[str, Any]]) -> dict[str, Any]:
    hello = Histogram()
    failures: Counter[str] = Counter()
    retried_after: Counter[str] = Counter()
    for j in joins:
        hello.merge_sparse(j["hello_hist"], j["hello_ms"]["max"])
        failures.update(j["failures"])
        retried_after.update(j["retried_after"])
    started = min(j["started_at"] for j in joins)
    hellos = [j["last_hello_at"] for j in joins if j["last_hello_at"] is not None]
    last = max(hellos) if hellos else None
    return {
        "joined": sum(j["joined"] for j in joins),
        "seconds": last - started if last is not None else math.nan,
        "hello_ms": hello.summary(),
        "refused": sum(j["refused"] for j in joins),
        "retries": sum(j["retries"] for j in joins),
        "failed": sum(j["failed"] for j in joins),
        "failures": dict(failures),
        "retried_after": dict(retried_after),
        "started_at": started,
        "last_hello_at": last,
        "client_max_process_cores": max(j["cores"] or 0.0 for j in joins),
        "per_process": [
            {k: j[k] for k in ("pid", "joined", "seconds", "refused", "retries", "failed", "cores")}
            for j in joins
        ],
    }


def merge_windows(reports: Sequence[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """The window reports of several processes as one; ``seconds`` is the parent's
    window (the rates' denominator)."""
    latency = Histogram()
    codes: Counter[str] = Counter()
    for r in reports:
        latency.merge_sparse(r["latency_hist"], r["max_ms"])
        codes.update(r["close_codes"])
    per_process = [
        {
            "pid": r["pid"],
            "cpu_user_s": r["cpu_user_s"],
            "cpu_sys_s": r["cpu_sys_s"],
            "cores": (r["cpu_user_s"] + r["cpu_sys_s"]) / r["seconds"] if r["seconds"] else 0.0,
            "frames": r["frames"],
        }
        for r in reports
    ]
    cpu_user = sum(r["cpu_user_s"] for r in reports)
    cpu_sys = sum(r["cpu_sys_s"] for r in reports)

    def rate(key: str) -> float:
        # Each process over its own window: one that read "start" or "stop" late (a
        # busy client) still counts at the right rate.
        return sum(r[key] / r["seconds"] for r in reports if r["seconds"])

    ranges = [r["events_in_range"] for r in reports]
    return {
        "events_in_range": None if None in ranges else sum(ranges),
        "frames_per_s": rate("frames"),
        "events_per_s": rate("events"),
        "bytes_per_s": rate("bytes"),
        "other_frames_per_s": rate("other_frames"),
        "frames": sum(r["frames"] for r in reports),
        "events": sum(r["events"] for r in reports),
        "bytes": sum(r["bytes"] for r in reports),
        "other_frames": sum(r["other_frames"] for r in reports),
        "closed": sum(r["closed"] for r in reports),
        "close_codes": dict(codes),
        "open": sum(r["open"] for r in reports),
        "seconds": seconds,
        "cpu_user_s": cpu_user,
        "cpu_sys_s": cpu_sys,
        "client_cores": sum(p["cores"] for p in per_process),
        "client_max_process_cores": max(p["cores"] for p in per_process),
        "p50_ms": latency.quantile(0.50),
        "p99_ms": latency.quantile(0.99),
        "max_ms": latency.max_ms,
        "per_process": per_process,
    }


class ViewerGroups:
    """``count`` viewers spread over ``processes`` child processes of this module."""

    def __init__(self, children: list[Child], join: dict[str, Any]) -> None:
        self.children = children
        self.join = join
        self._started = math.nan

    @property
    def pids(self) -> list[int]:
        return [child.pid for child in self.children]

    @classmethod
    async def open(
        cls,
        url: str,
        count: int,
        *,
        protocol: str = "ws",
        processes: int | None = None,
        show: str = "s1",
        rate: float | None = None,
        retry: bool = False,
        join_timeout: float = 600.0,
        start_at: float | None = None,
    ) -> ViewerGroups:
        """Start the processes, let them all begin connecting at wall-clock time
        ``start_at`` (default: 1.5 s from now, time for the processes to start), and wait
        until every viewer has joined or given up. ``rate`` is the total for all
        processes."""
        k = processes or default_processes(count)
        k = max(1, min(k, count))
        if start_at is None:
            start_at = time.time() + START_LEAD_S
        common = ["--protocol", protocol, "--show", show, "--start-at", f"{start_at:.3f}"]
        if rate is not None:
            common += ["--rate", f"{rate / k:g}"]
        if retry:
            common.append("--retry")
        counts = [count // k + (1 if i < count % k else 0) for i in range(k)]
        children = [Child([sys.executable, VIEWERS_PY, url, str(n), *common]) for n in counts]
        groups = cls(children, {})
        try:
            joins = await asyncio.gather(*(c.json_line(join_timeout) for c in children))
        except BaseException:
            await groups.close()
            raise
        groups.join = merge_joins(joins)
        return groups

    async def start(self) -> None:
        """Begin counting in every process."""
        for child in self.children:
            child.tell("start")
        self._started = time.monotonic()

    async def stop(self, id_range: tuple[int, int] | None = None) -> dict[str, Any]:
        """End the window. The merged report: events_in_range (with ``id_range``: the
        events received whose stream id's ms part is in [low, high), whenever they
        arrived in the window), frames_per_s, events_per_s, bytes_per_s,
        other_frames_per_s (each process's count over its own window, summed); frames,
        events, bytes, other_frames, closed, close_codes, open (summed); seconds (this
        side's window); cpu_user_s, cpu_sys_s (summed), client_cores (the processes'
        shares summed), client_max_process_cores; p50_ms, p99_ms, max_ms (merged
        histograms); per_process (pid, cpu_user_s, cpu_sys_s, cores, frames)."""
        command = "stop" if id_range is None else f"stop {id_range[0]} {id_range[1]}"
        for child in self.children:
            child.tell(command)
        seconds = time.monotonic() - self._started
        reports = await asyncio.gather(*(c.json_line(60) for c in self.children))
        return merge_windows(reports, seconds)

    async def close(self) -> None:
        for child in self.children:
            with contextlib.suppress(OSError, ValueError):
                child.tell("exit")
        await asyncio.gather(*(asyncio.to_thread(child.stop) for child in self.children))

    async def __aenter__(self) -> ViewerGroups:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


# --- command line -------------------------------------------------------------------


def cli() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("url", help="the server, http://HOST:PORT")
    parser.add_argument("count", type=int)
    parser.add_argument("--protocol", choices=PROTOCOLS, default="ws")
    parser.add_argument("--show", default="s1")
    parser.add_argument("--rate", type=float, help="new viewers a second (default: no limit)")
    parser.add_argument("--retry", action="store_true", help="reconnect after a refusal")
    parser.add_argument("--start-at", type=float, help="wall-clock time of the first connect")
    args = parser.parse_args()
    raise_open_files()
    import uvloop

    uvloop.run(run_process(args))


if __name__ == "__main__":
    cli()
