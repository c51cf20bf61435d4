"""A hostile or broken client, one node, end to end: every bad message gets a clear
error or a close code, changes nothing in the show, and never costs the others their
service; every limit (message size, rates, joins, connections, unsent bytes) holds.

Where a client must misbehave in ways the ``websockets`` client will not (bytes that are
not UTF-8 in a text frame, a socket that never reads, a handshake that never ends), a
raw TCP socket speaks the protocol by hand.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import jwt
import orjson
import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame, Opcode

from livecart.commerce.shows import control as show_control
from livecart.config import Settings
from livecart.hub import moderation
from livecart.store import keys
from tests.commerce.conftest import seed_show
from tests.helpers import STRONG_SECRET, LiveServer
from tests.hub.live import SHOW, HubClient, live, token, ws_url
from tests.hub.test_session import (
    Message,
    acked,
    ask,
    last_stream_id,
    metric,
    metric_samples,
    refused,
    unchanged,
    wait_for,
)

__all__ = ["live"]  # the fixture, used by name


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    """Hub settings a test changes (parametrize ``hub_overrides`` to change them)."""
    return {}


@pytest.fixture
def auth_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def server_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def settings(
    settings: Settings,
    hub_overrides: dict[str, Any],
    auth_overrides: dict[str, Any],
    server_overrides: dict[str, Any],
) -> Settings:
    """tests.hub.live's settings (the test payment provider, a 10 ms tick), with presence
    reported rarely so that no ``viewers`` event lands between a before and an after."""
    return settings.with_overrides(
        {
            "checkout": {"payment_provider": "test"},
            "hub": {"tick_ms": 10, "presence_interval_ms": 60_000, **hub_overrides},
            "auth": auth_overrides,
            "server": server_overrides,
        }
    )


@pytest.fixture
def redis_of(live: LiveServer) -> Redis:
    return live.runtime.redis


@pytest.fixture
async def bystander(live: LiveServer) -> AsyncIterator[HubClient]:
    """A well-behaved viewer who must keep being served whatever the others do."""
    client = await HubClient.open(ws_url(live, token=token("bea")))
    yield client
    with contextlib.suppress(Exception):
        await client.close()


async def still_served(live: LiveServer, *clients: HubClient) -> None:
    """A new show event reaches every one of ``clients``, and each still gets replies."""
    stock = (await show_control.adjust_stock(live.runtime, SHOW, "p-plain", 1))["stock"]
    newest = await last_stream_id(live.runtime.redis)
    for client in clients:
        event = await client.event("stock", lambda e: e["id"] == newest)
        assert event["data"] == {"sku": "p-plain", "stock": stock}
        # A reply, without spending any of the user's own rate limits.
        assert (await ask(client, "ping"))["type"] == "ack"


async def xlen(redis: Redis) -> int:
    return int(await redis.xlen(keys.show_events(SHOW)))


async def opened(url: str) -> HubClient:
    return await HubClient.open(url, expect_hello=False)


def close_reason_json(reason: str | None) -> dict[str, Any]:
    assert reason is not None
    data: dict[str, Any] = orjson.loads(reason)
    return data


# -- a WebSocket client by hand ------------------------------------------------------------


class RawClient:
    """One TCP socket speaking WebSocket by hand: sends any frame, reads only when told."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.loop = asyncio.get_running_loop()
        self.buffer = bytearray()
        self.received = 0  # bytes read after the handshake response

    @classmethod
    async def connect(cls, url: str, *, rcvbuf: int | None = None) -> RawClient:
        parts = urlsplit(url)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connect: the window is agreed in the handshake
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (parts.hostname, parts.port))
        return cls(sock)

    @classmethod
    async def open(cls, url: str, *, rcvbuf: int | None = None) -> RawClient:
        """Connect and finish the WebSocket handshake; nothing after it is read."""
        client = await cls.connect(url, rcvbuf=rcvbuf)
        parts = urlsplit(url)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {parts.path}?{parts.query} HTTP/1.1\r\n"
            f"Host: {parts.netloc}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        await client.write(request.encode())
        head = bytearray()
        async with asyncio.timeout(5):
            while b"\r\n\r\n" not in head:
                head += await client.loop.sock_recv(client.sock, 1)  # not a byte past it
        assert head.startswith(b"HTTP/1.1 101"), head
        return client

    async def write(self, data: bytes) -> None:
        await self.loop.sock_sendall(self.sock, data)

    async def send_frame(self, opcode: Opcode, payload: bytes, *, fin: bool = True) -> None:
        await self.write(Frame(opcode, payload, fin=fin).serialize(mask=True))

    async def frames(self, within: float = 5.0) -> AsyncIterator[tuple[int, bytes]]:
        """(opcode, payload) of each server frame until the server ends the connection."""
        async with asyncio.timeout(within):
            while True:
                while (frame := self._next_frame()) is not None:
                    yield frame
                try:
                    chunk = await self.loop.sock_recv(self.sock, 1 << 20)
                except ConnectionResetError:
                    return
                if not chunk:
                    return
                self.received += len(chunk)
                self.buffer += chunk

    def _next_frame(self) -> tuple[int, bytes] | None:
        buf = self.buffer
        if len(buf) < 2:
            return None
        n, offset = buf[1] & 0x7F, 2
        if n == 126:
            if len(buf) < 4:
                return None
            n, offset = int.from_bytes(buf[2:4], "big"), 4
        elif n == 127:
            if len(buf) < 10:
                return None
            n, offset = int.from_bytes(buf[2:10], "big"), 10
        if len(buf) < offset + n:
            return None
        frame = (buf[0] & 0x0F, bytes(buf[offset : offset + n]))
        del buf[: offset + n]
        return frame

    async def close_code(self, within: float = 5.0) -> tuple[int | None, list[Message]]:
        """Read to the end: the server's close code (None: cut off with no close frame)
        and the messages before it."""
        messages: list[Message] = []
        async for opcode, payload in self.frames(within):
            if opcode == Opcode.CLOSE:
                return int.from_bytes(payload[:2], "big"), messages
            if opcode == Opcode.TEXT:
                messages.append(orjson.loads(payload))
        return None, messages

    def close(self) -> None:
        self.sock.close()


# -- malformed messages --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code", "field"),
    [
        ("{not json", "bad_json", None),
        ("", "bad_json", None),
        ("[1, 2]", "bad_json", None),
        ('"chat"', "bad_json", None),
        ("null", "bad_json", None),
        ("[" * 2000 + "]" * 2000, "bad_json", None),
        ('{"text": "no type"}', "invalid", "type"),
        ('{"type": 7}', "invalid", "type"),
        ('{"type": "chat", "text": "x", "req": true}', "invalid", "req"),
        ('{"type": "chat", "text": "x", "req": 1.5}', "invalid", "req"),
        ('{"type": "chat", "text": "x", "req": 9007199254740993}', "invalid", "req"),
        ('{"type": "chat", "text": "x", "req": "' + "r" * 65 + '"}', "invalid", "req"),
        ('{"type": "chat", "text": "x", "req": {"a": 1}}', "invalid", "req"),
    ],
)
async def test_a_message_that_is_no_valid_envelope_gets_an_error_and_changes_nothing(
    live: LiveServer,
    redis_of: Redis,
    bystander: HubClient,
    raw: str,
    code: str,
    field: str | None,
) -> None:
    async with await HubClient.open(ws_url(live, token=token("mal"))) as mal:
        async with unchanged(redis_of):
            await mal.ws.send(raw)
            error = await mal.next_of("error")
            assert error["code"] == code
            assert error.get("field") == field
            assert "req" not in error
        await still_served(live, mal, bystander)


async def test_an_unknown_message_type_is_named_in_its_error_and_changes_nothing(
    live: LiveServer, redis_of: Redis, bystander: HubClient
) -> None:
    async with await HubClient.open(ws_url(live, token=token("mal"))) as mal:
        async with unchanged(redis_of):
            reply = await refused(mal, "teleport", "unknown_type")
            assert "teleport" in reply["message"]
            await mal.send({"type": "x" * 1000, "req": "long"})
            reply = await mal.next_of("error")
            assert reply["code"] == "unknown_type" and reply["req"] == "long"
            assert reply["for"] == "x" * 40
        await still_served(live, mal, bystander)


@pytest.mark.parametrize(
    ("kind", "fields", "extra"),
    [
        ("chat", {"text": "hi"}, "color"),
        ("buy", {"sku": "p-plain", "idempotency_key": "k1"}, "discount"),
        ("cart_add", {"sku": "p-plain"}, "qty"),
        ("react", {"kind": "heart"}, "count"),
        ("pin", {"sku": "p-plain"}, "pinned_by"),
        ("sales_pause", {}, "state"),
    ],
)
async def test_a_message_with_a_field_its_type_does_not_have_is_refused_naming_it(
    live: LiveServer,
    redis_of: Redis,
    bystander: HubClient,
    kind: str,
    fields: dict[str, Any],
    extra: str,
) -> None:
    role = ("maya", "streamer", SHOW) if kind in ("pin", "sales_pause") else ("mal", "viewer")
    async with await HubClient.open(ws_url(live, token=token(*role))) as mal:
        async with unchanged(redis_of):
            reply = await refused(mal, kind, "invalid", **fields, **{extra: 1})
            assert reply["field"] == extra
        await still_served(live, mal, bystander)


# -- frames the protocol does not take -------------------------------------------------


async def test_a_message_over_the_size_limit_closes_1009_and_one_at_the_limit_does_not(
    live: LiveServer, redis_of: Redis, bystander: HubClient
) -> None:
    limit = live.runtime.settings.hub.max_message_bytes
    async with await HubClient.open(ws_url(live, token=token("mal"))) as mal:
        async with unchanged(redis_of):
            head = '{"type":"chat","text":"hi","pad":"'
            at_limit = head + "x" * (limit - len(head) - 2) + '"}'
            assert len(at_limit.encode()) == limit
            await mal.ws.send(at_limit)
            error = await mal.next_of("error")
            assert (error["code"], error["field"]) == ("invalid", "pad")
            await mal.ws.send(at_limit[:-2] + 'x"}')
            code, _ = await mal.closed()
            assert code == 1009
        await still_served(live, bystander)


async def test_a_fragmented_message_is_put_together_and_held_to_the_same_size_limit(
    live: LiveServer, redis_of: Redis, bystander: HubClient
) -> None:
    limit = live.runtime.settings.hub.max_message_bytes
    mal = await RawClient.open(ws_url(live, token=token("mal")))
    try:
        message = orjson.dumps({"type": "chat", "text": "in three parts", "req": "f"})
        await mal.send_frame(Opcode.TEXT, message[:10], fin=False)
        await mal.send_frame(Opcode.CONT, message[10:20], fin=False)
        await mal.send_frame(Opcode.CONT, message[20:])
        async for opcode, payload in mal.frames():
            if opcode == Opcode.TEXT and orjson.loads(payload).get("req") == "f":
                assert orjson.loads(payload)["type"] == "ack"
                break
        await bystander.event("chat", lambda e: e["data"]["text"] == "in three parts")
        async with unchanged(redis_of):
            part = b"x" * (limit // 2 + 1)
            await mal.send_frame(Opcode.TEXT, b'{"type":"chat","text":"' + part, fin=False)
            await mal.send_frame(Opcode.CONT, part + b'"}')
            code, _ = await mal.close_code()
            assert code == 1009
    finally:
        mal.close()
    await still_served(live, bystander)


async def test_a_binary_frame_closes_1003_and_changes_nothing(
    live: LiveServer, redis_of: Redis, bystander: HubClient
) -> None:
    async with await HubClient.open(ws_url(live, token=token("mal"))) as mal, unchanged(redis_of):
        await mal.ws.send(orjson.dumps({"type": "chat", "text": "as bytes"}))
        code, _ = await mal.closed()
        assert code == 1003
    await still_served(live, bystander)


@pytest.mark.parametrize(
    "payload",
    [b"\xff\xfe", b'{"type":"chat","text":"\xc3"}', b'{"type":"chat","text":"\xed\xa0\x80"}'],
)
async def test_a_text_message_that_is_not_utf8_closes_1007(
    live: LiveServer, redis_of: Redis, bystander: HubClient, payload: bytes
) -> None:
    async with await HubClient.open(ws_url(live, token=token("mal"))) as mal, unchanged(redis_of):
        await mal.ws.send(payload, text=True)
        code, _ = await mal.closed()
        assert code == 1007
    await still_served(live, bystander)


# -- rates ----------------------------------------------------------------------------------


async def _flood(client: HubClient, messages: list[str]) -> tuple[int | None, list[Message]]:
    with contextlib.suppress(ConnectionClosed):
        for message in messages:
            await client.ws.send(message)
    code, _ = await client.closed(within=3)
    return code, client.others


async def test_a_flooding_connection_gets_rate_limited_errors_then_is_closed_1008(
    live: LiveServer, redis_of: Redis, bystander: HubClient
) -> None:
    per_s = live.runtime.settings.hub.messages_per_s
    async with await HubClient.open(ws_url(live, token=token("mal"))) as mal:
        flood = [orjson.dumps({"type": "nothing", "req": i}).decode() for i in range(500)]
        async with unchanged(redis_of):
            code, replies = await _flood(mal, flood)
        assert code == 1008
        limited = [r for r in replies if r.get("code") == "rate_limited"]
        assert limited, "no rate_limited error came before the close"
        assert all(r["retry_after_ms"] > 0 for r in limited)
        # The burst (twice the rate) is served; past it, errors; past twice that, the close.
        answered = [r for r in replies if r.get("code") == "unknown_type"]
        assert len(answered) <= 2 * per_s + 1
        assert len(answered) + len(limited) < len(flood)
    await still_served(live, bystander)


async def test_a_flood_of_malformed_messages_is_cut_off_like_any_flood(
    live: LiveServer, redis_of: Redis, bystander: HubClient
) -> None:
    """Every message counts against the connection's rate, whether it parses or not."""
    async with await HubClient.open(ws_url(live, token=token("mal"))) as mal:
        async with unchanged(redis_of):
            code, replies = await _flood(mal, ["{not json"] * 500)
        assert code == 1008, f"still open after {len(replies)} bad_json errors"
    await still_served(live, bystander)


async def test_a_user_may_chat_only_so_fast_on_any_of_their_sockets(
    live: LiveServer, redis_of: Redis, bystander: HubClient
) -> None:
    async with (
        await HubClient.open(ws_url(live, token=token("gab"))) as first,
        await HubClient.open(ws_url(live, token=token("gab"))) as second,
    ):
        for i in range(3):  # the burst
            await acked(first, "chat", text=f"line {i}")
        async with unchanged(redis_of):
            reply = await refused(first, "chat", "rate_limited", text="one too many")
            assert reply["retry_after_ms"] > 0
            await refused(second, "chat", "rate_limited", text="from my other tab")
        entries: Any = await redis_of.xrange(keys.show_events(SHOW))
        chats = [e for e in entries if e[1]["type"] == "chat"]
        assert len(chats) == 3
        await still_served(live, first, second, bystander)


async def _burst(client: HubClient, kind: str, bodies: list[dict[str, Any]]) -> list[Message]:
    """Send every message at once, then collect one reply for each."""
    reqs = [f"burst-{i}" for i in range(len(bodies))]
    for req, body in zip(reqs, bodies, strict=True):
        await client.send({"type": kind, "req": req, **body})
    replies: dict[str, Message] = {}
    async with asyncio.timeout(10):
        while len(replies) < len(reqs):
            message = await client.receive()
            if message.get("req") in reqs:
                replies[message["req"]] = message
    return [replies[req] for req in reqs]


async def test_a_user_may_buy_only_so_fast_and_a_refused_tap_takes_nothing(
    live: LiveServer, redis_of: Redis, bystander: HubClient
) -> None:
    async with await HubClient.open(ws_url(live, token=token("gab"))) as gab:
        bodies = [{"sku": "p-plain", "idempotency_key": f"tap-{i}"} for i in range(14)]
        replies = await _burst(gab, "buy", bodies)
        confirmed = [r for r in replies if r["type"] == "order" and r["result"] == "confirmed"]
        limited = [r for r in replies if r.get("code") == "rate_limited"]
        assert len(confirmed) + len(limited) == len(bodies)
        assert 10 <= len(confirmed) < len(bodies)
        assert all(r["for"] == "buy" and r["retry_after_ms"] > 0 for r in limited)
        assert await redis_of.hget(keys.show_sold(SHOW), "p-plain") == str(len(confirmed))
        assert await redis_of.hget(keys.show_stock(SHOW), "p-plain") == str(50 - len(confirmed))
        await still_served(live, gab, bystander)


async def test_a_user_may_react_only_so_fast_and_only_counted_taps_are_published(
    live: LiveServer, redis_of: Redis, bystander: HubClient
) -> None:
    async with await HubClient.open(ws_url(live, token=token("gab"))) as gab:
        # Two rounds, each under the 16 messages a connection may have in flight.
        replies = await _burst(gab, "react", [{"kind": "fire"}] * 15)
        replies += await _burst(gab, "react", [{"kind": "fire"}] * 15)
        acked_taps = sum(1 for r in replies if r["type"] == "ack")
        assert 20 <= acked_taps < 30
        assert all(r["code"] == "rate_limited" for r in replies if r["type"] != "ack")
        totals: dict[str, int] = {}

        async def published() -> bool:
            totals.clear()
            entries: Any = await redis_of.xrange(keys.show_events(SHOW))
            for _, fields in entries:
                if fields["type"] == "reactions":
                    for kind, n in orjson.loads(fields["data"])["counts"].items():
                        totals[kind] = totals.get(kind, 0) + n
            return totals.get("fire", 0) >= acked_taps

        await wait_for(published)
        assert totals == {"fire": acked_taps}
        await still_served(live, gab, bystander)


async def test_every_message_of_a_burst_gets_one_reply_even_past_what_is_in_flight(
    live: LiveServer, bystander: HubClient
) -> None:
    """A connection has at most 16 messages being handled at once; the rest of a burst
    is answered "busy" (or "rate_limited"), never dropped without a word."""
    async with await HubClient.open(ws_url(live, token=token("gab"))) as gab:
        replies = await _burst(gab, "cart_view", [{}] * 30)
        codes = {r["code"] for r in replies if r["type"] == "error"}
        assert codes <= {"busy", "rate_limited"}
        assert sum(1 for r in replies if r["type"] == "ack") >= 10
        await still_served(live, gab, bystander)


# -- a client that stops reading ------------------------------------------------------------


def _rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def _kernel_send_cap() -> int:
    """The most a sender's kernel queues for one TCP socket (its autotuned send buffer)."""
    with open("/proc/sys/net/ipv4/tcp_wmem") as limits:
        return int(limits.read().split()[2])


class Reader:
    """A well-behaved client that reads as fast as it can and keeps only what the test
    compares (a client that kept every frame would grow this process's memory itself)."""

    def __init__(self, client: HubClient) -> None:
        self.client = client
        self.bytes = 0  # frame bytes as the server wrote them (header included)
        self.largest = 0
        self.chat_ids: list[str] = []
        self.stock: dict[str, int] = {}
        self.last: str | None = None
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for raw in self.client.ws:
            n = len(raw.encode() if isinstance(raw, str) else raw)
            frame = n + (2 if n < 126 else 4 if n < 65536 else 10)
            self.bytes += frame
            self.largest = max(self.largest, frame)
            message = orjson.loads(raw)
            if message["type"] == "events":
                self.last = message["last"]
                for event in message["events"]:
                    if event["type"] == "chat":
                        self.chat_ids.append(event["id"])
                    elif event["type"] == "stock":
                        self.stock[event["data"]["sku"]] = event["data"]["stock"]
            elif message["type"] == "state":
                self.stock.update(message["stock"])

    async def reached(self, stream_id: str, within: float = 10.0) -> None:
        async def there() -> bool:
            assert not self.task.done(), "the reader's socket was closed"
            return self.last is not None and key(self.last) >= key(stream_id)

        await wait_for(there, within=within, interval=0.01)

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
            await self.task
        await self.client.close()


def key(stream_id: str) -> tuple[int, int]:
    ms, seq = stream_id.split("-")
    return int(ms), int(seq)


async def _post_big_chat(live: LiveServer, count: int, chars: int) -> list[str]:
    """``count`` messages of ``chars`` characters, posted one after another as a busy
    chat would be (through the chat script, as the hub posts them)."""
    ids = []
    for i in range(count):
        text = f"{i:06d}" + "x" * (chars - 6)
        posted = await moderation.post_chat(live.runtime, SHOW, "mo", text, staff=True)
        ids.append(posted.message_id)
    return ids


@pytest.mark.parametrize("hub_overrides", [{"chat_max_chars": 10_000, "max_replay": 10}])
async def test_a_client_that_stops_reading_is_closed_4001_and_never_grows_the_server(
    live: LiveServer,
) -> None:
    hub = live.runtime.settings.hub
    reader = Reader(await HubClient.open(ws_url(live, token=token("rae"))))
    stuck = await RawClient.open(ws_url(live, token=token("stu")), rcvbuf=4096)
    rcvbuf = stuck.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    try:
        before = await metric_samples(live)
        rss_before = _rss_bytes()
        count, chars = 1600, 10_000  # 16 MB to each socket, far past every buffer
        ids = await _post_big_chat(live, count, chars)
        await reader.reached(ids[-1], within=2)  # never far behind the flood
        rss_after = _rss_bytes()
        after = await metric_samples(live)

        # The other viewer got every message, in order, while one socket was stuck.
        assert reader.chat_ids == ids
        assert metric(after, "livecart_hub_slow_closed_total") == 1
        # What the server wrote to the stuck socket: what it wrote in all, less the
        # reader's. The kernel takes at most its buffers; the rest waited in the
        # transport, which the hub lets grow to the hard limit plus one frame.
        written = metric(after, "livecart_hub_bytes_out_total") - metric(
            before, "livecart_hub_bytes_out_total"
        )
        to_stuck = written - reader.bytes
        flood = count * chars
        bound = hub.send_buffer_hard_bytes + reader.largest + _kernel_send_cap() + rcvbuf
        assert to_stuck <= bound, (to_stuck, bound)
        assert to_stuck < flood / 2
        # A generous bound: had the transport kept everything, this would pass the flood.
        assert rss_after - rss_before < flood / 2, (rss_after - rss_before, flood)

        code, _ = await stuck.close_code(within=10)
        assert code in (4001, None)  # the close frame, or cut off when it could not go
        stock = (await show_control.adjust_stock(live.runtime, SHOW, "p-plain", 1))["stock"]
        await reader.reached(await last_stream_id(live.runtime.redis))
        assert reader.stock["p-plain"] == stock
    finally:
        stuck.close()
        await reader.stop()


@pytest.mark.parametrize(
    "hub_overrides", [{"chat_max_chars": 10_000, "send_buffer_hard_bytes": 64 << 20}]
)
async def test_a_client_behind_is_skipped_for_stock_and_gets_the_latest_when_it_catches_up(
    live: LiveServer, redis_of: Redis
) -> None:
    hub = live.runtime.settings.hub
    reader = Reader(await HubClient.open(ws_url(live, token=token("rae"))))
    slow = await RawClient.open(ws_url(live, token=token("stu")), rcvbuf=4096)
    try:
        # Past the kernel's buffers and the soft limit, short of the hard one.
        chars = 10_000
        count = (_kernel_send_cap() + hub.send_buffer_soft_bytes) // chars + 50
        ids = await _post_big_chat(live, count, chars)
        await reader.reached(ids[-1])
        for _ in range(30):
            await show_control.adjust_stock(live.runtime, SHOW, "p-plain", 1)
        await reader.reached(await last_stream_id(redis_of))
        assert reader.stock["p-plain"] == 80

        samples = await metric_samples(live)
        assert metric(samples, "livecart_hub_slow_skipped_total") > 0
        assert metric(samples, "livecart_hub_slow_closed_total") == 0

        # Now it reads: every chat message (none is ever skipped), then the latest stock.
        chat_ids: list[str] = []
        stock: int | None = None
        async for opcode, payload in slow.frames(within=20):
            assert opcode in (Opcode.TEXT, Opcode.PING)
            if opcode != Opcode.TEXT:
                continue
            message = orjson.loads(payload)
            if message["type"] == "events":
                for event in message["events"]:
                    if event["type"] == "chat":
                        chat_ids.append(event["id"])
                    elif event["type"] == "stock" and event["data"]["sku"] == "p-plain":
                        stock = event["data"]["stock"]
            elif message["type"] == "state":
                stock = message["stock"]["p-plain"]
            if chat_ids == ids and stock == 80:
                break
        assert chat_ids == ids
        assert stock == 80
    finally:
        slow.close()
        await reader.stop()


# -- joins ------------------------------------------------------------------------------------


@pytest.mark.parametrize("hub_overrides", [{"max_joins_per_s": 1}])
async def test_joins_past_the_node_rate_are_closed_4429_with_when_to_retry(
    live: LiveServer, redis_of: Redis
) -> None:
    async with await HubClient.open(ws_url(live, token=token("ana"))) as first:
        async with unchanged(redis_of):
            late = await opened(ws_url(live, token=token("ben")))
            code, reason = await late.closed()
        assert code == 4429
        retry_after_ms = close_reason_json(reason)["retry_after_ms"]
        assert 0 < retry_after_ms <= 1000
        await asyncio.sleep(retry_after_ms / 1000)  # as the reason says
        async with await HubClient.open(ws_url(live, token=token("ben"))) as ben:
            assert ben.hello["mode"] == "snapshot"
        await still_served(live, first)


@pytest.mark.parametrize("hub_overrides", [{"max_connections": 2}])
async def test_a_full_node_closes_new_sessions_1013_and_takes_them_again_when_one_leaves(
    live: LiveServer, redis_of: Redis
) -> None:
    first = await HubClient.open(ws_url(live, token=token("ana")))
    async with await HubClient.open(ws_url(live, token=token("ben"))) as second:
        async with unchanged(redis_of):
            extra = await opened(ws_url(live, token=token("cy")))
            code, _ = await extra.closed()
        assert code == 1013
        await first.close()

        async def room_again() -> bool:
            return metric(await metric_samples(live), "livecart_hub_connections") == 1

        await wait_for(room_again)
        async with await HubClient.open(ws_url(live, token=token("cy"))) as cy:
            assert cy.hello["type"] == "hello"
            await still_served(live, second, cy)


async def test_a_show_that_does_not_exist_closes_4404_with_an_error_naming_it(
    live: LiveServer, redis_of: Redis
) -> None:
    ghost = await opened(ws_url(live, "no-such-show", token=token("ana")))
    code, reason = await ghost.closed()
    assert code == 4404
    assert reason is not None and reason.startswith("not_found: ")
    assert [m["code"] for m in ghost.others] == ["not_found"]
    assert not await redis_of.exists(keys.show("no-such-show"))
    assert not await redis_of.exists(keys.show_events("no-such-show"))


@pytest.mark.parametrize(
    "path", ["/ws", "/ws/nope", "/ws/shows", "/ws/shows/s1/more", "/ws/shows/bad%20id", "/"]
)
async def test_a_websocket_to_a_path_that_is_no_show_is_refused_404_at_the_handshake(
    live: LiveServer, path: str
) -> None:
    url = live.url.replace("http://", "ws://") + path
    with pytest.raises(InvalidStatus) as refusal:
        await connect(url, open_timeout=5)
    assert refusal.value.response.status_code == 404


# -- who you are -------------------------------------------------------------------------------


def _expired_token() -> str:
    now = int(time.time())
    payload = {"sub": "ana", "role": "viewer", "iat": now - 7200, "exp": now - 3600}
    return jwt.encode(payload, STRONG_SECRET, algorithm="HS256")


@pytest.mark.parametrize(
    ("bad_token", "code"),
    [
        (
            jwt.encode({"sub": "ana", "role": "viewer", "exp": 4102444800}, "x" * 40),
            "token_invalid",
        ),
        ("not-a-token", "token_invalid"),
        (token("ana")[:-4] + "AAAA", "token_invalid"),
        (_expired_token(), "token_expired"),
    ],
)
async def test_a_forged_or_expired_token_closes_4401_with_an_error_naming_why(
    live: LiveServer, redis_of: Redis, bystander: HubClient, bad_token: str, code: str
) -> None:
    async with unchanged(redis_of):
        client = await opened(ws_url(live, token=bad_token))
        close, reason = await client.closed()
    assert close == 4401
    assert reason is not None and reason.startswith(f"{code}: ")
    assert [m["code"] for m in client.others] == [code]
    await still_served(live, bystander)


async def test_a_token_in_the_authorization_header_is_taken_and_checked(
    live: LiveServer,
) -> None:
    headers = {"Authorization": f"Bearer {token('ana')}"}
    async with connect(ws_url(live), additional_headers=headers) as ws:
        hello = orjson.loads(await ws.recv())
        assert hello["you"]["user"] == "ana"
    forged = {"Authorization": "Bearer not-a-token"}
    async with connect(ws_url(live), additional_headers=forged) as ws:
        with pytest.raises(ConnectionClosed):
            while True:
                await ws.recv()
        assert ws.close_code == 4401


async def test_the_query_token_wins_over_the_header_and_an_empty_one_counts_as_absent(
    live: LiveServer,
) -> None:
    forged = {"Authorization": "Bearer not-a-token"}
    async with connect(ws_url(live, token=token("ana")), additional_headers=forged) as ws:
        assert orjson.loads(await ws.recv())["you"]["user"] == "ana"
    base = live.url.replace("http://", "ws://") + f"/ws/shows/{SHOW}"
    async with connect(f"{base}?token=", additional_headers={}) as ws:
        assert orjson.loads(await ws.recv())["you"]["user"] is None
    async with connect(f"{base}?token=not-a-token&token={token('ben')}") as ws:
        assert orjson.loads(await ws.recv())["you"]["user"] == "ben"


@pytest.mark.parametrize("auth_overrides", [{"anonymous_viewers": False}])
async def test_without_anonymous_watching_a_socket_with_no_token_closes_4401(
    live: LiveServer, redis_of: Redis
) -> None:
    async with unchanged(redis_of):
        anon = await opened(ws_url(live))
        code, _ = await anon.closed()
    assert code == 4401
    assert [m["code"] for m in anon.others] == ["token_missing"]
    async with await HubClient.open(ws_url(live, token=token("ana"))) as ana:
        await still_served(live, ana)


async def test_a_malformed_upgrade_request_is_refused_at_the_handshake(live: LiveServer) -> None:
    client = await RawClient.connect(ws_url(live))
    try:
        await client.write(
            b"GET /ws/shows/s1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        async with asyncio.timeout(5):
            head = await client.loop.sock_recv(client.sock, 4096)
        status = int(head.split(b" ", 2)[1])
        assert status in (400, 426), head
    finally:
        client.close()


async def test_an_upgrade_request_head_over_16_kb_is_refused_431_and_changes_nothing(
    live: LiveServer, redis_of: Redis, bystander: HubClient
) -> None:
    key = base64.b64encode(os.urandom(16))
    async with unchanged(redis_of):
        client = await RawClient.connect(ws_url(live))
        try:
            await client.write(
                b"GET /ws/shows/s1 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                b"Sec-WebSocket-Key: " + key + b"\r\nX-Padding: " + b"a" * 17_000 + b"\r\n\r\n"
            )
            async with asyncio.timeout(5):
                head = await client.loop.sock_recv(client.sock, 4096)
        finally:
            client.close()
    assert head.startswith(b"HTTP/1.1 431 "), head[:200]
    assert b"over 16384 bytes" in head
    await still_served(live, bystander)


@pytest.mark.parametrize(
    ("sub", "role"), [("mo", "moderator"), ("maya", "streamer"), ("ana", "viewer")]
)
async def test_a_token_for_another_show_closes_4403(
    live: LiveServer, redis_of: Redis, bystander: HubClient, sub: str, role: str
) -> None:
    await seed_show(live.runtime, "s2")
    async with unchanged(redis_of):
        client = await opened(ws_url(live, SHOW, token=token(sub, role, "s2")))
        code, _ = await client.closed()
    assert code == 4403
    assert [m["code"] for m in client.others] == ["forbidden"]
    # The same token is good on its own show.
    async with await HubClient.open(ws_url(live, "s2", token=token(sub, role, "s2"))) as ok:
        assert ok.hello["show"] == "s2"
    await still_served(live, bystander)


@pytest.mark.parametrize("auth_overrides", [{"leeway_s": 0}])
async def test_a_token_that_expires_during_the_session_is_refused_per_action(
    live: LiveServer, redis_of: Redis, bystander: HubClient
) -> None:
    leeway = live.runtime.settings.auth.leeway_s
    short = token("ana", ttl_s=1)
    exp = jwt.decode(short, options={"verify_signature": False})["exp"]
    async with await HubClient.open(ws_url(live, token=short)) as ana:
        await acked(ana, "chat", text="while it lasts")

        async def expired() -> bool:
            return bool(time.time() > exp + leeway + 0.01)

        await wait_for(expired, within=leeway + 3)
        async with unchanged(redis_of):
            await refused(ana, "chat", "token_expired", text="after it ended")
        await still_served(live, bystander)


async def test_staff_actions_by_the_wrong_role_are_forbidden_and_change_nothing(
    live: LiveServer, redis_of: Redis, bystander: HubClient
) -> None:
    async with (
        await HubClient.open(ws_url(live, token=token("mo", "moderator", SHOW))) as mod,
        await HubClient.open(ws_url(live, token=token("mal"))) as mal,
    ):
        async with unchanged(redis_of):
            before = await xlen(redis_of)
            await refused(mod, "pin", "forbidden", sku="p-plain")
            await refused(mod, "show_end", "forbidden")
            await refused(mal, "ban", "forbidden", user="bea")
            await refused(mal, "sales_pause", "forbidden")
            await refused(mal, "delete_message", "forbidden", message_id="1-0")
            assert await xlen(redis_of) == before
        await still_served(live, mod, mal, bystander)


# -- bans ----------------------------------------------------------------------------------


async def test_a_ban_closes_every_socket_of_the_user_4403_and_refuses_their_return(
    live: LiveServer, redis_of: Redis, bystander: HubClient
) -> None:
    bob_url = ws_url(live, token=token("bob"))
    async with (
        await HubClient.open(ws_url(live, token=token("mo", "moderator", SHOW))) as mod,
        await HubClient.open(bob_url) as phone,
        await HubClient.open(bob_url) as laptop,
    ):
        assert (await acked(mod, "ban", user="bob"))["changed"] is True
        for socket_of_bob in (phone, laptop):
            code, reason = await socket_of_bob.closed()
            assert (code, reason) == (4403, "banned: you are banned from this show")
            assert [m["code"] for m in socket_of_bob.others] == ["banned"]
        async with unchanged(redis_of):
            again = await opened(bob_url)
            code, _ = await again.closed()
            assert code == 4403
            assert [m["code"] for m in again.others] == ["banned"]
        await still_served(live, mod, bystander)
        await acked(mod, "unban", user="bob")
        async with await HubClient.open(bob_url) as back:
            await still_served(live, back)


async def test_an_admin_is_never_closed_by_a_ban_nor_refused_on_return(
    live: LiveServer, bystander: HubClient
) -> None:
    async with (
        await HubClient.open(ws_url(live, token=token("mo", "moderator", SHOW))) as mod,
        await HubClient.open(ws_url(live, token=token("root", "admin"))) as admin,
    ):
        assert (await acked(mod, "ban", user="root"))["changed"] is True
        await admin.event("banned", lambda e: e["data"]["user"] == "root")
        await still_served(live, admin, mod, bystander)
        # Nor refused when they come back: the socket kept open and the one reopened
        # are the same admin.
        async with await HubClient.open(ws_url(live, token=token("root", "admin"))) as again:
            await still_served(live, again)


# -- sockets that never finish -------------------------------------------------------------


@pytest.mark.parametrize("server_overrides", [{"header_timeout_s": 0.5}])
async def test_a_connection_that_never_finishes_its_request_headers_is_cut_off(
    live: LiveServer, bystander: HubClient
) -> None:
    silent = await RawClient.connect(ws_url(live))
    partial = await RawClient.connect(ws_url(live))
    await partial.write(b"GET /ws/shows/s1 HTTP/1.1\r\nHost: x\r\n")
    try:
        # Cut off (end of stream, no frame) well within a few timeouts; a socket held
        # open past that would let a client pin a connection slot forever.
        endings = await asyncio.gather(
            silent.close_code(within=3), partial.close_code(within=3), return_exceptions=True
        )
        assert all(ending == (None, []) for ending in endings), endings
    finally:
        silent.close()
        partial.close()
    await still_served(live, bystander)


@pytest.mark.parametrize("hub_overrides", [{"ping_interval_s": 0.5}])
async def test_a_client_that_never_answers_pings_is_closed_1001_and_one_that_does_stays(
    live: LiveServer, bystander: HubClient
) -> None:
    mute = await RawClient.open(ws_url(live, token=token("zed")))
    try:
        pings = 0
        code = None
        async for opcode, payload in mute.frames(within=5):
            if opcode == Opcode.PING:
                pings += 1
            elif opcode == Opcode.CLOSE:
                code = int.from_bytes(payload[:2], "big")
                break
        assert code == 1001
        assert pings >= 1
    finally:
        mute.close()
    # The websockets client answers pings: it was kept all along.
    await still_served(live, bystander)
