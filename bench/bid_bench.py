"""Bid storm: thousands of bidders tap "next bid" on one live auction, livecart against a
naive peer, in one run.

    python bench/bid_bench.py [--bidders 2000] [--watchers 500] [--nodes 2] [--window 1]

The bench process starts a Redis (the bundled valkey-server, ``appendfsync always``, the
embedded default) that every server of the run shares. Per peer it starts ``--nodes``
server processes on it, then ``--client-procs`` client processes (raw asyncio sockets
with a minimal WebSocket client), which open one socket per bidder and per watching
viewer, spread over the nodes round-robin, and wait for each socket's hello.

Peers (the same bidders, the same load, the same Redis):
- livecart: ``livecart serve`` nodes. The auction is started with
  ``POST /api/shows/{show}/auctions`` (admin key); bids are the hub's ``bid`` message;
  viewers get the show's events, folded per tick (one ``bid`` event per auction per
  frame, the latest).
- naive:    a Starlette app on uvicorn (``bid_bench.py --naive-serve REDIS_URL``, one
  process per node), the way a user would write it with redis-py: a WebSocket endpoint
  takes ``bid``, reads the auction hash under WATCH, checks the amount against the next
  minimum and the end time (Redis TIME), then MULTI: HSET price/leader/next/ends, XADD the
  bid to a stream, PUBLISH it; EXEC, and again on WatchError. Every node subscribes to the
  channel and sends each accepted bid at once to every socket it holds (FastAPI's
  ``ConnectionManager.broadcast``: ``for ws in sockets: await ws.send_text(...)``), no tick.

The auction: extended mode, ``--duration`` s, ``--extend`` s (every bid in the last
``extend`` seconds moves the end to now + extend: with the defaults, every bid), a fixed
increment. Every bidder taps once at a random moment of a ``--window``-second window,
bidding the ``next_bid`` it last saw (from events, its own replies and outbid messages);
after a ``bid_too_low`` it bids again at once with the reply's ``next_bid``, up to
``--attempts`` bids in all. Watchers only watch.

Reported per peer:
- accepted bids/s and bid replies/s: counts over the storm, first tap sent to last reply
  received (wall clock, one machine)
- bid -> reply: p50/p99 of each bid message's round trip, at the bidder
- accept -> viewers: for every accepted bid and every watcher, the arrival of the first
  frame carrying a ``bid`` whose price is >= that bid's price, minus the time the bid was
  accepted (the ms part of its stream id: Redis TIME when the script or EXEC ran). Viewers
  of livecart get folded frames, so a price they never see individually counts as seen
  when a higher one arrives. 1 ms resolution.
- correctness: accepted prices in the stream strictly increasing, one stream entry per
  ``leading`` reply (same bidder, same price), every watcher ending at the final price, and
  the winner (livecart: the ``auction_ended`` event; naive: the hash after the end) is the
  leader of the highest accepted bid, at its price.
- CPU, in cores (utime + stime from /proc/PID/stat) over the window from the first tap
  to the moment every watcher has the final price: the server processes (summed), Redis,
  the client processes (summed); ``others`` is the machine's busy time (/proc/stat) not
  spent by any process of the bench (other people's runs, kernel threads). ``server ms /
  reply`` is the servers' CPU over the window divided by the bid replies.

A bid refused with an ``error`` (livecart's ``store_unavailable`` when a node's Redis
pool stays busy past ``redis.pool_timeout_s``; the naive peer answers the same when its
pool, the same size with the same timeout, does) is counted and not tried again. Before
each storm the bench waits (``--quiet-wait``) for a 2-second spell in which the machine
is less than 0.3 cores busy.

Writes nothing but stdout; bench/RESULTS.md holds runs with the command.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import bisect
import contextlib
import itertools
import json
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
import uvloop

SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
ADMIN_KEY = "bench-admin-key-0123456789"
SHOW = "s1"
SKU = "p-plain"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PEERS = ("livecart", "naive")

# The naive peer's keys (the same Redis as livecart's show; nothing shared with it).
NAIVE_AUCTION = "naive:auction"
NAIVE_BIDS = "naive:bids"
NAIVE_CHANNEL = "naive:events"


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (not its children), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def machine_busy_seconds() -> float:
    """Busy CPU time of the whole machine (all cores), in seconds."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / CLK_TCK


async def wait_for_quiet(cores: float, within: float) -> float:
    """Wait up to ``within`` s for a 2-second spell in which the machine is busy less than
    ``cores`` (other people's test runs share it); the last spell's busy cores."""
    deadline = time.monotonic() + within
    while True:
        before = machine_busy_seconds()
        await asyncio.sleep(2)
        busy = (machine_busy_seconds() - before) / 2
        if busy < cores or time.monotonic() > deadline:
            return busy


def hub_ticks(urls: list[str]) -> list[float]:
    """Each livecart node's current tick for the show (``livecart_hub_tick_ms``)."""
    import httpx

    ticks = []
    for url in urls:
        for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
            if line.startswith(f'livecart_hub_tick_ms{{show="{SHOW}"}} '):
                ticks.append(float(line.split()[-1]))
    return ticks


def raise_open_files() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def percentile(ordered: list[float], p: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")


def listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    sock.set_inheritable(True)
    return sock


# --- the naive peer (run as `bid_bench.py --naive-serve REDIS_URL`) -------------------------


def naive_app(redis_url: str) -> Any:
    """The auction as a user would write it with Starlette and redis-py."""
    from redis.asyncio import BlockingConnectionPool, Redis
    from redis.exceptions import RedisError, WatchError
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    from livecart.auth.tokens import verify_token
    from livecart.errors import LivecartError

    sockets: set[WebSocket] = set()
    state: dict[str, Any] = {}

    def view(a: dict[str, str]) -> dict[str, Any]:
        return {
            "id": a["id"],
            "price": int(a["price"]),
            "next_bid": int(a["next_bid"]),
            "leader": a["leader"] or None,
            "bids": int(a["bids"]),
            "ends_ms": int(a["ends_ms"]),
        }

    async def place_bid(redis: Redis, user: str, amount: int) -> tuple[str, dict[str, Any]]:
        async with redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(NAIVE_AUCTION)
                    a: dict[str, str] = await pipe.hgetall(NAIVE_AUCTION)  # type: ignore[assignment]
                    seconds, micros = await pipe.time()
                    now_ms = seconds * 1000 + micros // 1000
                    if not a or now_ms >= int(a["ends_ms"]):
                        await pipe.reset()  # type: ignore[no-untyped-call]
                        return "auction_ended", view(a) if a else {}
                    if amount < int(a["next_bid"]):
                        await pipe.reset()  # type: ignore[no-untyped-call]
                        return "bid_too_low", view(a)
                    if a["leader"] == user:
                        await pipe.reset()  # type: ignore[no-untyped-call]
                        return "already_leading", view(a)
                    a["price"] = str(amount)
                    a["next_bid"] = str(amount + int(a["step"]))
                    a["leader"] = user
                    a["bids"] = str(int(a["bids"]) + 1)
                    a["ends_ms"] = str(max(int(a["ends_ms"]), now_ms + int(a["extend_ms"])))
                    shown = view(a)
                    event = {"type": "bid", "data": shown | {"auction": a["id"], "at_ms": now_ms}}
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(
                        NAIVE_AUCTION,
                        mapping={
                            k: a[k] for k in ("price", "next_bid", "leader", "bids", "ends_ms")
                        },
                    )
                    pipe.xadd(NAIVE_BIDS, {"price": amount, "leader": user})
                    pipe.publish(NAIVE_CHANNEL, orjson.dumps({"type": "events", "events": [event]}))
                    await pipe.execute()
                    return "leading", shown
                except WatchError:
                    continue

    async def endpoint(ws: WebSocket) -> None:
        user = None
        token = ws.query_params.get("token")
        if token:
            try:
                user = verify_token(SECRET, token).sub
            except LivecartError:
                await ws.close(4401)
                return
        await ws.accept()
        redis: Redis = state["redis"]
        current: dict[str, str] = await redis.hgetall(NAIVE_AUCTION)  # type: ignore[assignment]
        await ws.send_text(
            orjson.dumps({"type": "hello", "auction": view(current) if current else None}).decode()
        )
        sockets.add(ws)
        try:
            while True:
                message = orjson.loads(await ws.receive_text())
                if message.get("type") != "bid" or user is None:
                    await ws.send_text('{"type":"error","code":"invalid"}')
                    continue
                try:
                    result, shown = await place_bid(redis, user, int(message["amount"]))
                except RedisError:  # the pool stayed busy past its timeout, or Redis did
                    error = {"type": "error", "code": "store_unavailable"}
                    await ws.send_text(orjson.dumps(error | {"req": message.get("req")}).decode())
                    continue
                reply = {"type": "bid", "for": "bid", "req": message.get("req"), "result": result}
                await ws.send_text(orjson.dumps(reply | {"auction": shown}).decode())
        except WebSocketDisconnect:
            pass
        finally:
            sockets.discard(ws)

    async def broadcast_forever(redis: Redis) -> None:
        pubsub = redis.pubsub()
        await pubsub.subscribe(NAIVE_CHANNEL)
        async for message in pubsub.listen():
            if message["type"] != "message":
                continue
            text = message["data"]
            for ws in list(sockets):
                try:
                    await ws.send_text(text)
                except (WebSocketDisconnect, RuntimeError, OSError):
                    sockets.discard(ws)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        # Callers wait for a free connection, as livecart's pool does (same size).
        pool = BlockingConnectionPool.from_url(
            redis_url, max_connections=64, timeout=5, decode_responses=True
        )
        redis = Redis(connection_pool=pool)
        state["redis"] = redis
        task = asyncio.create_task(broadcast_forever(redis))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await redis.aclose()

    return Starlette(routes=[WebSocketRoute("/ws/shows/{show}", endpoint)], lifespan=lifespan)


def serve_naive(redis_url: str) -> None:
    import uvicorn

    sock = listening_socket()
    config = uvicorn.Config(
        naive_app(redis_url),
        log_level="warning",
        loop="uvloop",
        http="httptools",
        ws="auto",  # websockets' sans-I/O protocol, uvicorn's default
        ws_ping_interval=None,
        lifespan="on",
        backlog=4096,
    )
    server = uvicorn.Server(config)
    print(f"listening http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    server.run(sockets=[sock])


# --- the clients (run as `bid_bench.py --clients SPEC_JSON`) ---------------------------------


class Socket(asyncio.Protocol):
    """One WebSocket client connection: server frames parsed by hand, text frames handed
    to ``on_text(payload, arrival_s)``, pings answered, masked client frames sent."""

    def __init__(self, request: bytes, owner: Any) -> None:
        self.request = request
        self.owner = owner
        self.upgraded = False
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport is no subclass of asyncio.Transport: no isinstance here.
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

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
                self.owner.failed(data[:200].decode(errors="replace"))
                return
            self.upgraded = True
            pos = end + 4
        now = time.time()
        n = len(data)
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
                try:
                    self.owner.on_text(data[start:end], now)
                except (KeyError, TypeError, ValueError) as exc:  # a message not as expected
                    self.owner.failed(f"{exc!r} in {bytes(data[start:end])[:300]!r}")
            elif opcode == 9:
                self.send(0xA, data[start:end])
            elif opcode == 8:
                self.owner.failed(f"closed by the server: {data[start:end][:100]!r}")
                assert self.transport is not None
                self.transport.close()
                return
            pos = end
        if pos < n:
            self.buf = data[pos:]

    def send(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        mask = os.urandom(4)
        key = (mask * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
        if n < 126:
            head = bytes((0x80 | opcode, 0x80 | n))
        else:
            head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
        assert self.transport is not None
        self.transport.write(head + mask + masked)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        self.owner.lost()


def auction_of(message: dict[str, Any]) -> dict[str, Any] | None:
    """The auction view a hello carries (livecart: snapshot.show.auction)."""
    if "auction" in message:
        found = message["auction"]
        return found if isinstance(found, dict) else None
    show = (message.get("snapshot") or {}).get("show") or {}
    auction = show.get("auction")
    return auction if isinstance(auction, dict) else None


class Client:
    """What a bidder and a watcher share: a socket, the hello, the latest auction state."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.hello: asyncio.Future[None] = loop.create_future()
        self.socket: Socket | None = None
        self.auction: str | None = None
        self.next_bid = 0
        self.errors: list[str] = []
        self.disconnected = False

    def failed(self, why: str) -> None:
        self.errors.append(why)
        if not self.hello.done():
            self.hello.set_exception(RuntimeError(why))

    def lost(self) -> None:
        self.disconnected = True
        if not self.hello.done():
            self.hello.set_exception(ConnectionError("closed before the hello"))

    def on_text(self, payload: bytes, now: float) -> None:
        message = orjson.loads(payload)
        kind = message.get("type")
        if kind == "events":
            self.on_events(message["events"], now)
        elif kind == "hello":
            auction = auction_of(message)
            if auction and auction.get("state", "running") == "running":
                self.auction = auction["id"]
                self.next_bid = max(self.next_bid, auction["next_bid"])
            if not self.hello.done():
                self.hello.set_result(None)
        else:
            self.on_message(kind, message, now)

    def on_events(self, events: list[dict[str, Any]], now: float) -> None:
        for event in events:
            kind, data = event["type"], event["data"]
            if kind == "bid":
                self.auction = data["auction"]
                self.next_bid = max(self.next_bid, data["next_bid"])
            elif kind == "auction_started":
                self.auction = data["auction"]["id"]
                self.next_bid = max(self.next_bid, data["auction"]["next_bid"])

    def on_message(self, kind: str, message: dict[str, Any], now: float) -> None:
        if kind == "outbid":
            self.next_bid = max(self.next_bid, message["next_bid"])


class Watcher(Client):
    """Watches only: the arrival time and the highest bid price of every frame with a bid."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[float, int]] = []  # (arrival s, highest price so far)
        self.top = 0

    def on_events(self, events: list[dict[str, Any]], now: float) -> None:
        super().on_events(events, now)
        prices = [e["data"]["price"] for e in events if e["type"] == "bid"]
        if prices and max(prices) > self.top:
            self.top = max(prices)
            self.seen.append((now, self.top))


class Bidder(Client):
    def __init__(self) -> None:
        super().__init__()
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.req = 0

    def on_message(self, kind: str, message: dict[str, Any], now: float) -> None:
        super().on_message(kind, message, now)
        waiting = self.pending.pop(message.get("req"), None)  # type: ignore[arg-type]
        if waiting is not None and not waiting.done():
            waiting.set_result(message)

    def lost(self) -> None:
        super().lost()
        for waiting in self.pending.values():
            if not waiting.done():
                waiting.set_exception(ConnectionError("socket closed"))
        self.pending.clear()

    async def request(self, body: dict[str, Any], within: float) -> dict[str, Any]:
        if self.disconnected:
            raise ConnectionError("socket closed")
        self.req += 1
        reply: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[self.req] = reply
        assert self.socket is not None
        self.socket.send(0x1, orjson.dumps(body | {"req": self.req}))
        return await asyncio.wait_for(reply, within)


async def run_clients(spec: dict[str, Any]) -> None:
    """Open the sockets of ``spec``, then obey stdin: ``ready``, ``storm``, ``finish``."""
    loop = asyncio.get_running_loop()
    urls: list[str] = spec["urls"]

    def upgrade(url: str, token: str | None) -> bytes:
        host, port = url.removeprefix("http://").split(":")
        query = f"?token={token}" if token else ""
        return (
            f"GET /ws/shows/{SHOW}{query} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n\r\n"
        ).encode()

    from livecart.auth.tokens import issue_token

    bidders = {i: Bidder() for i in spec["bidders"]}
    watchers = {i: Watcher() for i in spec["watchers"]}
    gate = asyncio.Semaphore(100)

    async def connect(index: int, client: Client, token: str | None) -> None:
        url = urls[index % len(urls)]
        host, port = url.removeprefix("http://").split(":")
        async with gate:
            _, protocol = await loop.create_connection(
                lambda: Socket(upgrade(url, token), client), host, int(port)
            )
            client.socket = protocol
            await asyncio.wait_for(client.hello, 60)

    started = time.monotonic()
    await asyncio.gather(
        *(
            connect(i, b, issue_token(SECRET, sub=f"u{i}", role="viewer", ttl_s=7200))
            for i, b in bidders.items()
        ),
        *(connect(i, w, None) for i, w in watchers.items()),
    )
    joined = {"joined": len(bidders) + len(watchers), "seconds": time.monotonic() - started}
    print(json.dumps(joined), flush=True)

    everyone: list[Client] = [*bidders.values(), *watchers.values()]
    me = os.getpid()
    attempts: list[dict[str, Any]] = []
    cpu0 = 0.0

    async def tap(user: str, bidder: Bidder, at: float, tries: int, over: list[int]) -> None:
        await asyncio.sleep(max(0.0, at - time.time()))
        for extra in over[:tries]:
            amount = bidder.next_bid + extra
            sent = time.time()
            t0 = time.perf_counter()
            try:
                reply = await bidder.request(
                    {"type": "bid", "auction": bidder.auction, "amount": amount}, 120
                )
            except TimeoutError:
                attempts.append({"result": "timeout", "sent": sent, "user": user})
                return
            except ConnectionError:
                attempts.append({"result": "closed", "sent": sent, "user": user})
                return
            took = time.perf_counter() - t0
            error = reply["type"] == "error"
            result = f"error:{reply.get('code')}" if error else str(reply["result"])
            record = {"result": result, "amount": amount, "sent": sent, "ms": took * 1000}
            record["user"] = user
            record["done"] = sent + took
            attempts.append(record)
            auction = reply.get("auction") or {}
            if "next_bid" in auction:
                bidder.next_bid = max(bidder.next_bid, auction["next_bid"])
            if result == "bid_too_low":
                continue
            if result == "error:rate_limited":
                await asyncio.sleep(reply.get("retry_after_ms", 100) / 1000)
                continue
            return

    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        command, _, rest = line.partition(" ")
        if command == "ready":
            # Every socket has seen the auction start (and the bidders its next_bid).
            deadline = time.monotonic() + 60
            while any(c.auction is None for c in everyone) and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            missing = sum(c.auction is None for c in everyone)
            print(json.dumps({"ready": missing == 0, "missing": missing}), flush=True)
        elif command == "storm":
            t0, window, tries, seed, overbid, step = (float(x) for x in rest.split())
            rng = random.Random(int(seed) * 100_003 + min(bidders, default=0))
            cpu0 = cpu_seconds(me)
            taps = [
                tap(
                    f"u{i}",
                    b,
                    t0 + rng.random() * window,
                    int(tries),
                    [rng.randint(0, int(overbid)) * int(step) for _ in range(int(tries))],
                )
                for i, b in sorted(bidders.items())
            ]
            await asyncio.gather(*taps)
            print(json.dumps({"done": len(attempts), "cpu_s": cpu_seconds(me) - cpu0}), flush=True)
        elif command == "finish":
            # rest: a JSON file of the accepted bids [[price, accepted_ms], ...]
            accepted = json.loads(await asyncio.to_thread(Path(rest).read_text))
            final = accepted[-1][0] if accepted else 0
            deadline = time.monotonic() + 120
            while any(w.top < final for w in watchers.values()) and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            cpu = cpu_seconds(me) - cpu0
            histogram: Counter[int] = Counter()
            unseen = 0
            for w in watchers.values():
                tops = [top for _, top in w.seen]
                for price, accepted_ms in accepted:
                    at = bisect.bisect_left(tops, price)
                    if at == len(tops):
                        unseen += 1
                        continue
                    histogram[int(w.seen[at][0] * 1000 - accepted_ms)] += 1
            report = {
                "attempts": attempts,
                "histogram": sorted(histogram.items()),
                "unseen": unseen,
                "watchers_final": sum(w.top == final for w in watchers.values()),
                "watchers": len(watchers),
                "frames_with_bids": sum(len(w.seen) for w in watchers.values()),
                "errors": Counter(e for c in everyone for e in c.errors).most_common(5),
                "disconnected": sum(c.disconnected for c in everyone),
                "cpu_s": cpu,
            }
            # The report is large (every latency): write it with the pipe blocking, so a
            # reader that is slow to drain it (a profiler pausing the bench) cuts nothing.
            os.set_blocking(sys.stdout.fileno(), True)
            print(json.dumps(report), flush=True)
        else:
            for c in everyone:
                if c.socket is not None and c.socket.transport is not None:
                    c.socket.transport.abort()
            return


# --- the driver -------------------------------------------------------------------------------


class Child:
    """A helper process of this bench: a naive server or a client process."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.log_path = log
        self.log = log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, __file__, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )

    async def line(self, within: float = 120.0) -> str:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), within)
        if not line:
            code = self.proc.wait()
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"a child of the bench exited with {code}:\n{tail}")
        return line.strip()

    async def json(self, within: float = 120.0) -> Any:
        return json.loads(await self.line(within))

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
        self.log.close()


def node_env(redis_url: str) -> dict[str, str]:
    return {
        "LIVECART_REDIS_URL": redis_url,
        "LIVECART_AUTH_SECRET": SECRET,
        "LIVECART_AUTH_ADMIN_API_KEY": ADMIN_KEY,
        "LIVECART_CHECKOUT_PAYMENT_PROVIDER": "builtin",
        "LIVECART_SERVER_LOG_LEVEL": "warning",
        "LIVECART_HUB_MAX_JOINS_PER_S": "100000",
    }


async def start_servers(peer: str, count: int, redis_url: str, workdir: Path) -> list[Any]:
    """``count`` server processes of ``peer``, each as (pid, url, handle)."""
    from tests.helpers import LivecartProcess

    servers: list[Any] = []
    for n in range(count):
        if peer == "livecart":
            node = LivecartProcess(["serve", "--port", "0"], cwd=workdir, env=node_env(redis_url))
            url = await asyncio.to_thread(node.wait_for_url, 60)
            servers.append((node.proc.pid, url, node))
        else:
            child = Child(["--naive-serve", redis_url], workdir / f"naive-{n}.err")
            url = (await child.line(30)).split()[-1]
            servers.append((child.proc.pid, url, child))
    return servers


def stop_servers(servers: list[Any]) -> None:
    for _, _, handle in servers:
        if isinstance(handle, Child):
            handle.stop()
        else:
            handle.signal(signal.SIGTERM)
    for _, _, handle in servers:
        if not isinstance(handle, Child):
            try:
                handle.wait(20)
            finally:
                handle.kill()


async def start_livecart_auction(url: str, args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    body = {
        "sku": SKU,
        "start_price": args.start_price,
        "increment": args.increment,
        "duration_s": args.duration,
        "mode": "extended",
        "extend_s": args.extend,
    }
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            f"{url}/api/shows/{SHOW}/auctions", json=body, headers={"x-api-key": ADMIN_KEY}
        )
    if response.status_code != 201:
        raise RuntimeError(f"auction start refused: {response.status_code} {response.text}")
    view: dict[str, Any] = response.json()
    inner: dict[str, Any] = view.get("auction", view)
    return inner


async def auction_view(url: str, auction: str) -> dict[str, Any]:
    """``GET /api/shows/{show}/auctions/{auction}`` (admin key), once the end is charged."""
    import httpx

    async with httpx.AsyncClient(timeout=30) as http:
        for _ in range(100):
            response = await http.get(
                f"{url}/api/shows/{SHOW}/auctions/{auction}", headers={"x-api-key": ADMIN_KEY}
            )
            view: dict[str, Any] = response.json()
            view = view.get("auction", view)
            if view.get("payment") not in (None, "charging"):
                break
            await asyncio.sleep(0.2)
    return view


async def start_naive_auction(redis: Any, args: argparse.Namespace) -> dict[str, Any]:
    seconds, micros = await redis.time()
    now_ms = seconds * 1000 + micros // 1000
    auction = {
        "id": "a_naive",
        "start_price": args.start_price,
        "step": args.increment,
        "price": 0,
        "next_bid": args.start_price,
        "leader": "",
        "bids": 0,
        "ends_ms": now_ms + args.duration * 1000,
        "extend_ms": args.extend * 1000,
    }
    await redis.delete(NAIVE_AUCTION, NAIVE_BIDS)
    await redis.hset(NAIVE_AUCTION, mapping=auction)
    shown = {k: auction[k] for k in ("id", "price", "next_bid", "bids", "ends_ms")}
    event = {"type": "auction_started", "data": {"auction": shown | {"leader": None}}}
    await redis.publish(NAIVE_CHANNEL, orjson.dumps({"type": "events", "events": [event]}))
    return auction


async def livecart_outcome(redis: Any, auction: str, ends_ms: int) -> dict[str, Any]:
    """The accepted bids from the show's stream, and the auction's end, once it ended."""
    from livecart.store import keys

    stream = keys.show_events(SHOW)
    deadline = time.monotonic() + max(0, ends_ms / 1000 - time.time()) + 60
    ended: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        entries = await redis.xrange(stream)
        bids, extended = [], 0
        for entry_id, fields in entries:
            data = orjson.loads(fields["data"])
            if data.get("auction") != auction:
                continue
            if fields["type"] == "bid":
                bids.append((int(entry_id.split("-")[0]), data))
            elif fields["type"] == "auction_extended":
                extended += 1
            elif fields["type"] == "auction_ended":
                ended = data
        if ended is not None:
            break
        await asyncio.sleep(0.5)
    return {
        "bids": [(d["price"], d["bidder"], ms) for ms, d in bids],
        "winner": ended and ended.get("winner"),
        "final_price": ended and ended.get("price"),
        "ended": ended is not None,
        "extended_events": extended,
        "bids_counted": ended and ended.get("bids"),
    }


async def naive_outcome(redis: Any) -> dict[str, Any]:
    ends_ms = int(await redis.hget(NAIVE_AUCTION, "ends_ms"))
    await asyncio.sleep(max(0.0, ends_ms / 1000 - time.time()) + 0.5)
    entries = await redis.xrange(NAIVE_BIDS)
    final = await redis.hgetall(NAIVE_AUCTION)
    return {
        "bids": [
            (int(f["price"]), f["leader"], int(entry_id.split("-")[0])) for entry_id, f in entries
        ],
        "winner": final["leader"] or None,
        "final_price": int(final["price"]),
        "ended": True,
        "extended_events": None,
        "bids_counted": int(final["bids"]),
    }


async def one_peer(
    peer: str, args: argparse.Namespace, redis: Any, redis_url: str, redis_pid: int, root: Path
) -> dict[str, Any]:
    servers = await start_servers(peer, args.nodes, redis_url, root)
    urls = [url for _, url, _ in servers]
    clients: list[Child] = []
    try:
        procs = args.client_procs
        for n in range(procs):
            spec = {
                "urls": urls,
                "bidders": list(range(n, args.bidders, procs)),
                "watchers": list(range(args.bidders + n, args.bidders + args.watchers, procs)),
            }
            log = root / f"clients-{peer}-{n}.err"
            clients.append(Child(["--clients", json.dumps(spec)], log))
        joined = [await c.json(300) for c in clients]
        print(f"{peer}: {joined}", file=sys.stderr, flush=True)
        quiet = await wait_for_quiet(0.3, args.quiet_wait)
        print(f"{peer}: machine busy {quiet:.2f} cores before the storm", file=sys.stderr)
        if peer == "livecart":
            view = await start_livecart_auction(urls[0], args)
            auction_id = view["id"]
        else:
            view = await start_naive_auction(redis, args)
            auction_id = view["id"]
        for c in clients:
            c.tell("ready")
        ready = [await c.json(90) for c in clients]
        if not all(r["ready"] for r in ready):
            raise RuntimeError(f"{peer}: not every socket saw the auction start: {ready}")

        pids = {f"server {n}": pid for n, (pid, _, _) in enumerate(servers)}
        pids |= {"redis": redis_pid, "bench": os.getpid()}
        t0 = time.time() + 0.5
        for c in clients:
            c.tell(
                f"storm {t0:.6f} {args.window} {args.attempts} {args.seed} {args.overbid} "
                f"{args.increment}"
            )
        await asyncio.sleep(max(0.0, t0 - time.time()))
        cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
        busy0, wall0 = machine_busy_seconds(), time.time()
        stormed = [await c.json(600) for c in clients]
        if peer == "livecart":
            outcome = await livecart_outcome_now(redis, auction_id)
        else:
            outcome = await naive_outcome_now(redis)
        accepted_file = root / f"accepted-{peer}.json"
        accepted_file.write_text(json.dumps([[p, ms] for p, _, ms in outcome["bids"]]))
        for c in clients:
            c.tell(f"finish {accepted_file}")
        reports = [await c.json(300) for c in clients]
        wall = time.time() - wall0
        ticks = await asyncio.to_thread(hub_ticks, urls) if peer == "livecart" else []
        cpu = {name: (cpu_seconds(pid) - cpu0[name]) / wall for name, pid in pids.items()}
        machine = (machine_busy_seconds() - busy0) / wall

        # The end of the auction (extended: extend_s after the last bid).
        if peer == "livecart":
            ends_ms = max((ms for _, _, ms in outcome["bids"]), default=0) + args.extend * 1000
            final = await livecart_outcome(redis, auction_id, ends_ms)
            final["view"] = await auction_view(urls[0], auction_id)
        else:
            final = await naive_outcome(redis)
    finally:
        for c in clients:
            with contextlib.suppress(Exception):
                c.tell("exit")
            c.stop()
        stop_servers(servers)
    row = summarise(peer, stormed, reports, final, cpu, machine, wall)
    return row | {"ticks": ticks, "busy_before": quiet}


async def livecart_outcome_now(redis: Any, auction: str) -> dict[str, Any]:
    """The accepted bids so far (the storm is over; the auction still runs)."""
    from livecart.store import keys

    bids = []
    for entry_id, fields in await redis.xrange(keys.show_events(SHOW)):
        if fields["type"] == "bid":
            data = orjson.loads(fields["data"])
            if data.get("auction") == auction:
                bids.append((data["price"], data["bidder"], int(entry_id.split("-")[0])))
    return {"bids": bids}


async def naive_outcome_now(redis: Any) -> dict[str, Any]:
    entries = await redis.xrange(NAIVE_BIDS)
    return {
        "bids": [
            (int(f["price"]), f["leader"], int(entry_id.split("-")[0])) for entry_id, f in entries
        ]
    }


def summarise(
    peer: str,
    stormed: list[dict[str, Any]],
    reports: list[dict[str, Any]],
    final: dict[str, Any],
    cpu: dict[str, float],
    machine: float,
    wall: float,
) -> dict[str, Any]:
    attempts = [a for r in reports for a in r["attempts"]]
    results = Counter(a["result"] for a in attempts)
    timed = [a for a in attempts if "ms" in a]
    first = min(a["sent"] for a in attempts)
    last = max(a["done"] for a in timed)
    storm_s = last - first
    latencies = sorted(a["ms"] for a in timed)
    histogram: Counter[int] = Counter()
    for r in reports:
        histogram.update({int(k): v for k, v in r["histogram"]})
    spread = sorted(histogram.items())
    total = sum(histogram.values())

    def hist_percentile(p: float) -> float:
        wanted, seen = p * total, 0
        for ms, count in spread:
            seen += count
            if seen > wanted:
                return ms
        return float("nan")

    bids = final["bids"]
    prices = [p for p, _, _ in bids]
    leading = sorted((a["amount"], a["user"]) for a in attempts if a["result"] == "leading")
    checks = {
        "prices strictly increasing": all(a < b for a, b in itertools.pairwise(prices)),
        "one stream entry per leading reply": sorted((p, u) for p, u, _ in bids) == leading,
        "auction ended": bool(final["ended"]),
        "the stream holds every bid the auction counted": final["bids_counted"] == len(bids),
        "winner is the top bid's leader at its price": bool(bids)
        and final["winner"] == bids[-1][1]
        and final["final_price"] == bids[-1][0],
        "every watcher saw the final price": sum(r["watchers_final"] for r in reports)
        == sum(r["watchers"] for r in reports),
    }
    client_cpu = sum(r["cpu_s"] for r in reports) / wall
    others = machine - client_cpu - sum(cpu.values())
    server_cpu = sum(v for k, v in cpu.items() if k.startswith("server"))
    return {
        "peer": peer,
        "accepted": len(bids),
        "replies": len(timed),
        "results": dict(results),
        "storm_s": storm_s,
        "accepted_per_s": len(bids) / storm_s,
        "replies_per_s": len(timed) / storm_s,
        "ack_p50": percentile(latencies, 0.50),
        "ack_p99": percentile(latencies, 0.99),
        "view_p50": hist_percentile(0.50),
        "view_p99": hist_percentile(0.99),
        "view_samples": total,
        "unseen": sum(r["unseen"] for r in reports),
        "frames_with_bids": sum(r["frames_with_bids"] for r in reports),
        "final_price": final["final_price"],
        "winner": final["winner"],
        "view": {k: final.get("view", {}).get(k) for k in ("state", "winner", "price", "payment")},
        "extended_events": final["extended_events"],
        "checks": checks,
        "cpu": cpu,
        "client_cpu": client_cpu,
        "client_cpu_storm": [s["cpu_s"] for s in stormed],
        "machine": machine,
        "others": others,
        "server_cpu": server_cpu,
        "server_ms_per_reply": server_cpu * wall * 1000 / max(1, len(timed)),
        "redis_cpu": cpu["redis"],
        "wall": wall,
        "errors": [r["errors"] for r in reports],
        "disconnected": sum(r["disconnected"] for r in reports),
    }


def table(rows: list[dict[str, Any]]) -> str:
    """One row per peer, then livecart / naive for every figure, when both ran."""
    columns = [
        ("accepted", "accepted", "{:.0f}"),
        ("replies", "replies", "{:.0f}"),
        ("storm s", "storm_s", "{:.2f}"),
        ("accepted/s", "accepted_per_s", "{:.0f}"),
        ("replies/s", "replies_per_s", "{:.0f}"),
        ("reply p50 ms", "ack_p50", "{:.1f}"),
        ("reply p99 ms", "ack_p99", "{:.1f}"),
        ("to viewers p50 ms", "view_p50", "{:.0f}"),
        ("to viewers p99 ms", "view_p99", "{:.0f}"),
        ("server CPU", "server_cpu", "{:.2f}"),
        ("server ms / reply", "server_ms_per_reply", "{:.2f}"),
        ("Redis CPU", "redis_cpu", "{:.2f}"),
        ("client CPU", "client_cpu", "{:.2f}"),
        ("others", "others", "{:.2f}"),
    ]
    out = [
        "| server         | " + " | ".join(name for name, _, _ in columns) + " |",
        "|----------------|"
        + "|".join("-" * (len(name) + 1) + ":" for name, _, _ in columns)
        + "|",
    ]
    for r in rows:
        cells = [fmt.format(r[key]).rjust(len(name)) for name, key, fmt in columns]
        out.append(f"| {r['peer']:<14} | " + " | ".join(cells) + " |")
    by_peer = {r["peer"]: r for r in rows}
    if "livecart" in by_peer and "naive" in by_peer:
        ours, theirs = by_peer["livecart"], by_peer["naive"]
        cells = [
            (f"{ours[key] / theirs[key]:.2f}" if theirs[key] else "-").rjust(len(name))
            for name, key, _ in columns
        ]
        out.append(f"| {'livecart/naive':<14} | " + " | ".join(cells) + " |")
    return "\n".join(out)


async def main(args: argparse.Namespace) -> None:
    raise_open_files()
    from redis.asyncio import Redis

    from livecart.config import Settings
    from livecart.runtime import running
    from livecart.store.embedded import EmbeddedRedis, bundled_server_binary
    from tests.commerce.conftest import seed_show

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lcbid") as tmp:
        root = Path(args.workdir or tmp)
        embedded = EmbeddedRedis(
            root / "r", binary=bundled_server_binary(), appendfsync=args.appendfsync
        )
        await embedded.start()
        try:
            redis_pid = embedded.pid
            assert redis_pid is not None
            redis = Redis.from_url(embedded.url, decode_responses=True)
            settings = Settings().with_overrides(
                {
                    "redis": {"url": embedded.url},
                    "auth": {"secret": SECRET, "admin_api_key": ADMIN_KEY},
                    "server": {"log_level": "warning"},
                }
            )
            for peer in args.peers.split(","):
                if peer == "livecart":
                    await redis.flushall()
                    async with running(settings) as runtime:
                        await seed_show(runtime)
                row = await one_peer(peer, args, redis, embedded.url, redis_pid, root)
                rows.append(row)
                print(json.dumps(row | {"latencies": None}), file=sys.stderr, flush=True)
            await redis.aclose()
        finally:
            await embedded.stop()

    print(
        f"bid storm: {args.bidders} bidders tapping within {args.window:g} s (at most "
        f"{args.attempts} bids each), {args.watchers} watchers, {args.nodes} server processes "
        f"per peer, {args.client_procs} client processes, {os.cpu_count()} cores; "
        f"auction: extended, {args.duration} s + {args.extend} s, start {args.start_price}, "
        f"increment {args.increment}; overbid 0..{args.overbid} increments; "
        f"appendfsync {args.appendfsync}"
    )
    print()
    print(table(rows))
    print()
    for r in rows:
        failed = [name for name, ok in r["checks"].items() if not ok]
        print(
            f"- {r['peer']}: results {dict(sorted(r['results'].items()))}; final price "
            f"{r['final_price']} to {r['winner']}; checks: "
            + ("all passed" if not failed else "FAILED " + ", ".join(failed))
            + f" ({', '.join(r['checks'])}); {r['view_samples']} accept->viewer samples, "
            f"{r['unseen']} never seen; {r['frames_with_bids']} frames with a higher bid "
            f"reached watchers; server CPU "
            + ", ".join(f"{k} {v:.2f}" for k, v in r["cpu"].items())
            + f"; client processes {r['client_cpu']:.2f} cores over {r['wall']:.1f} s "
            f"(storm part: {', '.join(f'{c:.1f}' for c in r['client_cpu_storm'])} s); "
            f"sockets closed early {r['disconnected']}"
            + (f"; auction_extended events {r['extended_events']}" if r["extended_events"] else "")
            + (f"; hub tick ms per node {r['ticks']}" if r["ticks"] else "")
            + (f"; auction after its end: {r['view']}" if r["peer"] == "livecart" else "")
            + f"; machine busy {r['machine']:.2f} cores over the window,"
            f" {r['busy_before']:.2f} just before it"
        )


def cli() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--bidders", type=int, default=2000)
    parser.add_argument("--watchers", type=int, default=500)
    parser.add_argument("--nodes", type=int, default=2, help="server processes per peer")
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--window", type=float, default=1.0, help="seconds the taps spread over")
    parser.add_argument("--attempts", type=int, default=5, help="bids per bidder at most")
    parser.add_argument("--duration", type=int, default=10, help="auction duration_s")
    parser.add_argument("--extend", type=int, default=10, help="auction extend_s")
    parser.add_argument("--start-price", type=int, default=1000)
    parser.add_argument("--increment", type=int, default=1)
    parser.add_argument(
        "--overbid",
        type=int,
        default=0,
        help="each bid adds 0..N increments (uniform) to the next bid it saw; 0: exactly it",
    )
    parser.add_argument("--appendfsync", default="always", choices=("always", "everysec"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--quiet-wait", type=float, default=300, help="seconds to wait for an idle machine"
    )
    parser.add_argument("--workdir", help="keep the servers' and clients' logs here (short path)")
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("--naive-serve", metavar="REDIS_URL", help=argparse.SUPPRESS)
    parser.add_argument("--clients", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive_serve:
        serve_naive(args.naive_serve)
    elif args.clients:
        raise_open_files()
        uvloop.run(run_clients(json.loads(args.clients)))
    else:
        uvloop.run(main(args))


if __name__ == "__main__":
    cli()
