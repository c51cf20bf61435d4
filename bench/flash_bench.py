"""Flash sale: thousands of buyers tap within a second for a few units, over livecart's
WebSocket, over its HTTP API, and against a naive WATCH/MULTI Starlette shop, in one run.

    python bench/flash_bench.py [--buyers 5000] [--duplicates 500] [--units 100]
                                [--within 1.0] [--peers ws,http,watch-multi]
                                [--clients 4] [--appendfsync always] [--profile DIR]
                                [--records DIR]

One embedded Redis (valkey, ``appendfsync always`` for every peer: livecart's embedded
default, what a user runs), one ``livecart serve`` process (payment provider ``test``;
``LIVECART_HUB_MAX_JOINS_PER_S`` lifted to 1 000 000 so every buyer's socket joins at
once; everything else its defaults, e.g. a Redis pool of 64), and bench/naive_shop.py
(uvicorn + Starlette, a pool of 64, WATCH/MULTI, 10 retries) on the same Redis. Each
peer sells a fresh product row: livecart gets a show per row (``flash-ws``,
``flash-http``, seeded as tests do) whose ``p-plain`` has exactly ``--units`` units; the
naive shop a stock key of its own.

The taps: ``--buyers`` distinct signed-in buyers (viewer tokens, ``sub`` = ``fb{i}``)
each tap once; ``--duplicates`` of them tap a second time with the same idempotency key
(a double tap). The taps are shuffled (seed 16) and released evenly over ``--within``
seconds from one start time shared by ``--clients`` client processes (a buyer's taps
all come from one process). Per peer:

- ws: every buyer holds a WebSocket to the show, signed in, its hello received before
  the sale starts; a tap is one ``buy`` message, a double tap the same message again
  on the same socket. The clients speak RFC 6455 themselves (a few lines of asyncio)
  so 5 000 sockets cost them little.
- http: ``POST /api/shows/{show}/buy``, one keep-alive connection per tap (a phone's
  connection; a double tap's second request goes out on a second connection, as a
  browser does while the first is busy), opened before the sale starts.
- watch-multi: the same over HTTP to ``POST /shows/{show}/buy`` of the naive shop.

A reply ``in_progress`` is sent again after its ``retry_after_ms``, and a
``store_unavailable`` error (HTTP 503: the node's Redis pool was busy past
``redis.pool_timeout_s``) after 0.2 s, at most 5 times, as docs/protocol.md asks (same
key; the tap ends at the final answer; both are counted); a connection the server
closed (keep-alive timeout) is opened again and the request resent (same key), counted
as a reconnect.

Columns (times from the first tap's scheduled moment; latencies from each tap's own
scheduled moment to its final reply, so a late client counts against the server):

- taps / answered: requests tapped / given a final reply
- confirmed, sold out: final results (confirmed counts a double tap's replayed
  order too); orders: the orders Redis holds afterwards; errors: every other answer,
  or none (the kinds are listed in the notes and the JSON)
- dup same: double taps whose two answers agree (same result, same order id);
  replayed: answers marked ``replayed``
- oversold: orders in Redis beyond the units (livecart: the show's order index; the
  naive shop: its order hashes), plus 1 if the stock is below 0 at the end or a stock
  event of the stream showed it below 0; double: buyers with two orders
- sold out ms: when the ``--units``-th confirmation reached its buyer; all ms: when
  the last tap was answered; p50 / p99 / max: tap -> result
- conf/s: confirmations / time from the first tap to the last confirmation
- fsync max ms: the longest fsync Redis made a write wait for during the sale (its
  latency monitor, ``aof-fsync-always``; with appendfsync always every write command
  waits for one, shared by the writes of one event-loop turn)
- srv CPU: the peer's server process (user + system seconds, from the first tap to the
  last answer); redis CPU the same for Redis; client max: the busiest client process's
  CPU share of that time; lag p99: how late the clients sent taps (their own delay)
- idle: the machine's idle share over the sale (near 0: short of CPU, the machine is
  measured); x sooner: watch-multi's sold-out time / this row's

Writes bench/results/flash.md and flash.json. With ``--profile DIR`` it records the
server process of each row with py-spy (``--format raw``: collapsed stacks, one file
per row) during the sale and adds its top frames to the JSON; with ``--records DIR``
it writes every tap (``flash-PEER.jsonl``: scheduled, sent and answered times in
seconds from the start, result, order, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import itertools
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    SECRET,
    Child,
    CpuTimes,
    MachineIdle,
    bench_settings,
    command_line,
    cpu_times,
    markdown_table,
    percentile,
    raise_open_files,
    start_livecart,
    start_redis,
    stop_livecart,
    write_results,
)

SKU = "p-plain"
THIS_FILE = str(Path(__file__).resolve())
PEERS = ("ws", "http", "watch-multi")
SEED = 16
LEAD_S = 0.5  # from "go" to the first tap: every client has the start time by then
ANSWER_WITHIN_S = 60.0  # after the last tap; a tap unanswered by then is "no_answer"
LATENCY_THRESHOLD_MS = 5
PROFILE_AFTER_S = 8.0  # py-spy records the taps' second and this long after it
OPEN_AT_ONCE = 100  # handshakes in flight per client process (the listen backlog)
BUSY_RETRIES = 5  # store_unavailable / 503 is tapped again (same key) at most this often
BUSY_BACKOFF_S = 0.2
RESEND_LIMIT = 3  # a request whose connection the server closed is sent again this often


# --- the taps -----------------------------------------------------------------------


@dataclass(frozen=True)
class Tap:
    buyer: int
    slot: int  # its place in the release order: tapped at slot * within / taps
    double: bool  # the second tap of a buyer (same idempotency key)


def plan_taps(buyers: int, duplicates: int, seed: int = SEED) -> list[Tap]:
    """Every buyer once, ``duplicates`` of them twice, shuffled; a buyer's later tap
    is its double."""
    rng = random.Random(seed)
    order = list(range(buyers)) + rng.sample(range(buyers), duplicates)
    rng.shuffle(order)
    seen: set[int] = set()
    taps = []
    for slot, buyer in enumerate(order):
        taps.append(Tap(buyer, slot, buyer in seen))
        seen.add(buyer)
    return taps


# --- client side: one process's buyers ------------------------------------------------


class HubSocket(asyncio.Protocol):
    """One buyer's WebSocket to the hub: the upgrade, masked text frames out, frames in;
    ``order`` and ``error`` replies resolve the request with their ``req``. Frames of
    show events are counted, not decoded."""

    def __init__(self, request: bytes) -> None:
        self._request = request
        self._buffer = bytearray()
        self._fragments = bytearray()
        self._upgraded = False
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.hello: asyncio.Future[dict[str, Any]] = loop.create_future()
        self.replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.event_frames = 0
        self.close_code: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; they have its methods.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        gone = ConnectionError(f"socket closed (code {self.close_code})")
        if not self.hello.done():
            self.hello.set_exception(gone)
        for future in self.replies.values():
            if not future.done():
                future.set_exception(gone)
        self.replies.clear()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._upgraded:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self._buffer[: self._buffer.find(b"\r\n")])
            if b" 101 " not in status:
                self.hello.set_exception(ConnectionError(status.decode(errors="replace")))
                assert self.transport is not None
                self.transport.close()
                return
            del self._buffer[: end + 4]
            self._upgraded = True
        self._read_frames()

    def _read_frames(self) -> None:
        buffer = self._buffer
        while len(buffer) >= 2:
            opcode, length, at = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, at = int.from_bytes(buffer[2:4], "big"), 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, at = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < at + length:
                return
            payload = bytes(buffer[at : at + length])
            final = buffer[0] & 0x80
            del buffer[: at + length]
            if opcode in (0x1, 0x0):
                if not final:
                    self._fragments += payload
                    continue
                if self._fragments:
                    payload, self._fragments = bytes(self._fragments) + payload, bytearray()
                self._message(payload)
            elif opcode == 0x8:
                self.close_code = int.from_bytes(payload[:2], "big") if payload else 1005
            elif opcode == 0x9:
                self._send(0xA, payload)

    def _message(self, payload: bytes) -> None:
        if payload.startswith((b'{"type":"events"', b'{"type":"state"')):
            self.event_frames += 1
            return
        message: dict[str, Any] = orjson.loads(payload)
        kind = message.get("type")
        if kind == "hello":
            if not self.hello.done():
                self.hello.set_result(message)
        elif kind in ("order", "error"):
            future = self.replies.pop(str(message.get("req")), None)
            if future is not None and not future.done():
                future.set_result(message)
        elif kind == "events":
            self.event_frames += 1

    def _send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            head = bytes([0x80 | opcode, 0x80 | length])
        elif length < 65536:
            head = bytes([0x80 | opcode, 0x80 | 126]) + length.to_bytes(2, "big")
        else:
            head = bytes([0x80 | opcode, 0x80 | 127]) + length.to_bytes(8, "big")
        repeated = (mask * (length // 4 + 1))[:length]
        masked = (int.from_bytes(payload, "little") ^ int.from_bytes(repeated, "little")).to_bytes(
            length, "little"
        )
        assert self.transport is not None
        self.transport.write(head + mask + masked)

    def request(self, message: dict[str, Any]) -> asyncio.Future[dict[str, Any]]:
        """Send ``message`` (with its ``req``); the future is its reply."""
        if self.transport is None or self.transport.is_closing():
            raise ConnectionError("socket closed")
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.replies[str(message["req"])] = future
        self._send(0x1, orjson.dumps(message))
        return future

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self._send(0x8, (1000).to_bytes(2, "big"))
            self.transport.close()


async def open_hub_socket(url: str, show: str, token: str) -> HubSocket:
    parts = urlsplit(url)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /ws/shows/{show}?token={token} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    _, hub_socket = await loop.create_connection(
        lambda: HubSocket(request), parts.hostname or "127.0.0.1", parts.port or 80
    )
    await asyncio.wait_for(asyncio.shield(hub_socket.hello), 60)
    return hub_socket


@dataclass
class TapRecord:
    """One tap as its buyer saw it; times in seconds from the sale's start."""

    buyer: int
    double: bool
    scheduled: float
    sent: float = float("nan")
    answered: float | None = None
    result: str = "no_answer"
    order: str | None = None
    replayed: bool = False
    status: int | None = None
    in_progress: int = 0  # in_progress replies before the final one
    unavailable: int = 0  # store_unavailable (503) replies before the final one
    reconnects: int = 0

    def row(self) -> list[Any]:
        return [
            self.buyer,
            self.double,
            self.scheduled,
            self.sent,
            self.answered,
            self.result,
            self.order,
            self.replayed,
            self.status,
            self.in_progress,
            self.unavailable,
            self.reconnects,
        ]


FIELDS = [
    "buyer",
    "double",
    "scheduled",
    "sent",
    "answered",
    "result",
    "order",
    "replayed",
    "status",
    "in_progress",
    "unavailable",
    "reconnects",
]


def outcome_of(record: TapRecord, reply: dict[str, Any]) -> str:
    """Fill ``record`` from a final reply; returns its result."""
    if reply.get("type") == "error" or "error" in reply:
        record.result = f"error:{reply.get('code') or reply.get('error')}"
        return record.result
    record.result = str(reply.get("result"))
    record.replayed = bool(reply.get("replayed"))
    order = reply.get("order")
    record.order = order.get("id") if isinstance(order, dict) else None
    return record.result


class ClientGroup:
    """The buyers of one client process, their connections, and their taps."""

    def __init__(self, command: dict[str, Any]) -> None:
        from livecart.auth.tokens import issue_token

        self.peer: str = command["peer"]
        self.url: str = command["url"]
        self.show: str = command["show"]
        self.slot_s: float = command["slot_s"]
        self.taps = [Tap(b, s, d) for b, s, d in command["taps"]]
        buyers = sorted({tap.buyer for tap in self.taps})
        self.tokens = {
            b: issue_token(SECRET, sub=f"fb{b}", role="viewer", ttl_s=7200) for b in buyers
        }
        self.sockets: dict[int, HubSocket] = {}
        self.connections: dict[int, Any] = {}  # slot -> RawConnection
        self._reqs = itertools.count(1)

    def body(self, tap: Tap) -> dict[str, Any]:
        return {"sku": SKU, "quantity": 1, "idempotency_key": f"{self.peer}-{tap.buyer}"}

    async def prepare(self) -> dict[str, Any]:
        from tests.helpers import RawConnection

        gate = asyncio.Semaphore(OPEN_AT_ONCE)
        failures: collections.Counter[str] = collections.Counter()
        started = time.monotonic()

        async def socket_for(buyer: int) -> None:
            async with gate:
                try:
                    self.sockets[buyer] = await open_hub_socket(
                        self.url, self.show, self.tokens[buyer]
                    )
                except (OSError, TimeoutError) as exc:
                    failures[str(exc)[:80]] += 1

        async def connection_for(slot: int) -> None:
            async with gate:
                try:
                    self.connections[slot] = await RawConnection.open(self.url)
                except OSError as exc:
                    failures[str(exc)[:80]] += 1

        if self.peer == "ws":
            await asyncio.gather(*(socket_for(b) for b in self.tokens))
        else:
            await asyncio.gather(*(connection_for(t.slot) for t in self.taps))
        return {
            "ready": len(self.sockets) + len(self.connections),
            "open_s": time.monotonic() - started,
            "failures": dict(failures),
        }

    async def sale(self, start: float) -> dict[str, Any]:
        """Every tap at its moment (``start`` is a CLOCK_MONOTONIC time, the same in every
        process); returns the records and this process's CPU over the sale."""
        last_slot = max(t.slot for t in self.taps)
        deadline = start + self.slot_s * (last_slot + 1) + ANSWER_WITHIN_S
        tap_one = self._ws_tap if self.peer == "ws" else self._http_tap
        records = [TapRecord(tap.buyer, tap.double, tap.slot * self.slot_s) for tap in self.taps]
        # Every tap's task waits for its moment from now, so none is made at the start.
        pairs = zip(self.taps, records, strict=True)
        tasks = [asyncio.create_task(tap_one(t, r, start, deadline)) for t, r in pairs]
        await asyncio.sleep(max(0.0, start - time.monotonic()))
        before = resource.getrusage(resource.RUSAGE_SELF)
        await asyncio.gather(*tasks)
        after = resource.getrusage(resource.RUSAGE_SELF)
        last = max((r.answered for r in records if r.answered is not None), default=0.0)
        return {
            "taps": [r.row() for r in records],
            "cpu": [after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime],
            "wall": last,
            "event_frames": sum(s.event_frames for s in self.sockets.values()),
        }

    async def _ws_tap(self, tap: Tap, record: TapRecord, start: float, deadline: float) -> None:
        await asyncio.sleep(max(0.0, start + record.scheduled - time.monotonic()))
        record.sent = time.monotonic() - start
        hub_socket = self.sockets.get(tap.buyer)
        if hub_socket is None:
            record.result = "not_connected"
            return
        while True:
            req = f"t{next(self._reqs)}"
            try:
                reply = await asyncio.wait_for(
                    hub_socket.request({"type": "buy", "req": req, **self.body(tap)}),
                    max(0.001, deadline - time.monotonic()),
                )
            except TimeoutError:
                return
            except ConnectionError:
                record.result = "closed"
                return
            if reply.get("result") == "in_progress":
                record.in_progress += 1
                await asyncio.sleep(reply.get("retry_after_ms", 500) / 1000)
                continue
            if reply.get("code") == "store_unavailable" and record.unavailable < BUSY_RETRIES:
                record.unavailable += 1
                await asyncio.sleep(BUSY_BACKOFF_S)
                continue
            record.answered = time.monotonic() - start
            outcome_of(record, reply)
            return

    async def _http_tap(self, tap: Tap, record: TapRecord, start: float, deadline: float) -> None:
        from tests.helpers import RawConnection

        path = f"/api/shows/{self.show}/buy" if self.peer == "http" else f"/shows/{self.show}/buy"
        headers = {"Authorization": f"Bearer {self.tokens[tap.buyer]}"}
        await asyncio.sleep(max(0.0, start + record.scheduled - time.monotonic()))
        record.sent = time.monotonic() - start
        connection = self.connections.get(tap.slot)
        if connection is None:
            record.result = "not_connected"
            return
        while True:
            try:
                status, reply = await asyncio.wait_for(
                    connection.request("POST", path, json=self.body(tap), headers=headers),
                    max(0.001, deadline - time.monotonic()),
                )
            except TimeoutError:
                return
            except (OSError, IndexError, asyncio.IncompleteReadError):
                # The server closed the idle connection (keep-alive timeout): a phone
                # opens another and sends again, with the same key.
                if record.reconnects >= RESEND_LIMIT:
                    record.result = "closed"
                    return
                record.reconnects += 1
                await connection.close()
                connection = self.connections[tap.slot] = await RawConnection.open(self.url)
                continue
            if status == 202:
                record.in_progress += 1
                await asyncio.sleep(reply.get("retry_after_ms", 500) / 1000)
                continue
            if status == 503 and record.unavailable < BUSY_RETRIES:
                record.unavailable += 1
                await asyncio.sleep(BUSY_BACKOFF_S)
                continue
            record.answered = time.monotonic() - start
            record.status = status
            outcome_of(record, reply if isinstance(reply, dict) else {"error": status})
            return

    async def close(self) -> None:
        for hub_socket in self.sockets.values():
            hub_socket.close()
        await asyncio.gather(*(c.close() for c in self.connections.values()))
        self.sockets.clear()
        self.connections.clear()


async def client_main() -> None:
    """A client process: JSON commands on stdin (prepare, go, close), one JSON line of
    answer each on stdout."""
    raise_open_files()
    group: ClientGroup | None = None
    while line := await asyncio.to_thread(sys.stdin.readline):
        command = json.loads(line)
        if command["cmd"] == "prepare":
            group = ClientGroup(command)
            answer = await group.prepare()
        elif command["cmd"] == "go":
            assert group is not None
            answer = await group.sale(command["start"])
        else:
            if group is not None:
                await group.close()
            group, answer = None, {"closed": True}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


# --- the sale, seen from outside ------------------------------------------------------


@dataclass
class Peer:
    name: str
    url: str
    show: str
    pid: int


async def seed(redis_url: str, peers: Sequence[str], units: int) -> None:
    """A show per livecart row with exactly ``units`` of SKU; the naive shop's stock."""
    from bench.naive_shop import stock_key
    from livecart.app import NODE_WORKERS
    from livecart.commerce.shows.control import adjust_stock
    from livecart.runtime import running
    from tests.commerce.conftest import PRODUCTS, seed_show

    async with running(bench_settings(redis_url), workers=NODE_WORKERS) as runtime:
        for peer in peers:
            if peer == "watch-multi":
                await runtime.redis.set(stock_key(show_of(peer)), units)
            else:
                await seed_show(runtime, show_of(peer))
                await adjust_stock(runtime, show_of(peer), SKU, units - PRODUCTS[SKU][1])


def show_of(peer: str) -> str:
    return f"flash-{peer}"


async def check_store(redis_url: str, peer: str, units: int) -> dict[str, Any]:
    """What Redis holds after the sale: orders, the buyers with more than one, stock."""
    from redis.asyncio import Redis

    from bench.naive_shop import stock_key
    from livecart.store import keys

    show = show_of(peer)
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        if peer == "watch-multi":
            order_keys = [k async for k in redis.scan_iter(f"naive:{{{show}}}:order:*", count=1000)]
            buyers = [await redis.hget(k, "buyer") for k in order_keys]
            stock = int(await redis.get(stock_key(show)) or 0)
            lowest = stock
            adds_up = True
        else:
            order_ids = await redis.zrange(keys.show_orders(show), 0, -1)
            raws = [await redis.get(keys.show_order(show, str(o))) for o in order_ids]
            buyers = [orjson.loads(raw)["buyer"] for raw in raws if raw]
            values = [
                int(await redis.hget(key(show), SKU) or 0)
                for key in (keys.show_stock, keys.show_held, keys.show_sold, keys.show_allocated)
            ]
            stock, held, sold, allocated = values
            adds_up = stock + held + sold == allocated
            entries = cast(
                list[tuple[str, dict[str, str]]], await redis.xrange(keys.show_events(show))
            )
            stock_events = [
                orjson.loads(fields["data"]).get("stock")
                for _, fields in entries
                if fields.get("type") == "stock"
            ]
            lowest = min([stock, *(s for s in stock_events if isinstance(s, int))])
    finally:
        await redis.aclose()
    per_buyer = collections.Counter(buyers)
    return {
        "orders": len(buyers),
        "oversold": max(0, len(buyers) - units) + (1 if lowest < 0 else 0),
        "double_orders": sum(1 for n in per_buyer.values() if n > 1),
        "stock_left": stock,
        "lowest_stock": lowest,
        "units_add_up": adds_up,
    }


def summarise(
    peer: str, units: int, records: list[dict[str, Any]], clients: list[dict[str, Any]]
) -> dict[str, Any]:
    """The row's figures from every tap's record."""
    answered = [r for r in records if r["answered"] is not None]
    results = collections.Counter(r["result"] for r in records)
    latencies = sorted(r["answered"] - r["scheduled"] for r in answered)
    confirmations = sorted(
        r["answered"] for r in answered if r["result"] == "confirmed" and not r["replayed"]
    )
    lags = sorted(r["sent"] - r["scheduled"] for r in records if r["sent"] == r["sent"])
    by_buyer: dict[int, list[dict[str, Any]]] = collections.defaultdict(list)
    for r in records:
        by_buyer[r["buyer"]].append(r)
    doubles = [taps for taps in by_buyer.values() if len(taps) > 1]
    same = sum(
        1
        for taps in doubles
        if len({(t["result"], t["order"]) for t in taps}) == 1 and taps[0]["answered"] is not None
    )
    sold_out_s = confirmations[units - 1] if len(confirmations) >= units else None
    last_confirmation = confirmations[-1] if confirmations else None
    errors = {k: v for k, v in results.items() if k not in ("confirmed", "sold_out")}
    return {
        "peer": peer,
        "taps": len(records),
        "answered": len(answered),
        "confirmed": results["confirmed"],
        "sold_out": results["sold_out"],
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "doubles": len(doubles),
        "dup_same": same,
        "replayed": sum(1 for r in answered if r["replayed"]),
        "in_progress_replies": sum(r["in_progress"] for r in records),
        "unavailable_replies": sum(r["unavailable"] for r in records),
        "reconnects": sum(r["reconnects"] for r in records),
        "first_answer_ms": min(r["answered"] for r in answered) * 1000 if answered else None,
        "first_confirmation_ms": confirmations[0] * 1000 if confirmations else None,
        "winners_tapped_by_ms": max(
            (
                r["scheduled"] * 1000
                for r in answered
                if r["result"] == "confirmed" and not r["replayed"]
            ),
            default=None,
        ),
        "sold_out_ms": None if sold_out_s is None else sold_out_s * 1000,
        "all_answered_ms": max(r["answered"] for r in answered) * 1000 if answered else None,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": latencies[-1] * 1000 if latencies else None,
        "confirmed_p99_ms": percentile(
            sorted(r["answered"] - r["scheduled"] for r in answered if r["result"] == "confirmed"),
            0.99,
        )
        * 1000,
        "conf_per_s": len(confirmations) / last_confirmation if last_confirmation else None,
        "first_tenth_p50_ms": tenth_p50_ms(records, first=True),
        "last_tenth_p50_ms": tenth_p50_ms(records, first=False),
        "lag_p99_ms": percentile(lags, 0.99) * 1000,
        "lag_max_ms": lags[-1] * 1000 if lags else None,
        "event_frames": sum(c.get("event_frames", 0) for c in clients),
    }


async def redis_latency(
    redis_url: str, *, reset: bool = False
) -> tuple[dict[str, int], dict[str, int]]:
    """Redis' own latency monitor (threshold 5 ms): the worst of each kind of stall since
    the last reset, in ms (``aof-fsync-always`` is the fsync every write waits for); and
    the commands it ran since then, by name (its commandstats)."""
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        if reset:
            await redis.config_set("latency-monitor-threshold", LATENCY_THRESHOLD_MS)
            await redis.execute_command("LATENCY", "RESET")  # type: ignore[no-untyped-call]
            await redis.config_resetstat()
            return {}, {}
        latest = await redis.execute_command("LATENCY", "LATEST")  # type: ignore[no-untyped-call]
        stats = await redis.info("commandstats")
        calls = {
            name.removeprefix("cmdstat_"): int(value["calls"])
            for name, value in stats.items()
            if isinstance(value, dict)
        }
        return {str(entry[0]): int(entry[3]) for entry in latest}, calls
    finally:
        await redis.aclose()


def tenth_p50_ms(records: list[dict[str, Any]], *, first: bool) -> float:
    """Median tap -> result of the first (or last) tenth of the taps in tap order: equal
    when the server answers in arrival order, the first far above when early taps are
    passed over."""
    ordered = sorted(records, key=lambda r: r["scheduled"])
    tenth = max(1, len(ordered) // 10)
    chosen = ordered[:tenth] if first else ordered[-tenth:]
    latencies = sorted(r["answered"] - r["scheduled"] for r in chosen if r["answered"] is not None)
    return percentile(latencies, 0.5) * 1000


class Profiler:
    """py-spy on the server process during the sale (raw collapsed stacks)."""

    def __init__(self, directory: Path | None, peer: str, pid: int, seconds: float) -> None:
        self.path = None if directory is None else directory / f"flash-{peer}.txt"
        self.proc: subprocess.Popen[bytes] | None = None
        if self.path is not None:
            directory.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
            self.proc = subprocess.Popen(
                ["py-spy", "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
                 "--rate", "200", "--format", "raw", "--nonblocking", "-o", str(self.path)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )  # fmt: skip

    def top(self, count: int = 15) -> dict[str, Any] | None:
        if self.proc is None or self.path is None:
            return None
        self.proc.wait(60)
        if not self.path.exists():
            return {"error": (self.proc.stderr.read() if self.proc.stderr else b"").decode()[:400]}
        own: collections.Counter[str] = collections.Counter()
        inclusive: collections.Counter[str] = collections.Counter()
        total = 0
        for line in self.path.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            samples = int(n)
            frames = stack.split(";")
            total += samples
            own[frames[-1]] += samples
            for frame in set(frames):
                inclusive[frame] += samples
        return {
            "file": str(self.path),
            "samples": total,
            "self": [(f, round(100 * n / total, 1)) for f, n in own.most_common(count)],
            "inclusive": [(f, round(100 * n / total, 1)) for f, n in inclusive.most_common(count)],
        }


async def run_row(
    peer: Peer,
    clients: list[Child],
    taps: list[Tap],
    args: argparse.Namespace,
    redis_pid: int,
) -> dict[str, Any]:
    slot_s = args.within / len(taps)
    mine: list[list[list[Any]]] = [[] for _ in clients]
    for tap in taps:
        mine[tap.buyer % len(clients)].append([tap.buyer, tap.slot, tap.double])
    for client, client_taps in zip(clients, mine, strict=True):
        client.tell(
            json.dumps(
                {
                    "cmd": "prepare",
                    "peer": peer.name,
                    "url": peer.url,
                    "show": peer.show,
                    "slot_s": slot_s,
                    "taps": client_taps,
                }
            )
        )
    ready = [await c.json_line(300) for c in clients]
    start = time.monotonic() + LEAD_S
    print(f"{peer.name}: first tap at CLOCK_MONOTONIC {start:.3f}", file=sys.stderr)
    for client in clients:
        client.tell(json.dumps({"cmd": "go", "start": start}))
    await redis_latency(args.redis_url, reset=True)
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    idle = MachineIdle()
    server_before, redis_before = cpu_times(peer.pid), cpu_times(redis_pid)
    profiler = Profiler(args.profile, peer.name, peer.pid, args.within + PROFILE_AFTER_S)
    answers = [await c.json_line(ANSWER_WITHIN_S + args.within + 60) for c in clients]
    server_cpu: CpuTimes = cpu_times(peer.pid) - server_before
    redis_cpu: CpuTimes = cpu_times(redis_pid) - redis_before
    idle.stop()
    latency, commands = await redis_latency(args.redis_url)
    for client in clients:
        client.tell(json.dumps({"cmd": "close"}))
    for client in clients:
        await client.json_line(60)

    records = [dict(zip(FIELDS, row, strict=True)) for answer in answers for row in answer["taps"]]
    if args.records is not None:
        args.records.mkdir(parents=True, exist_ok=True)
        with (args.records / f"flash-{peer.name}.jsonl").open("w") as out:
            for record in sorted(records, key=lambda r: r["scheduled"]):
                out.write(json.dumps(record) + "\n")
    row = summarise(peer.name, args.units, records, answers)
    wall = max(a["wall"] for a in answers) or float("nan")
    row |= await check_store(args.redis_url, peer.name, args.units)
    row |= {
        "server_user_s": server_cpu.user,
        "server_system_s": server_cpu.system,
        "server_cpu_s": server_cpu.total,
        "redis_cpu_s": redis_cpu.total,
        "client_cpu_s": [round(a["cpu"][0] + a["cpu"][1], 3) for a in answers],
        "client_max_share": max(a["cpu"][0] + a["cpu"][1] for a in answers) / wall,
        "idle": idle.idle,
        "redis_fsync_max_ms": latency.get("aof-fsync-always"),
        "redis_latency_max_ms": latency,
        "redis_commands": dict(sorted(commands.items(), key=lambda kv: -kv[1])),
        "redis_commands_per_tap": sum(commands.values()) / len(records),
        "open_s": max(r["open_s"] for r in ready),
        "open_failures": {k: v for r in ready for k, v in r["failures"].items()},
        "profile": profiler.top(),
    }
    return row


COLUMNS = [
    ("peer", "peer"),
    ("taps", "taps"),
    ("answered", "answered"),
    ("confirmed", "confirmed"),
    ("orders", "orders"),
    ("sold out", "sold_out"),
    ("errors", "errors"),
    ("dup same", "dup_same"),
    ("replayed", "replayed"),
    ("oversold", "oversold"),
    ("double", "double_orders"),
    ("sold out ms", "sold_out_ms"),
    ("all ms", "all_answered_ms"),
    ("p50 ms", "p50_ms"),
    ("p99 ms", "p99_ms"),
    ("max ms", "max_ms"),
    ("conf/s", "conf_per_s"),
    ("srv CPU s", "server_cpu_s"),
    ("redis CPU s", "redis_cpu_s"),
    ("fsync max ms", "redis_fsync_max_ms"),
    ("client max", "client_max_share"),
    ("lag p99 ms", "lag_p99_ms"),
    ("idle", "idle"),
    ("x sooner", "x_sooner"),
]


def reading(rows: list[dict[str, Any]], args: argparse.Namespace) -> list[str]:
    """Facts of this run, for the notes under the table."""
    notes = [
        f"{args.buyers} buyers + {args.duplicates} double taps over {args.within:g} s for "
        f"{args.units} units; appendfsync {args.appendfsync} for every peer; livecart with "
        "LIVECART_HUB_MAX_JOINS_PER_S=1000000, the rest its defaults; "
        f"{args.clients} client processes.",
    ]
    for row in rows:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(row["error_kinds"].items())) or "none"
        notes.append(
            f"{row['peer']}: first answer at {fmt(row['first_answer_ms'])} ms, first "
            f"confirmation at {fmt(row['first_confirmation_ms'])} ms (the units went to taps "
            f"made by {fmt(row['winners_tapped_by_ms'])} ms), "
            f"the {args.units}th at {fmt(row['sold_out_ms'])} ms, every tap answered by "
            f"{fmt(row['all_answered_ms'])} ms (p99 {fmt(row['p99_ms'])} ms, confirmed taps' "
            f"p99 {fmt(row['confirmed_p99_ms'])} ms); errors: {kinds}; "
            f"{row['in_progress_replies']} in_progress and {row['unavailable_replies']} "
            f"store_unavailable replies resent, {row['reconnects']} "
            f"reconnects; {row['orders']} orders stored, lowest stock {row['lowest_stock']}; "
            f"server CPU {row['server_user_s']:.2f} s user + {row['server_system_s']:.2f} s "
            f"system ({1000 * row['server_cpu_s'] / row['taps']:.2f} ms a tap); clients' CPU "
            f"{row['client_cpu_s']} s; the first tenth of the taps waited "
            f"{fmt(row['first_tenth_p50_ms'])} ms (median), the last tenth "
            f"{fmt(row['last_tenth_p50_ms'])} ms; {row['event_frames']} event frames reached "
            f"the buyers; sockets opened in {row['open_s']:.1f} s; Redis ran "
            f"{row['redis_commands_per_tap']:.1f} commands a tap, those its scripts ran "
            f"included ({top_commands(row)})."
        )
    busiest = min((row["idle"] for row in rows), default=1.0)
    if busiest < 0.1:
        notes.append(
            f"The machine was {100 * (1 - busiest):.0f}% busy during a sale (idle column): "
            "with 2 cores, the servers, Redis and the clients shared them with whatever else "
            "ran; wall-clock figures are the machine's, the CPU seconds are the servers'."
        )
    return notes


def top_commands(row: dict[str, Any], count: int = 5) -> str:
    taps = row["taps"]
    commands = list(row["redis_commands"].items())[:count]
    return ", ".join(f"{name} {calls / taps:.2f}" for name, calls in commands)


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


async def main(args: argparse.Namespace) -> None:
    from bench.naive_shop import __file__ as naive_shop

    raise_open_files()
    peers = [p for p in args.peers.split(",") if p]
    unknown = set(peers) - set(PEERS)
    if unknown:
        raise SystemExit(f"unknown peers {sorted(unknown)}; choose from {PEERS}")
    taps = plan_taps(args.buyers, args.duplicates)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lcf") as tmp:
        workdir = Path(tmp)
        redis = await start_redis(workdir / "redis", appendfsync=args.appendfsync)
        node = naive = None
        clients: list[Child] = []
        try:
            args.redis_url = redis.url
            await seed(redis.url, peers, args.units)
            node = await start_livecart(redis.url, workdir, LIVECART_HUB_MAX_JOINS_PER_S="1000000")
            naive = Child([sys.executable, naive_shop, "--redis", redis.url])
            naive_url = await naive.line(30)
            clients = [Child([sys.executable, THIS_FILE, "--client"]) for _ in range(args.clients)]
            for name in peers:
                url, pid = (
                    (naive_url, naive.pid) if name == "watch-multi" else (node.url, node.proc.pid)
                )
                print(f"{name}: sale on {url} (server pid {pid})", file=sys.stderr)
                row = await run_row(Peer(name, url, show_of(name), pid), clients, taps, args,
                                    redis.pid)  # fmt: skip
                rows.append(row)
                print(json.dumps({k: v for k, v in row.items() if k != "profile"}),
                      file=sys.stderr)  # fmt: skip
                await asyncio.sleep(2.0)  # the last sockets' goodbyes, off the next row
        finally:
            for client in clients:
                client.stop()
            if naive is not None:
                naive.stop()
            if node is not None:
                stop_livecart(node)
            await redis.stop()

    baseline = next((r["sold_out_ms"] for r in rows if r["peer"] == "watch-multi"), None)
    for row in rows:
        row["x_sooner"] = baseline / row["sold_out_ms"] if baseline and row["sold_out_ms"] else None
    write_results(
        "flash",
        title="Flash sale: buyers tapping within a second for a few units",
        command=command_line(),
        table=markdown_table(COLUMNS, rows),
        rows=rows,
        notes=reading(rows, args),
        settings={
            "buyers": args.buyers,
            "duplicates": args.duplicates,
            "units": args.units,
            "within_s": args.within,
            "clients": args.clients,
            "appendfsync": args.appendfsync,
            "livecart_env": {"LIVECART_HUB_MAX_JOINS_PER_S": "1000000"},
            "naive_shop": {"pool": 64, "retries": 10},
        },
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--buyers", type=int, default=5000)
    parser.add_argument("--duplicates", type=int, default=500)
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--within", type=float, default=1.0, help="seconds the taps span")
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument(
        "--appendfsync",
        default="always",
        choices=("always", "everysec"),
        help="Redis' AOF policy (always: livecart's embedded default; everysec to see "
        "what the fsyncs cost)",
    )
    parser.add_argument("--profile", type=Path, help="py-spy each row's server into DIR")
    parser.add_argument("--records", type=Path, help="write every tap's record into DIR")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.duplicates > args.buyers:
        parser.error("--duplicates is at most --buyers")
    return args


if __name__ == "__main__":
    import uvloop

    arguments = parse_args()
    uvloop.run(client_main() if arguments.client else main(arguments))
