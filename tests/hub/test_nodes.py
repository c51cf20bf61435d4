"""Several nodes, one show: real ``livecart serve`` processes sharing the session's Redis.

Every node reads the show's stream (invariant 2), so a change made through one node
reaches the viewers of every node, in the same order; moderation follows the user to
whichever node holds their socket; presence is summed; and when a node dies or stops,
its viewers resume on another without missing an event (invariant 3).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis
from websockets.exceptions import ConnectionClosed

from livecart.commerce.shows.control import pin_product
from livecart.config import Settings
from livecart.hub import moderation
from livecart.hub.events import COALESCABLE, STAFF_ONLY
from livecart.runtime import Runtime
from livecart.store import keys
from tests.commerce.conftest import SHOW, seed_show
from tests.helpers import STRONG_ADMIN_KEY, STRONG_SECRET, LivecartProcess
from tests.hub.live import HubClient, token, ws_url

Message = dict[str, Any]
PRESENCE_INTERVAL_MS = 200


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The in-process runtime (seeding, writing events) uses the nodes' hub settings."""
    return settings.with_overrides(
        {"hub": {"tick_ms": 10, "presence_interval_ms": PRESENCE_INTERVAL_MS}}
    )


@dataclass
class Node:
    process: LivecartProcess
    url: str

    def ws(self, **params: str | None) -> str:
        return ws_url(self.url, **params)


@pytest.fixture
def node_settings() -> dict[str, str]:
    """Settings (environment variables) the nodes take beyond the defaults below."""
    return {}


@pytest.fixture
async def nodes(
    runtime: Runtime, settings: Settings, tmp_path: Path, node_settings: dict[str, str]
) -> AsyncIterator[tuple[Node, Node]]:
    """Show s1, live, and two nodes serving it from the session's Redis."""
    await seed_show(runtime)
    env = {
        "LIVECART_REDIS_URL": settings.redis.url,
        "LIVECART_REDIS_CLUSTER": str(settings.redis.cluster).lower(),
        "LIVECART_AUTH_SECRET": STRONG_SECRET,
        "LIVECART_AUTH_ADMIN_API_KEY": STRONG_ADMIN_KEY,
        # `serve` refuses the test provider; the built-in one approves at once.
        "LIVECART_CHECKOUT_PAYMENT_PROVIDER": "builtin",
        "LIVECART_HUB_TICK_MS": "10",
        "LIVECART_HUB_PRESENCE_INTERVAL_MS": str(PRESENCE_INTERVAL_MS),
        "LIVECART_SERVER_LOG_LEVEL": "warning",
        "LIVECART_SERVER_SHUTDOWN_TIMEOUT_S": "3",
        **node_settings,
    }
    processes = [LivecartProcess(["serve", "--port", "0"], cwd=tmp_path, env=env) for _ in "ab"]
    try:
        urls = [await asyncio.to_thread(p.wait_for_url) for p in processes]
        a, b = (Node(p, url) for p, url in zip(processes, urls, strict=True))
        yield a, b
    finally:
        for p in processes:
            if p.proc.poll() is None:
                p.signal(signal.SIGTERM)
        hung = []
        for p in processes:
            try:
                await asyncio.to_thread(p.wait, 10)
            except subprocess.TimeoutExpired:
                hung.append(p.stderr)
            finally:
                p.kill()
        assert not hung, f"a node did not stop within 10 s of SIGTERM: {hung}"


async def opened(*urls: str) -> list[HubClient]:
    return list(await asyncio.gather(*(HubClient.open(url) for url in urls)))


async def close_all(*clients: HubClient) -> None:
    for client in clients:
        with contextlib.suppress(ConnectionClosed, OSError):
            await client.close()


async def stream_events(redis: Redis, after: str, until: str) -> list[Message]:
    """The show's events after ``after`` up to ``until``, as the hub sends them."""
    entries = await redis.xrange(keys.show_events(SHOW), f"({after}", until)
    return [
        {"id": entry_id, "type": f["type"], "data": orjson.loads(f["data"])}
        for entry_id, f in entries
    ]


def stream_key(event_id: str) -> tuple[int, int]:
    ms, seq = event_id.split("-")
    return int(ms), int(seq)


def between(events: list[Message], after: str, until: str) -> list[Message]:
    lo, hi = stream_key(after), stream_key(until)
    return [e for e in events if lo < stream_key(e["id"]) <= hi]


def shown(event: Message) -> Message:
    """An event as compared: id, type and data (a stream position, if any, aside)."""
    return {"id": event["id"], "type": event["type"], "data": event["data"]}


def assert_matches_stream(received: list[Message], stream: list[Message]) -> None:
    """What a viewer received is the stream, seen through the hub: in stream order,
    each event exactly as stored, none twice; every event that cannot be folded is
    there; of stock, the latest value per product is the stream's latest."""
    for_viewers = [e for e in stream if e["type"] not in STAFF_ONLY]
    by_id = {e["id"]: e for e in for_viewers}
    keys_seen = [stream_key(e["id"]) for e in received]
    assert keys_seen == sorted(set(keys_seen)), "events out of order or received twice"
    for event in received:
        assert shown(event) == by_id.get(event["id"]), event
    assert [shown(e) for e in received if e["type"] not in COALESCABLE] == [
        e for e in for_viewers if e["type"] not in COALESCABLE
    ]

    def latest_stock(events: list[Message]) -> dict[str, int]:
        return {e["data"]["sku"]: e["data"]["stock"] for e in events if e["type"] == "stock"}

    assert latest_stock(received) == latest_stock(for_viewers)


def is_chat(text: str) -> Callable[[Message], bool]:
    return lambda event: event["data"].get("text") == text


# --- the same events everywhere ----------------------------------------------------------


async def test_viewers_on_two_nodes_receive_the_same_events_for_changes_made_on_both(
    nodes: tuple[Node, Node], redis: Redis
) -> None:
    a, b = nodes
    viewer_a, viewer_b = await opened(a.ws(), b.ws())
    streamer_a, buyer_a = await opened(
        a.ws(token=token("c1", "streamer", SHOW)), a.ws(token=token("ann"))
    )
    streamer_b, moderator_b, buyer_b = await opened(
        b.ws(token=token("c1", "streamer", SHOW)),
        b.ws(token=token("mo", "moderator", SHOW)),
        b.ws(token=token("ben")),
    )

    async def from_a() -> None:
        assert (await streamer_a.request("pin", sku="p-plain"))["changed"] is True
        for i in range(3):
            order = await buyer_a.request("buy", sku="p-plain", idempotency_key=f"a{i}")
            assert order["type"] == "order", order
        assert (await buyer_a.request("chat", text="hello from A"))["type"] == "ack"
        assert (await streamer_a.request("pin", sku="p-limited"))["changed"] is True
        order = await buyer_a.request("buy", sku="p-scarce", quantity=2, idempotency_key="a-s")
        assert order["type"] == "order", order

    async def from_b() -> None:
        for i in range(3):
            order = await buyer_b.request("buy", sku="p-plain", idempotency_key=f"b{i}")
            assert order["type"] == "order", order
        paused = await moderator_b.request("sales_pause", reason="restocking")
        assert paused["changed"] is True
        assert (await buyer_b.request("chat", text="hello from B"))["type"] == "ack"
        assert (await streamer_b.request("pin", sku="p-dollars"))["changed"] is True
        assert (await moderator_b.request("sales_resume"))["changed"] is True
        order = await buyer_b.request("buy", sku="p-limited", idempotency_key="b-l")
        assert order["result"] == "confirmed", order

    # Both nodes at once: Redis decides one order, which every viewer must see.
    await asyncio.gather(from_a(), from_b())
    assert (await streamer_b.request("unpin"))["changed"] is True
    assert (await buyer_b.request("chat", text="the end"))["type"] == "ack"
    end_a = await viewer_a.event("chat", is_chat("the end"), within=10)
    end_b = await viewer_b.event("chat", is_chat("the end"), within=10)
    assert end_a == end_b

    start = max(viewer_a.hello["last_event_id"], viewer_b.hello["last_event_id"], key=stream_key)
    seen_a = between(viewer_a.events, start, end_a["id"])
    seen_b = between(viewer_b.events, start, end_a["id"])
    stream = await stream_events(redis, start, end_a["id"])
    assert_matches_stream(seen_a, stream)
    assert_matches_stream(seen_b, stream)
    kinds = {e["type"] for e in seen_a}
    assert {"pinned", "unpinned", "stock", "sold", "chat", "sales_paused"} <= kinds, kinds
    await close_all(viewer_a, viewer_b, streamer_a, buyer_a, streamer_b, moderator_b, buyer_b)


async def test_a_pin_by_the_streamer_on_one_node_is_seen_by_a_viewer_on_another(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    (viewer_b,) = await opened(b.ws())
    (streamer_a,) = await opened(a.ws(token=token("c1", "streamer", SHOW)))
    assert (await streamer_a.request("pin", sku="p-scarce"))["changed"] is True
    pinned = await viewer_b.event("pinned", within=5)
    assert pinned["data"]["sku"] == "p-scarce"
    assert pinned["data"]["product"]["stock"] == 3
    await close_all(viewer_b, streamer_a)


async def test_a_buy_on_one_node_updates_stock_for_viewers_on_another(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    viewers_a = await opened(a.ws(), a.ws())
    (buyer_b,) = await opened(b.ws(token=token("ben")))
    order = await buyer_b.request("buy", sku="p-plain", quantity=2, idempotency_key="k1")
    assert order["result"] == "confirmed", order
    for viewer in viewers_a:
        stock = await viewer.event(
            "stock", lambda e: e["data"] == {"sku": "p-plain", "stock": 48}, within=5
        )
        assert stock["data"]["stock"] == 48
    await close_all(*viewers_a, buyer_b)


# --- moderation follows the user to their node --------------------------------------------


async def test_a_mute_issued_on_one_node_reaches_the_users_socket_on_another(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    (moderator_a,) = await opened(a.ws(token=token("mo", "moderator", SHOW)))
    (bob_b,) = await opened(b.ws(token=token("bob")))
    assert (await bob_b.request("chat", text="before"))["type"] == "ack"

    ack = await moderator_a.request("mute", user="bob", seconds=60)
    assert ack["type"] == "ack", ack
    muted = await bob_b.next_of("muted", within=5)
    assert muted == {"type": "muted", "until_ms": ack["until_ms"], "by": "mo"}

    refused = await bob_b.request("chat", text="after")
    assert refused["type"] == "error" and refused["code"] == "muted", refused
    assert refused["until_ms"] == ack["until_ms"]
    await close_all(moderator_a, bob_b)


async def test_a_ban_issued_on_one_node_closes_the_users_socket_on_another_with_4403(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    (moderator_a,) = await opened(a.ws(token=token("mo", "moderator", SHOW)))
    carl_b, viewer_b = await opened(b.ws(token=token("carl")), b.ws())

    assert (await moderator_a.request("ban", user="carl"))["changed"] is True
    code, reason = await carl_b.closed(within=5)
    assert code == 4403, (code, reason)
    assert any(m.get("code") == "banned" for m in carl_b.others), carl_b.others

    # Everyone else stays; and carl cannot come back on either node.
    assert (await moderator_a.request("chat", text="still here"))["type"] == "ack"
    await viewer_b.event("chat", is_chat("still here"))
    for node in (a, b):
        again = await HubClient.open(node.ws(token=token("carl")), expect_hello=False)
        assert (await again.closed(within=5))[0] == 4403
    await close_all(moderator_a, viewer_b)


# --- presence --------------------------------------------------------------------------


class Counted:
    """A viewer's idea of how many watch: the snapshot's count, then each event's."""

    def __init__(self, client: HubClient) -> None:
        self.client = client
        self.count: int = client.hello["snapshot"]["show"]["viewers"]
        self._seen = 0

    def _apply(self) -> None:
        for event in self.client.events[self._seen :]:
            if event["type"] == "viewers":
                self.count = event["data"]["count"]
        self._seen = len(self.client.events)

    async def settle(self) -> int:
        """The count once what the join sent along (a replay) has been read."""
        with contextlib.suppress(TimeoutError):
            while True:
                await self.client.receive(0.2)
        self._apply()
        return self.count

    async def reaches(self, wanted: int, within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            while True:
                self._apply()
                if self.count == wanted:
                    return
                await self.client.receive(within)


async def test_viewers_on_both_nodes_are_summed_in_the_count_every_viewer_gets(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    on_a = await opened(a.ws(), a.ws())
    on_b = await opened(b.ws(), b.ws(), b.ws())
    counted = [Counted(c) for c in on_a + on_b]
    for viewer in counted:
        await viewer.reaches(5)

    # A newcomer's snapshot (with what followed it) has the total, with or without them.
    await asyncio.sleep(1.1)  # past the node's snapshot reuse, so the join reads anew
    (late,) = await opened(a.ws())
    late_count = Counted(late)
    assert await late_count.settle() in (5, 6)
    for viewer in [*counted, late_count]:
        await viewer.reaches(6)

    await close_all(*on_b[:2])
    for viewer in [*counted[:2], counted[4], late_count]:
        await viewer.reaches(4)
    await close_all(*on_a, on_b[2], late)


# --- nodes that go away ------------------------------------------------------------------


@dataclass
class Follower:
    """A viewer that, when its node goes, resumes on the other one with last + epoch."""

    client: HubClient
    fallback: Node
    resumes: list[Message] = field(default_factory=list)
    first_last: str = ""

    async def until(self, done: Callable[[Message], bool], within: float = 15.0) -> None:
        self.first_last = self.client.hello["last_event_id"]
        async with asyncio.timeout(within):
            while not any(done(e) for e in self.client.events):
                try:
                    await self.client.receive(within)
                except ConnectionClosed:
                    await self._resume()

    async def _resume(self) -> None:
        old = self.client
        new = await HubClient.open(self.fallback.ws(last=old.last, epoch=old.epoch))
        new.events, new.others = old.events, old.others  # one history across sockets
        self.resumes.append(new.hello)
        self.client = new


async def write_events(runtime: Runtime, stop: asyncio.Event) -> None:
    """Events that cannot be folded, every few milliseconds, until told to stop."""
    i = 0
    while not stop.is_set():
        if i % 2:
            await moderation.post_chat(runtime, SHOW, f"u{i % 7}", f"line {i}", staff=False)
        else:
            await pin_product(runtime, SHOW, ("p-plain", "p-limited")[i // 2 % 2])
        i += 1
        await asyncio.sleep(0.01)


async def test_viewers_of_a_killed_node_resume_on_another_and_miss_nothing(
    nodes: tuple[Node, Node], runtime: Runtime, redis: Redis
) -> None:
    a, b = nodes
    # A viewer on A all along (so A's room is live when B dies), four on B.
    clients = await opened(a.ws(), *[b.ws()] * 4)
    followers = [Follower(c, fallback=a) for c in clients]
    stop = asyncio.Event()
    writer = asyncio.create_task(write_events(runtime, stop))
    the_end = is_chat("the end")
    following = [
        asyncio.create_task(f.until(lambda e: e["type"] == "chat" and the_end(e)))
        for f in followers
    ]

    await asyncio.sleep(0.6)
    b.process.kill()  # SIGKILL: no close frames, no presence cleanup
    await asyncio.sleep(1.0)
    stop.set()
    await writer
    end = await moderation.post_chat(runtime, SHOW, "zed", "the end", staff=False)
    await asyncio.gather(*following)

    assert followers[0].resumes == []  # A's viewer never had to leave
    for follower in followers[1:]:
        assert [h["mode"] for h in follower.resumes] == ["resume"], follower.resumes
    for follower in followers:
        seen = between(follower.client.events, follower.first_last, end.message_id)
        stream = await stream_events(redis, follower.first_last, end.message_id)
        assert len([e for e in stream if e["type"] in ("chat", "pinned")]) > 20
        assert_matches_stream(seen, stream)
    await close_all(*(f.client for f in followers))


async def test_a_node_stopped_with_sigterm_closes_its_sockets_with_1012_and_they_resume(
    nodes: tuple[Node, Node], runtime: Runtime
) -> None:
    a, b = nodes
    viewer_a, viewer_b = await opened(a.ws(), b.ws())
    await pin_product(runtime, SHOW, "p-plain")
    await viewer_a.event("pinned")

    a.process.signal(signal.SIGTERM)
    code, reason = await viewer_a.closed(within=5)
    assert code == 1012, (code, reason)
    assert await asyncio.to_thread(a.process.wait, 10) == 0, a.process.stderr

    await pin_product(runtime, SHOW, "p-limited")
    resumed = await HubClient.open(b.ws(last=viewer_a.last, epoch=viewer_a.epoch))
    assert resumed.hello["mode"] == "resume"
    pinned = await resumed.event("pinned", within=5)
    assert pinned["data"]["sku"] == "p-limited"
    assert (await viewer_b.event("pinned", lambda e: e["data"]["sku"] == "p-limited"))["id"] == (
        pinned["id"]
    )
    await close_all(viewer_b, resumed)
