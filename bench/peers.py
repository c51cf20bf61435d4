"""The servers a user might choose instead of livecart's hub, each as its own process, all
fanning out the same show's Redis stream as the same ``events`` JSON the hub sends.

    python bench/peers.py SERVER REDIS_URL [--show s1]

prints exactly one line ``listening http://127.0.0.1:PORT`` once it accepts viewers,
then serves until SIGTERM (or SIGINT). SERVER is one of:

- ``floor``: a bare ``asyncio.Protocol`` server, the WebSocket handshake done by hand;
  each batch is framed once and the same bytes written straight to every transport; the
  hello is encoded once at start and the same bytes written to each viewer. The least a
  server can do: the floor the others are measured against.
- ``broadcast``: the websockets library's own asyncio server (``websockets.asyncio``,
  compression off) and ``websockets.broadcast()`` (which frames each message once and
  writes it to every connection that is not busy).
- ``starlette``: a Starlette app on uvicorn, a ``WebSocketRoute`` at
  ``/ws/shows/{show}``; the usual code: a set of connected WebSockets and, per batch,
  ``for ws in viewers: await ws.send_text(payload)`` (the ``ConnectionManager.broadcast``
  of FastAPI's WebSocket docs; Starlette's own docs point to the ``broadcaster`` package
  for pub/sub, which ends in the same loop). uvicorn as livecart runs it (httptools
  HTTP, uvloop, no access log) but with uvicorn's default WebSocket implementation
  (``ws="auto"``: websockets' sans-I/O protocol, ``websockets_sansio_impl``; livecart
  gives uvicorn its own ``HubConnection`` instead), pings and per-message deflate off.
- ``socketio``: python-socketio's ``AsyncServer(async_mode="asgi")`` in
  ``socketio.ASGIApp`` on the same uvicorn, WebSocket transport only, Engine.IO pings
  every 3600 s (none during a run). A viewer joins room = its show (``?show=s1``) in the
  ``connect`` handler; the hello is emitted to its sid just after the connect ack; each
  batch is ``await sio.emit("events", payload_dict, room=show)`` (python-socketio
  encodes the packet once per emit and queues it on every socket of the room; each
  Engine.IO socket's writer task sends it).

Every peer reads the show's stream with XREAD BLOCK from ``$`` (count 1000) and sends
each batch at once, no tick, as ``livecart.hub.events.events_payload`` builds it
(staff-only events left out). On connect every peer sends a hello first:
``{"type":"hello","show": SNAPSHOT}``, the snapshot read per connection the usual way
(``livecart.commerce.shows.records.show_snapshot`` with the package's scripts), except the
floor's (read once), over a pool of at most 100 Redis connections (a storm of joins
waits for one rather than opening thousands). No server sends pings.

Python API (the benches): ``server = await start_server(name, redis_url, workdir,
**livecart_env)`` starts ``livecart`` (any name starting with "livecart": ``livecart
serve`` via ``bench.common.start_livecart`` with ``livecart_env`` as environment
overrides) or one of the peers above; ``server.url``, ``server.pid``,
``server.protocol`` (the viewers' protocol: ``socketio`` or ``ws``); ``server.stop()``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import re
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson
import uvloop
from redis.asyncio import BlockingConnectionPool, Redis

from livecart.commerce.shows.records import show_snapshot
from livecart.hub.events import HubEvent, events_payload
from livecart.hub.wire import text_frame
from livecart.store import keys
from livecart.store.scripts import Scripts

SERVERS = ("floor", "broadcast", "starlette", "socketio")
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455
BACKLOG = 2048  # uvicorn's default, which livecart keeps
PEERS_PY = str(Path(__file__).resolve())
SNAPSHOT_CONNECTIONS = 100

Batch = Callable[[bytes], Awaitable[None]]


# --- what every peer shares ---------------------------------------------------------


class Store:
    """The peer's Redis: snapshots for hellos, and the show's stream."""

    def __init__(self, redis_url: str, show: str) -> None:
        self.show = show
        # At most SNAPSHOT_CONNECTIONS snapshots read at once (the others wait for a
        # connection): a storm of 10 000 joins must not open 10 000 Redis connections.
        pool = BlockingConnectionPool.from_url(
            redis_url, decode_responses=True, max_connections=SNAPSHOT_CONNECTIONS, timeout=60
        )
        self.redis = Redis(connection_pool=pool)
        self.reader = Redis.from_url(redis_url, decode_responses=True)  # blocks in XREAD
        self.scripts = Scripts(self.redis)

    async def start(self) -> None:
        await self.scripts.preload()

    async def hello(self, show: str | None = None) -> bytes:
        """The hello every peer sends first, read from Redis the usual way."""
        snapshot = await show_snapshot(self.redis, show or self.show, self.scripts)
        return orjson.dumps({"type": "hello", "show": snapshot})

    async def read_batches(self, on_batch: Batch, stop: asyncio.Event) -> None:
        """XREAD BLOCK the show's stream from now on, until ``stop``; each batch, at once,
        as the ``events`` JSON the hub would send viewers. (Blocks of 1 s: cancelling a
        blocked XREAD can leave redis-py's read hanging, so the loop ends by itself.)"""
        epoch = await self.redis.hget(keys.show(self.show), "epoch") or ""
        stream, last = keys.show_events(self.show), "$"
        while not stop.is_set():
            reply = await self.reader.xread({stream: last}, block=1000, count=1000)
            for _name, entries in reply:
                events = [HubEvent.from_entry(entry_id, fields) for entry_id, fields in entries]
                last = entries[-1][0]
                await on_batch(events_payload(epoch, last, [e for e in events if not e.staff_only]))

    async def close(self) -> None:
        await self.redis.aclose()
        await self.reader.aclose()


def announce(port: int) -> None:
    print(f"listening http://127.0.0.1:{port}", flush=True)


async def run_until_terminated(store: Store, on_batch: Batch) -> None:
    """Fan the stream out to ``on_batch`` until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    reader = asyncio.create_task(store.read_batches(on_batch, stop))
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({reader, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if reader.done():  # it failed: say why, and stop serving
        stopped.cancel()
        reader.result()
        return
    try:
        await asyncio.wait_for(asyncio.shield(reader), 3.0)
    except TimeoutError:
        reader.cancel()  # and not awaited: see Store.read_batches


# --- floor --------------------------------------------------------------------------


class FloorConnection(asyncio.Protocol):
    """A WebSocket server connection reduced to the handshake and the writes."""

    def __init__(self, viewers: set[asyncio.Transport], hello: bytes) -> None:
        self.viewers = viewers
        self.hello = hello
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
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n" + self.hello
        )
        self.viewers.add(self.transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.viewers.discard(self.transport)  # type: ignore[arg-type]


async def serve_floor(store: Store) -> None:
    viewers: set[asyncio.Transport] = set()
    hello = text_frame(await store.hello())  # once, the same bytes to every viewer
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: FloorConnection(viewers, hello), "127.0.0.1", 0, backlog=BACKLOG
    )
    announce(server.sockets[0].getsockname()[1])

    async def write_all(payload: bytes) -> None:
        frame = text_frame(payload)
        for transport in viewers:
            transport.write(frame)

    await run_until_terminated(store, write_all)
    server.close()


# --- broadcast: websockets' own server ----------------------------------------------


async def serve_broadcast(store: Store) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    viewers: set[ServerConnection] = set()
    path = re.compile(r"^/ws/shows/([^/?]+)")

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        match = path.match(ws.request.path)
        if match is None or match.group(1) != store.show:
            await ws.close(4404, "no such show")
            return
        await ws.send((await store.hello()).decode())
        viewers.add(ws)
        try:
            await ws.wait_closed()
        finally:
            viewers.discard(ws)

    async def send_all(payload: bytes) -> None:
        broadcast(viewers, payload, text=True)

    async with serve(
        handler, "127.0.0.1", 0, compression=None, ping_interval=None, backlog=BACKLOG
    ) as server:
        announce(next(iter(server.sockets)).getsockname()[1])
        await run_until_terminated(store, send_all)


# --- on uvicorn: starlette and socketio ---------------------------------------------


def quiet_signals_server() -> Any:
    import uvicorn

    class Quiet(uvicorn.Server):
        """uvicorn without its own signal capture (as livecart runs it): SIGTERM is
        ours, and ends the serve."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Quiet


async def serve_on_uvicorn(app: Any, store: Store, on_batch: Batch) -> None:
    """``app`` on uvicorn as livecart runs it, with uvicorn's default WebSocket
    implementation, until SIGTERM; the stream's batches go to ``on_batch``."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app,
        http="httptools",
        ws="auto",  # websockets' sans-I/O protocol (websockets_sansio_impl)
        ws_ping_interval=None,
        ws_ping_timeout=None,
        ws_per_message_deflate=False,
        lifespan="on",
        log_config=None,
        log_level="warning",
        access_log=False,
        backlog=BACKLOG,
        timeout_graceful_shutdown=2,
    )
    server = quiet_signals_server()(config)
    serving = asyncio.create_task(server.serve([sock]))
    while not server.started:
        if serving.done():
            serving.result()
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    announce(sock.getsockname()[1])
    try:
        await run_until_terminated(store, on_batch)
    finally:
        server.should_exit = True
        await serving


async def serve_starlette(store: Store) -> None:
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    viewers: set[WebSocket] = set()

    async def show_socket(websocket: WebSocket) -> None:
        if websocket.path_params["show"] != store.show:
            await websocket.close(4404)
            return
        await websocket.accept()
        await websocket.send_text((await store.hello()).decode())
        viewers.add(websocket)
        try:
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            viewers.discard(websocket)

    async def send_all(payload: bytes) -> None:
        text = payload.decode()
        for ws in list(viewers):
            try:
                await ws.send_text(text)
            except (WebSocketDisconnect, RuntimeError, OSError):
                viewers.discard(ws)

    app = Starlette(routes=[WebSocketRoute("/ws/shows/{show}", show_socket)])
    await serve_on_uvicorn(app, store, send_all)


async def serve_socketio(store: Store) -> None:
    import socketio

    sio = socketio.AsyncServer(
        async_mode="asgi", ping_interval=3600, ping_timeout=60, transports=["websocket"]
    )
    hellos: set[asyncio.Task[None]] = set()

    async def send_hello(sid: str, show: str) -> None:
        hello = orjson.loads(await store.hello(show))
        await sio.emit("hello", hello, to=sid)

    @sio.event  # type: ignore[untyped-decorator]
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        show = query.get("show", [store.show])[-1]
        if show != store.show:
            return False
        await sio.enter_room(sid, show)
        # After this handler returns, python-socketio sends the connect ack ("40");
        # the hello is emitted to the sid after it.
        task = asyncio.create_task(send_hello(sid, show))
        hellos.add(task)
        task.add_done_callback(hellos.discard)
        return True

    async def emit_batch(payload: bytes) -> None:
        await sio.emit("events", orjson.loads(payload), room=store.show)

    await serve_on_uvicorn(socketio.ASGIApp(sio), store, emit_batch)


async def main(server: str, redis_url: str, show: str) -> None:
    store = Store(redis_url, show)
    await store.start()
    try:
        serve = {
            "floor": serve_floor,
            "broadcast": serve_broadcast,
            "starlette": serve_starlette,
            "socketio": serve_socketio,
        }[server]
        await serve(store)
    finally:
        await store.close()


# --- for the benches: a server under test --------------------------------------------


@dataclass
class ServerUnderTest:
    """A running server (livecart or a peer) in its own process."""

    name: str
    url: str
    pid: int
    protocol: str  # what bench/viewers.py speaks to it: "ws" or "socketio"
    handle: Any  # a LivecartProcess or a bench.common.Child

    def log_problems(self, most: int = 20) -> list[str]:
        """livecart's stderr lines that report a problem (a peer's stderr is the bench's
        own); read before the work directory goes."""
        if not hasattr(self.handle, "stderr_path"):
            return []
        try:
            lines = self.handle.stderr_path.read_text(errors="replace").splitlines()
        except OSError:
            return []
        marks = ("ERROR", "WARNING", "CRITICAL", "Traceback", "Error")
        # Every start in a bench says the first two; the third is the node stopped
        # before this one (the previous row's, stopped cleanly) taken over.
        expected = ("appendfsync", "payment_provider", "stopped beating: settled 0 of its")
        return [
            line
            for line in lines
            if any(m in line for m in marks) and not any(e in line for e in expected)
        ][:most]

    def stop(self) -> None:
        from bench.common import Child, stop_livecart

        if isinstance(self.handle, Child):
            self.handle.stop()
        else:
            stop_livecart(self.handle)


async def start_server(
    name: str, redis_url: str, workdir: Path, show: str = "s1", **livecart_env: str
) -> ServerUnderTest:
    """``livecart...`` (``livecart serve`` with ``livecart_env`` overrides) or a peer."""
    from bench.common import Child, start_livecart

    if name.startswith("livecart"):
        node = await start_livecart(redis_url, workdir, **livecart_env)
        return ServerUnderTest(name, node.url, node.proc.pid, "ws", node)
    if name not in SERVERS:
        raise ValueError(f"unknown server {name!r}: livecart... or one of {SERVERS}")
    child = Child([sys.executable, PEERS_PY, name, redis_url, "--show", show])
    try:
        line = await child.line(60)
    except BaseException:
        child.stop()
        raise
    protocol = "socketio" if name == "socketio" else "ws"
    return ServerUnderTest(name, line.split()[-1], child.pid, protocol, child)


def cli() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("server", choices=SERVERS)
    parser.add_argument("redis_url")
    parser.add_argument("--show", default="s1")
    args = parser.parse_args()
    from bench.common import raise_open_files

    raise_open_files()
    uvloop.run(main(args.server, args.redis_url, args.show))


if __name__ == "__main__":
    cli()
