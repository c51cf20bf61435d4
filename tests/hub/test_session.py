"""One node, end to end: a real server, real WebSocket clients, a real Redis.

Each message type is checked the way a page sees it: the reply to the sender (an ack or
an order), the show event every other socket receives, and at least one refusal, which
changes nothing. Then the session itself: hello, resume, replay and snapshot, presence,
and the node's metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis
from websockets.asyncio.client import connect

from livecart.commerce.shows import control as show_control
from livecart.config import Settings
from livecart.hub.events import STAFF_ONLY
from livecart.hub.room import DELIVERY_SLICE_MIN
from livecart.store import keys
from tests.commerce.conftest import seed_show
from tests.helpers import LiveServer
from tests.hub.live import PRODUCTS, SHOW, HubClient, live, token, ws_url

__all__ = ["live"]  # the fixture, used by name

Message = dict[str, Any]


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    """Hub settings a test changes (parametrize ``hub_overrides`` to change them)."""
    return {}


@pytest.fixture
def settings(settings: Settings, hub_overrides: dict[str, Any]) -> Settings:
    """tests.hub.live's settings (the test payment provider, a 10 ms tick), with presence
    reported rarely so that no ``viewers`` event lands in the middle of a comparison
    (the presence test sets its own interval)."""
    return settings.with_overrides(
        {
            "checkout": {"payment_provider": "test"},
            "hub": {"tick_ms": 10, "presence_interval_ms": 60_000, **hub_overrides},
        }
    )


@dataclass
class Crew:
    """Everyone in show s1: the streamer, a moderator, two viewers (ana, ben)."""

    streamer: HubClient
    mod: HubClient
    ana: HubClient
    ben: HubClient


@pytest.fixture
async def crew(live: LiveServer) -> AsyncIterator[Crew]:
    clients = Crew(
        streamer=await HubClient.open(ws_url(live, token=token("maya", "streamer", SHOW))),
        mod=await HubClient.open(ws_url(live, token=token("mo", "moderator", SHOW))),
        ana=await HubClient.open(ws_url(live, token=token("ana"))),
        ben=await HubClient.open(ws_url(live, token=token("ben"))),
    )
    yield clients
    for client in (clients.streamer, clients.mod, clients.ana, clients.ben):
        with contextlib.suppress(Exception):
            await client.close()


@pytest.fixture
def redis_of(live: LiveServer) -> Redis:
    return live.runtime.redis


# -- helpers -----------------------------------------------------------------------------


async def stream(redis: Redis, after: str | None = None) -> list[Message]:
    """The show's stream as clients receive it: {id, type, data} per entry."""
    start = "-" if after is None else f"({after}"
    entries: Any = await redis.xrange(keys.show_events(SHOW), start)
    return [
        {"id": entry_id, "type": fields["type"], "data": orjson.loads(fields["data"])}
        for entry_id, fields in entries
    ]


async def last_stream_id(redis: Redis) -> str:
    newest: Any = await redis.xrevrange(keys.show_events(SHOW), count=1)
    return str(newest[0][0])


def bare(events: list[Message]) -> list[Message]:
    """Events without the stream position (compared with XRANGE, which has none)."""
    return [{k: e[k] for k in ("id", "type", "data")} for e in events]


def key_of(stream_id: str) -> tuple[int, int]:
    ms, seq = stream_id.split("-")
    return int(ms), int(seq)


async def slot_state(redis: Redis, show: str = SHOW) -> dict[str, Any]:
    """Every key of the show's slot with its whole content, presence left out (the node
    reports it on its own): equal before and after a refusal means it changed nothing
    and appended nothing."""
    state: dict[str, Any] = {}
    slot = keys.show(show).rsplit(":", 1)[0]
    async for key in redis.scan_iter(match=f"{slot}:*"):
        if key == keys.show_presence(show):
            continue
        kind = await redis.type(key)
        if kind == "hash":
            state[key] = await redis.hgetall(key)
            if key == keys.show(show):
                state[key].pop("viewers", None)
        elif kind == "stream":
            entries: Any = await redis.xrange(key)
            state[key] = [e for e in entries if e[1]["type"] != "viewers"]
        elif kind == "string":
            state[key] = await redis.get(key)
        elif kind == "list":
            state[key] = await redis.lrange(key, 0, -1)
        elif kind == "set":
            state[key] = sorted(await redis.smembers(key))
        elif kind == "zset":
            state[key] = await redis.zrange(key, 0, -1, withscores=True)
        else:
            raise AssertionError(f"{key!r}: unexpected type {kind!r}")
    return state


@contextlib.asynccontextmanager
async def unchanged(redis: Redis) -> AsyncIterator[None]:
    """The outbox is the one key the node changes on its own meanwhile: its consumers
    trim what they have read (invariant 7). A refusal must add nothing to it; entries
    trimmed during the block are not a change the refusal made."""
    outbox = keys.show_outbox(SHOW)
    before = await slot_state(redis)
    yield
    after = await slot_state(redis)
    appended = {i for i, _ in after.pop(outbox, [])} - {i for i, _ in before.pop(outbox, [])}
    assert not appended, f"the outbox gained {sorted(appended)}"
    assert after == before


_reqs = itertools.count(1)


async def ask(client: HubClient, kind: str, /, **fields: Any) -> Message:
    """Send one message with a fresh req and return its reply. (HubClient.request takes
    ``kind`` itself, so it cannot send a field of that name, as react has.)"""
    req = f"t{next(_reqs)}"
    await client.send({"type": kind, "req": req, **fields})
    for i, message in enumerate(client.others):
        if message.get("req") == req:
            return client.others.pop(i)
    async with asyncio.timeout(10.0):
        while True:
            message = await client.receive(10.0)
            if message.get("req") == req:
                return message
            if message.get("type") != "events":
                client.others.append(message)


async def refused(client: HubClient, kind: str, code: str, /, **fields: Any) -> Message:
    reply = await ask(client, kind, **fields)
    assert reply["type"] == "error", reply
    assert reply["code"] == code, reply
    assert reply["for"] == kind
    return reply


async def acked(client: HubClient, kind: str, /, **fields: Any) -> Message:
    reply = await ask(client, kind, **fields)
    assert reply["type"] == "ack", reply
    assert reply["for"] == kind
    return reply


async def bought(client: HubClient, /, **fields: Any) -> Message:
    reply = await ask(client, "buy", **fields)
    assert reply["type"] == "order", reply
    assert reply["for"] == "buy"
    return reply


async def metric_samples(live: LiveServer) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    async with httpx.AsyncClient() as http:
        text = (await http.get(live.url + "/metrics")).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def metric(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def wait_for(predicate: Any, within: float = 5.0, interval: float = 0.02) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "the condition never held"
        await asyncio.sleep(interval)


async def stock_of(redis: Redis, sku: str) -> int:
    return int(await redis.hget(keys.show_stock(SHOW), sku) or 0)


# -- hello -------------------------------------------------------------------------------


async def test_a_viewer_hello_is_a_fresh_snapshot_of_the_show_with_its_limits(
    live: LiveServer, redis_of: Redis
) -> None:
    async with await HubClient.open(ws_url(live, token=token("ana"))) as ana:
        hello = ana.hello
        assert hello["protocol"] == 1
        assert hello["show"] == SHOW
        assert hello["mode"] == "snapshot"
        assert hello["snapshot_reason"] == "new"
        assert hello["you"] == {"user": "ana", "role": "viewer", "muted_until_ms": None}
        assert hello["epoch"] == await redis_of.hget(keys.show(SHOW), "epoch")
        assert hello["last_event_id"] == await last_stream_id(redis_of)
        assert "staff" not in hello
        hub = live.runtime.settings.hub
        limits = {
            "max_message_bytes": hub.max_message_bytes,
            "messages_per_s": hub.messages_per_s,
            "chat_per_s": hub.chat_per_s,
            "buys_per_s": hub.buys_per_s,
            "reacts_per_s": hub.reacts_per_s,
            "chat_max_chars": hub.chat_max_chars,
            "messages_burst": hub.messages_per_s * 2,
            "chat_burst": 3,
            "buys_burst": 10,
            "reacts_burst": 20,
            "max_quantity": live.runtime.settings.checkout.max_quantity,
            "reaction_kinds": ["heart", "fire", "clap", "laugh", "wow"],
        }
        assert {name: hello["limits"].get(name) for name in limits} == limits
        snapshot = hello["snapshot"]
        assert snapshot["show"]["state"] == "live"
        assert snapshot["show"]["last_event_id"] == hello["last_event_id"]
        assert {p["sku"]: p["stock"] for p in snapshot["show"]["lineup"]} == {
            sku: units for sku, (_, units, _, _) in PRODUCTS.items()
        }
        assert snapshot["chat"] == []
        assert snapshot["slow_mode_s"] == 0


async def test_a_staff_hello_carries_the_blocked_keywords_and_the_role(live: LiveServer) -> None:
    async with await HubClient.open(ws_url(live, token=token("mo", "moderator", SHOW))) as mod:
        assert mod.hello["you"]["role"] == "moderator"
        assert mod.hello["staff"] == {"blocked_keywords": []}


async def test_an_anonymous_viewer_watches_and_pings_but_may_not_chat_buy_or_react(
    live: LiveServer, redis_of: Redis
) -> None:
    async with await HubClient.open(ws_url(live)) as anon:
        assert anon.hello["you"]["user"] is None
        assert anon.hello["mode"] == "snapshot"
        async with unchanged(redis_of):
            assert set(await acked(anon, "ping")) == {"type", "for", "req"}
            await refused(anon, "chat", "token_missing", text="hi")
            await refused(anon, "buy", "token_missing", sku="p-plain", idempotency_key="k1")
            await refused(anon, "react", "token_missing", kind="heart")
        await show_control.adjust_stock(live.runtime, SHOW, "p-plain", 1)
        assert (await anon.event("stock"))["data"] == {"sku": "p-plain", "stock": 51}


async def test_messages_sent_before_the_hello_are_answered_after_it(live: LiveServer) -> None:
    async with connect(ws_url(live, token=token("ana")), open_timeout=10) as ws:
        await ws.send(orjson.dumps({"type": "chat", "req": "early", "text": "first!"}).decode())
        await ws.send(orjson.dumps({"type": "ping", "req": "early-ping"}).decode())
        hello = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        assert hello["type"] == "hello"
        # The chat message's own event (and the viewer count) may come between the acks.
        replies: dict[str, dict[str, object]] = {}
        while len(replies) < 2:
            message = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
            assert message["type"] in ("ack", "events"), message
            if message["type"] == "ack":
                replies[message["req"]] = message
        assert set(replies) == {"early", "early-ping"}
        assert replies["early"]["message_id"]


async def test_every_reply_echoes_the_req_it_answers(crew: Crew) -> None:
    for req in ("a-string", 42, 0):
        await crew.ana.send({"type": "cart_view", "req": req})
        reply = await crew.ana.next_of("ack")
        assert reply["req"] == req and reply["for"] == "cart_view"
    await crew.ana.send({"type": "cart_view"})
    reply = await crew.ana.next_of("ack")
    assert "req" not in reply


# -- buying ------------------------------------------------------------------------------


async def test_a_confirmed_buy_is_an_order_reply_and_everyone_sees_stock_and_sold(
    crew: Crew, redis_of: Redis
) -> None:
    reply = await bought(crew.ana, sku="p-plain", idempotency_key="k1", price=1000)
    assert reply["result"] == "confirmed"
    assert reply["replayed"] is False
    order = reply["order"]
    assert order["buyer"] == "ana" and order["total"] == 1000
    assert [(line["sku"], line["quantity"]) for line in order["lines"]] == [("p-plain", 1)]
    for client in (crew.ben, crew.streamer, crew.ana):
        stock = await client.event("stock", lambda e: e["data"]["sku"] == "p-plain")
        assert stock["data"]["stock"] == 49
        sold = await client.event("sold")
        assert sold["data"] == {
            "sku": "p-plain",
            "quantity": 1,
            "sold": 1,
            "order": order["id"],
            "unit_price": 1000,
            "currency": "EUR",
        }
    assert await redis_of.hget(keys.show_sold(SHOW), "p-plain") == "1"


async def test_buying_past_the_last_unit_is_sold_out_and_takes_nothing(
    crew: Crew, redis_of: Redis
) -> None:
    first = await bought(crew.ana, sku="p-scarce", quantity=3, idempotency_key="k1")
    assert first["result"] == "confirmed"
    await crew.ben.event("stock", lambda e: e["data"] == {"sku": "p-scarce", "stock": 0})
    second = await bought(crew.ben, sku="p-scarce", idempotency_key="k2")
    assert second["result"] == "sold_out"
    assert second["sku"] == "p-scarce"
    assert "order" not in second
    assert await stock_of(redis_of, "p-scarce") == 0
    assert await redis_of.hget(keys.show_sold(SHOW), "p-scarce") == "3"


async def test_a_declined_payment_is_told_to_the_buyer_and_the_units_come_back(
    live: LiveServer, crew: Crew, redis_of: Redis
) -> None:
    async with await HubClient.open(ws_url(live, token=token("decline-dan"))) as dan:
        reply = await bought(dan, sku="p-plain", idempotency_key="k1")
        assert reply["result"] == "payment_declined"
        assert reply["sku"] == "p-plain"
        # The hold took a unit and the release gave it back: both are show events (a
        # viewer may get only the latest of the two, folded into one tick).
        stock = [e["data"] for e in await stream(redis_of) if e["type"] == "stock"]
        assert stock == [{"sku": "p-plain", "stock": 49}, {"sku": "p-plain", "stock": 50}]
        await crew.ben.event(
            "stock",
            lambda e: (
                e["data"] == {"sku": "p-plain", "stock": 50}
                and key_of(e["id"]) > key_of(crew.ben.hello["last_event_id"])
            ),
        )
        assert await stock_of(redis_of, "p-plain") == 50
        assert not any(e["type"] == "sold" for e in crew.ben.events)


async def test_a_retry_with_the_same_idempotency_key_never_buys_twice(
    crew: Crew, redis_of: Redis
) -> None:
    first = await bought(crew.ana, sku="p-plain", idempotency_key="tap-1")
    await crew.ben.event("sold")
    before = await stream(redis_of)
    again = await bought(crew.ana, sku="p-plain", idempotency_key="tap-1")
    assert first["result"] == again["result"] == "confirmed"
    assert again["replayed"] is True
    assert again["order"]["id"] == first["order"]["id"]
    assert await redis_of.hget(keys.show_sold(SHOW), "p-plain") == "1"
    assert await stream(redis_of) == before
    # The same key for another purchase is refused rather than answered with the first.
    async with unchanged(redis_of):
        await refused(
            crew.ana, "buy", "idempotency_conflict", sku="p-limited", idempotency_key="tap-1"
        )


async def test_a_buy_at_a_price_the_show_no_longer_has_is_refused_price_changed(
    crew: Crew, redis_of: Redis
) -> None:
    reply = await bought(crew.ana, sku="p-plain", idempotency_key="k1", price=900)
    assert reply["result"] == "price_changed"
    assert await stock_of(redis_of, "p-plain") == 50
    assert not [e for e in await stream(redis_of) if e["type"] in ("stock", "sold")]


async def test_bad_buy_fields_are_refused_naming_the_field(crew: Crew, redis_of: Redis) -> None:
    async with unchanged(redis_of):
        reply = await refused(crew.ana, "buy", "invalid", sku="p-plain")
        assert reply["field"] == "idempotency_key"
        reply = await refused(
            crew.ana, "buy", "invalid", sku="p-plain", idempotency_key="k", quantity=0
        )
        assert reply["field"] == "quantity"
        reply = await refused(crew.ana, "buy", "invalid", sku="no such!", idempotency_key="k")
        assert reply["field"] == "sku"


async def test_a_cart_holds_units_until_checkout_and_every_step_is_seen(
    crew: Crew, redis_of: Redis
) -> None:
    added = await acked(crew.ana, "cart_add", sku="p-plain", quantity=2)
    assert [(line["sku"], line["quantity"]) for line in added["cart"]["lines"]] == [("p-plain", 2)]
    assert added["cart"]["total"] == 2000
    await crew.ben.event("stock", lambda e: e["data"] == {"sku": "p-plain", "stock": 48})
    await acked(crew.ana, "cart_add", sku="p-limited")
    viewed = await acked(crew.ana, "cart_view")
    assert viewed["cart"]["total"] == 2000 + 2500
    removed = await acked(crew.ana, "cart_remove", sku="p-limited")
    assert [line["sku"] for line in removed["cart"]["lines"]] == ["p-plain"]
    await crew.ben.event("stock", lambda e: e["data"] == {"sku": "p-limited", "stock": 50})

    reply = await ask(crew.ana, "checkout", idempotency_key="cart-1")
    assert reply["type"] == "order" and reply["for"] == "checkout"
    assert reply["result"] == "confirmed"
    assert reply["order"]["total"] == 2000
    sold = await crew.ben.event("sold", lambda e: e["data"]["sku"] == "p-plain")
    assert sold["data"] == {
        "sku": "p-plain",
        "quantity": 2,
        "sold": 2,
        "order": reply["order"]["id"],
        "unit_price": 1000,
        "currency": "EUR",
    }
    assert (await acked(crew.ana, "cart_view"))["cart"]["lines"] == []

    empty = await ask(crew.ana, "checkout", idempotency_key="cart-2")
    assert empty["type"] == "order" and empty["result"] == "cart_empty"
    async with unchanged(redis_of):
        reply = await refused(crew.ana, "cart_add", "not_in_lineup", sku="p-unknown")
        assert reply["field"] == "sku"
        await refused(crew.ana, "cart_remove", "invalid", sku="p-plain", quantity=-1)


# -- chat and reactions ------------------------------------------------------------------


async def test_a_chat_message_is_acked_with_its_id_and_reaches_everyone(crew: Crew) -> None:
    reply = await acked(crew.ana, "chat", text="  hello all  ")
    message_id = reply["message_id"]
    for client in (crew.ben, crew.mod, crew.streamer, crew.ana):
        chat = await client.event("chat")
        assert chat["id"] == message_id
        assert chat["data"] == {"user": "ana", "text": "hello all", "staff": False}
    staff_line = await acked(crew.mod, "chat", text="welcome")
    chat = await crew.ben.event("chat", lambda e: e["id"] == staff_line["message_id"])
    assert chat["data"]["staff"] is True


async def test_chat_text_that_is_empty_too_long_or_not_text_is_refused(
    live: LiveServer, crew: Crew, redis_of: Redis
) -> None:
    longest = live.runtime.settings.hub.chat_max_chars
    async with unchanged(redis_of):
        # Each one counts against the user's chat rate (burst 3), so two users share them.
        for user, text in [
            (crew.ana, "   "),
            (crew.ana, "x" * (longest + 1)),
            (crew.ben, "line\nbreak"),
            (crew.ben, 5),
        ]:
            reply = await refused(user, "chat", "invalid", text=text)
            assert reply["field"] == "text"


def reaction_totals(events: list[Message]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for event in events:
        if event["type"] == "reactions":
            for kind, n in event["data"]["counts"].items():
                totals[kind] = totals.get(kind, 0) + n
    return totals


async def test_reactions_are_folded_into_one_counts_event_for_everyone(
    crew: Crew, redis_of: Redis
) -> None:
    for kind in ("heart", "heart", "fire"):
        reply = await acked(crew.ana, "react", kind=kind)
        assert set(reply) == {"type", "for", "req"}
    await acked(crew.ben, "react", kind="heart")
    for client in (crew.ana, crew.ben, crew.streamer):
        async with asyncio.timeout(5):
            while reaction_totals(client.events) != {"heart": 3, "fire": 1}:
                await client.receive()
    # Taps are folded per node and interval: far fewer events than taps.
    reaction_events = [e for e in await stream(redis_of) if e["type"] == "reactions"]
    assert 1 <= len(reaction_events) < 4
    async with unchanged(redis_of):
        reply = await refused(crew.ana, "react", "invalid", kind="poop")
        assert reply["field"] == "kind"


# -- the streamer ------------------------------------------------------------------------


async def test_pin_and_unpin_reach_every_viewer_and_a_repeat_changes_nothing(
    crew: Crew, redis_of: Redis
) -> None:
    assert (await acked(crew.streamer, "pin", sku="p-limited"))["changed"] is True
    pinned = await crew.ana.event("pinned")
    assert pinned["data"]["sku"] == "p-limited"
    assert pinned["data"]["product"]["price"] == 2500
    assert (await crew.ben.event("pinned"))["id"] == pinned["id"]
    async with unchanged(redis_of):
        assert (await acked(crew.streamer, "pin", sku="p-limited"))["changed"] is False
        reply = await refused(crew.streamer, "pin", "not_in_lineup", sku="p-unknown")
        assert reply["field"] == "sku"
        await refused(crew.ana, "pin", "forbidden", sku="p-plain")
        await refused(crew.mod, "pin", "forbidden", sku="p-plain")
    assert (await acked(crew.streamer, "unpin"))["changed"] is True
    unpinned = await crew.ana.event("unpinned")
    assert unpinned["data"] == {"sku": "p-limited"}
    assert await redis_of.hget(keys.show(SHOW), "pinned") == ""


async def test_a_frame_to_more_viewers_than_a_slice_reaches_each_of_them_once(
    live: LiveServer, crew: Crew
) -> None:
    """Past ``DELIVERY_SLICE_MIN`` sockets a frame goes out in slices, the loop running
    other work between them: every viewer still gets each frame once, and a viewer who
    left between two frames costs the others nothing."""
    count = DELIVERY_SLICE_MIN * 2 + 50
    viewers = await asyncio.gather(*(HubClient.open(ws_url(live)) for _ in range(count)))
    try:
        await acked(crew.streamer, "pin", sku="p-limited")
        leaving = viewers.pop()
        await leaving.close()
        await acked(crew.streamer, "pin", sku="p-plain")
        for viewer in viewers:
            await viewer.event("pinned", lambda e: e["data"]["sku"] == "p-plain")
            pins = [e["data"]["sku"] for e in viewer.events if e["type"] == "pinned"]
            assert pins == ["p-limited", "p-plain"]
    finally:
        await asyncio.gather(*(viewer.close() for viewer in viewers))


async def test_a_flash_sale_is_announced_sold_at_its_price_and_stopped(
    crew: Crew, redis_of: Redis
) -> None:
    reply = await acked(
        crew.streamer, "flash_start", sku="p-plain", price=600, quantity=5, duration_s=60
    )
    flash = reply["flash_sale"]
    assert (flash["sku"], flash["price"], flash["quantity"]) == ("p-plain", 600, 5)
    started = await crew.ana.event("flash_started")
    assert started["data"]["id"] == flash["id"]
    order = await bought(crew.ana, sku="p-plain", idempotency_key="k1")
    assert order["result"] == "confirmed"
    assert order["order"]["lines"][0]["unit_price"] == 600
    async with unchanged(redis_of):
        await refused(
            crew.streamer,
            "flash_start",
            "flash_running",
            sku="p-limited",
            price=1,
            quantity=1,
            duration_s=60,
        )
        await refused(
            crew.mod, "flash_start", "forbidden", sku="p-plain", price=1, quantity=1, duration_s=9
        )
        await refused(crew.ana, "flash_stop", "forbidden")
        reply = await refused(crew.streamer, "flash_start", "invalid", sku="p-plain", price=1)
        assert reply["field"] == "quantity"
    assert (await acked(crew.streamer, "flash_stop"))["changed"] is True
    ended = await crew.ben.event("flash_ended")
    assert ended["data"]["id"] == flash["id"]
    after = await bought(crew.ana, sku="p-plain", idempotency_key="k2")
    assert after["order"]["lines"][0]["unit_price"] == 1000


async def test_show_start_and_end_reach_everyone_and_an_ended_show_sells_nothing(
    live: LiveServer, redis_of: Redis
) -> None:
    await seed_show(live.runtime, "s2", start=False)
    url = ws_url(live, "s2", token=token("maya", "streamer", "s2"))
    async with (
        await HubClient.open(url) as streamer,
        await HubClient.open(ws_url(live, "s2", token=token("ana"))) as ana,
    ):
        assert ana.hello["snapshot"]["show"]["state"] == "scheduled"
        await refused(ana, "show_start", "forbidden")
        assert (await acked(streamer, "show_start"))["changed"] is True
        assert (await ana.event("show_started"))["data"]["started_at_ms"] > 0
        assert (await acked(streamer, "show_start"))["changed"] is False
        assert (await acked(streamer, "show_end"))["changed"] is True
        assert (await ana.event("show_ended"))["data"]["ended_at_ms"] > 0
        late = await bought(ana, sku="p-plain", idempotency_key="k1")
        assert late["result"] == "not_live"
        await refused(streamer, "show_start", "show_ended")
    assert await redis_of.hget(keys.show("s2"), "state") == "ended"


# -- moderation --------------------------------------------------------------------------


async def test_a_muted_viewer_is_told_at_once_and_their_chat_is_refused_until_unmuted(
    crew: Crew, redis_of: Redis
) -> None:
    reply = await acked(crew.mod, "mute", user="ana", seconds=120)
    until = reply["until_ms"]
    personal = await crew.ana.next_of("muted")
    assert personal["until_ms"] == until
    assert (await crew.mod.event("muted"))["data"] == {"user": "ana", "until_ms": until, "by": "mo"}
    async with unchanged(redis_of):
        chat = await refused(crew.ana, "chat", "muted", text="let me speak")
        assert chat["until_ms"] == until
    # Who was muted is for staff eyes only: the other viewer never sees it.
    await acked(crew.ben, "chat", text="still here")
    await crew.ana.event("chat")
    await crew.ben.event("chat")
    assert not any(e["type"] == "muted" for e in crew.ben.events + crew.ana.events)

    async with unchanged(redis_of):
        await refused(crew.ben, "mute", "forbidden", user="ana", seconds=60)
        reply = await refused(crew.mod, "mute", "invalid", user="ana", seconds=0)
        assert reply["field"] == "seconds"
    assert (await acked(crew.mod, "unmute", user="ana"))["changed"] is True
    assert (await crew.ana.next_of("unmuted"))["by"] == "mo"
    await crew.streamer.event("unmuted")
    await acked(crew.ana, "chat", text="thanks")
    assert (await acked(crew.mod, "unmute", user="ana"))["changed"] is False


async def test_a_muted_viewer_who_reconnects_is_told_in_the_hello(
    live: LiveServer, crew: Crew
) -> None:
    until = (await acked(crew.mod, "mute", user="cy", seconds=60))["until_ms"]
    async with await HubClient.open(ws_url(live, token=token("cy"))) as cy:
        assert cy.hello["you"]["muted_until_ms"] == until


async def test_ban_and_unban_are_staff_events_and_a_banned_viewer_is_let_back_after_unban(
    live: LiveServer, crew: Crew, redis_of: Redis
) -> None:
    assert (await acked(crew.mod, "ban", user="ben"))["changed"] is True
    code, _ = await crew.ben.closed()
    assert code == 4403
    assert (await crew.streamer.event("banned"))["data"] == {"user": "ben", "by": "mo"}
    async with unchanged(redis_of):
        assert (await acked(crew.mod, "ban", user="ben"))["changed"] is False
        await refused(crew.ana, "ban", "forbidden", user="mo")
    assert (await acked(crew.streamer, "unban", user="ben"))["changed"] is True
    await crew.mod.event("unbanned")
    async with await HubClient.open(ws_url(live, token=token("ben"))) as ben:
        await acked(ben, "chat", text="back again")
    await crew.ana.event("chat")
    assert not any(e["type"] in ("banned", "unbanned") for e in crew.ana.events)


async def test_a_deleted_message_is_hidden_for_everyone_and_for_later_joiners(
    live: LiveServer, crew: Crew, redis_of: Redis
) -> None:
    kept = (await acked(crew.ana, "chat", text="nice"))["message_id"]
    gone = (await acked(crew.ben, "chat", text="rude words"))["message_id"]
    assert (await acked(crew.mod, "delete_message", message_id=gone))["changed"] is True
    for client in (crew.ana, crew.ben, crew.streamer, crew.mod):
        deleted = await client.event("message_deleted")
        assert deleted["data"] == {"message_id": gone, "by": "mo"}
    deleted_id = (await crew.ana.event("message_deleted"))["id"]
    async with unchanged(redis_of):
        assert (await acked(crew.mod, "delete_message", message_id=gone))["changed"] is False
        await refused(crew.ana, "delete_message", "forbidden", message_id=kept)
        reply = await refused(crew.mod, "delete_message", "invalid", message_id="nope")
        assert reply["field"] == "message_id"
        await refused(crew.mod, "delete_message", "message_not_found", message_id="1-0")

    async def joiner_sees_it_hidden() -> bool:
        # A snapshot read for one join serves the next second's joins, with the events
        # since then replayed; either way the page must end up without the message.
        async with await HubClient.open(ws_url(live, token=token("dee"))) as dee:
            chat_ids = [m["id"] for m in dee.hello["snapshot"]["chat"]]
            replay = await _replay_after_hello(dee)
            if gone in chat_ids:
                assert any(
                    e["type"] == "message_deleted" and e["data"]["message_id"] == gone
                    for e in replay
                ), "a joiner got a deleted message with no deletion after it"
            fresh = key_of(dee.hello["last_event_id"]) >= key_of(deleted_id)
            if fresh:
                assert chat_ids == [kept]
            return fresh

    await wait_for(joiner_sees_it_hidden, within=5.0, interval=0.2)


async def _replay_after_hello(client: HubClient, within: float = 0.3) -> list[Message]:
    """The replayed events that follow a hello, if any (collected for a short while)."""
    events: list[Message] = []
    with contextlib.suppress(TimeoutError):
        while True:
            message = await client.receive(within)
            if message["type"] == "events" and message.get("replay"):
                events.extend(message["events"])
    return events


async def test_slow_mode_makes_viewers_wait_between_messages_but_not_staff(
    crew: Crew, redis_of: Redis
) -> None:
    assert (await acked(crew.mod, "slow_mode", seconds=30))["changed"] is True
    assert (await crew.ana.event("slow_mode"))["data"] == {"seconds": 30, "by": "mo"}
    await acked(crew.ana, "chat", text="first")
    async with unchanged(redis_of):
        reply = await refused(crew.ana, "chat", "slow_mode", text="second")
        assert 0 < reply["retry_after_ms"] <= 30_000
        await refused(crew.ana, "slow_mode", "forbidden", seconds=0)
        reply = await refused(crew.mod, "slow_mode", "invalid", seconds=-1)
        assert reply["field"] == "seconds"
    await acked(crew.ben, "chat", text="another viewer is not held back")
    await acked(crew.mod, "chat", text="staff one")
    await acked(crew.mod, "chat", text="staff two")
    assert (await acked(crew.mod, "slow_mode", seconds=0))["changed"] is True
    await crew.ana.event("slow_mode", lambda e: e["data"]["seconds"] == 0)
    await acked(crew.ana, "chat", text="free again")


async def test_paused_sales_refuse_buys_after_the_event_until_resumed(
    crew: Crew, redis_of: Redis
) -> None:
    reply = await acked(crew.mod, "sales_pause", reason="restocking")
    assert reply["changed"] is True
    paused = await crew.ana.event("sales_paused")
    assert paused["data"] == {"reason": "restocking", "by": "mo"}
    refused_buy = await bought(crew.ana, sku="p-plain", idempotency_key="k1")
    assert refused_buy["result"] == "sales_paused"
    assert await stock_of(redis_of, "p-plain") == 50
    async with unchanged(redis_of):
        await refused(crew.ben, "sales_resume", "forbidden")
        assert (await acked(crew.mod, "sales_pause"))["changed"] is False
        reply = await refused(crew.mod, "sales_pause", "invalid", reason="x" * 1000)
        assert reply["field"] == "reason"
    assert (await acked(crew.streamer, "sales_resume"))["changed"] is True
    await crew.ben.event("sales_resumed")
    assert (await bought(crew.ana, sku="p-plain", idempotency_key="k2"))["result"] == "confirmed"


async def test_blocked_keywords_are_for_staff_eyes_and_refuse_viewer_messages(
    crew: Crew, redis_of: Redis
) -> None:
    reply = await acked(crew.mod, "blocked_keywords", words=["Spoiler", "scam"])
    assert reply["words"] == ["scam", "spoiler"]
    for staff in (crew.mod, crew.streamer):
        assert (await staff.event("blocked_keywords"))["data"] == {
            "words": ["scam", "spoiler"],
            "by": "mo",
        }
    async with unchanged(redis_of):
        reply = await refused(crew.ana, "chat", "blocked_keyword", text="big SPOILER ahead")
        assert reply["field"] == "text"
        assert "spoiler" not in reply["message"].lower()
        await refused(crew.ana, "blocked_keywords", "forbidden", words=[])
        reply = await refused(crew.mod, "blocked_keywords", "invalid", words="scam")
        assert reply["field"] == "words"
    await acked(crew.mod, "chat", text="staff may say spoiler")
    clean_id = (await acked(crew.ana, "chat", text="no bad words"))["message_id"]
    for viewer in (crew.ana, crew.ben):
        await viewer.event("chat", lambda e: e["id"] == clean_id)
        assert not any(e["type"] == "blocked_keywords" for e in viewer.events)


# -- who may do what ---------------------------------------------------------------------

STAFF_MESSAGES: dict[str, dict[str, Any]] = {
    "pin": {"sku": "p-plain"},
    "unpin": {},
    "flash_start": {"sku": "p-plain", "price": 1, "quantity": 1, "duration_s": 60},
    "flash_stop": {},
    "show_start": {},
    "show_end": {},
    "mute": {"user": "ben", "seconds": 60},
    "unmute": {"user": "ben"},
    "ban": {"user": "ben"},
    "unban": {"user": "ben"},
    "delete_message": {"message_id": "1-0"},
    "slow_mode": {"seconds": 5},
    "sales_pause": {},
    "sales_resume": {},
    "blocked_keywords": {"words": ["x"]},
}
STREAMER_ONLY = ("pin", "unpin", "flash_start", "flash_stop", "show_start", "show_end")


async def test_viewers_may_do_no_staff_action_and_moderators_none_of_the_streamers(
    crew: Crew, redis_of: Redis
) -> None:
    async with unchanged(redis_of):
        for kind, fields in STAFF_MESSAGES.items():
            await refused(crew.ana, kind, "forbidden", **fields)
        for kind in STREAMER_ONLY:
            await refused(crew.mod, kind, "forbidden", **STAFF_MESSAGES[kind])
    # Still served after all that.
    await acked(crew.streamer, "pin", sku="p-plain")
    await crew.ana.event("pinned")


async def test_the_streamer_moderates_their_own_show_and_an_admin_does_everything(
    live: LiveServer, crew: Crew
) -> None:
    await acked(crew.streamer, "mute", user="ben", seconds=60)
    await acked(crew.streamer, "sales_pause")
    async with await HubClient.open(ws_url(live, token=token("root", "admin"))) as admin:
        assert admin.hello["staff"] == {"blocked_keywords": []}
        await acked(admin, "sales_resume")
        await acked(admin, "pin", sku="p-dollars")
        await acked(admin, "unmute", user="ben")
        await acked(admin, "slow_mode", seconds=3)
    await crew.ana.event("pinned", lambda e: e["data"]["sku"] == "p-dollars")


# -- resume, replay, snapshot ------------------------------------------------------------


async def _cause_events(live: LiveServer, crew: Crew) -> str:
    """A mix of show events, a staff-only one among them; returns the newest id once the
    streamer's socket has received it (so the room has sent it)."""
    await show_control.adjust_stock(live.runtime, SHOW, "p-plain", 1)
    await show_control.adjust_stock(live.runtime, SHOW, "p-plain", 1)
    await acked(crew.streamer, "pin", sku="p-limited")
    await acked(crew.streamer, "mute", user="zed", seconds=60)
    await acked(crew.ben, "chat", text="while you were away")
    await show_control.adjust_stock(live.runtime, SHOW, "p-scarce", 2)
    newest = await last_stream_id(live.runtime.redis)
    await crew.streamer.event("stock", lambda e: e["id"] == newest)
    return newest


async def test_a_viewer_who_reconnects_with_its_last_id_gets_exactly_what_it_missed(
    live: LiveServer, crew: Crew, redis_of: Redis
) -> None:
    await acked(crew.streamer, "pin", sku="p-plain")
    await crew.ana.event("pinned")
    last, epoch = crew.ana.last, crew.ana.epoch
    assert last == await last_stream_id(redis_of)
    await crew.ana.close()
    newest = await _cause_events(live, crew)

    back = await HubClient.open(ws_url(live, token=token("ana"), last=last, epoch=epoch))
    async with back:
        assert back.hello["mode"] == "resume"
        assert back.hello["last_event_id"] == last
        assert back.hello["epoch"] == epoch
        assert back.hello["state"]["stock"]["p-plain"] == 52
        assert "snapshot" not in back.hello
        replay = await back.next_of("events")
        assert replay["replay"] is True
        assert replay["last"] == newest
        missed = [e for e in await stream(redis_of, after=last) if e["type"] not in STAFF_ONLY]
        assert bare(replay["events"]) == missed
        assert [e["type"] for e in missed] == ["stock", "stock", "pinned", "chat", "stock"]
        # And it is back in the room: the next event comes live, not replayed.
        await show_control.adjust_stock(live.runtime, SHOW, "p-plain", -1)
        live_frame = await back.next_of("events")
        assert "replay" not in live_frame
        assert [e["type"] for e in live_frame["events"]] == ["stock"]


async def test_staff_who_reconnect_get_the_staff_only_events_they_missed_too(
    live: LiveServer, crew: Crew, redis_of: Redis
) -> None:
    last, epoch = crew.mod.last, crew.mod.epoch
    await crew.mod.close()
    await _cause_events(live, crew)
    url = ws_url(live, token=token("mo", "moderator", SHOW), last=last, epoch=epoch)
    async with await HubClient.open(url) as mod:
        assert mod.hello["mode"] == "resume"
        replay = await mod.next_of("events")
        assert bare(replay["events"]) == await stream(redis_of, after=last)
        assert "muted" in [e["type"] for e in replay["events"]]


async def test_a_resume_with_nothing_missed_sends_no_replay(live: LiveServer, crew: Crew) -> None:
    last, epoch = crew.ben.last, crew.ben.epoch
    async with await HubClient.open(
        ws_url(live, token=token("ben"), last=last, epoch=epoch)
    ) as again:
        assert again.hello["mode"] == "resume"
        await show_control.adjust_stock(live.runtime, SHOW, "p-plain", 1)
        frame = await again.next_of("events")
        assert "replay" not in frame


@pytest.mark.parametrize("hub_overrides", [{"max_replay": 10}])
async def test_a_resume_from_further_back_than_the_node_keeps_gets_a_fresh_snapshot(
    live: LiveServer, crew: Crew, redis_of: Redis
) -> None:
    last, epoch = crew.ana.last, crew.ana.epoch
    await crew.ana.close()
    for _ in range(30):
        await show_control.adjust_stock(live.runtime, SHOW, "p-plain", 1)
    newest = await last_stream_id(redis_of)
    await crew.ben.event("stock", lambda e: e["id"] == newest)
    url = ws_url(live, token=token("ana"), last=last, epoch=epoch)
    async with await HubClient.open(url) as back:
        assert back.hello["mode"] == "snapshot"
        assert back.hello["snapshot_reason"] == "too_old"
        assert back.hello["last_event_id"] == newest
        lineup = {p["sku"]: p["stock"] for p in back.hello["snapshot"]["show"]["lineup"]}
        assert lineup["p-plain"] == 80


async def test_a_resume_with_another_epoch_gets_a_snapshot(live: LiveServer, crew: Crew) -> None:
    url = ws_url(live, token=token("ana"), last=crew.ana.last, epoch="1234")
    async with await HubClient.open(url) as back:
        assert back.hello["mode"] == "snapshot"
        assert back.hello["snapshot_reason"] == "other_epoch"
        assert back.hello["epoch"] == crew.ana.epoch


@pytest.mark.parametrize("last", ["garbage", "12-", "-1-0", "1-2-3", "1" * 25 + "-0"])
async def test_a_resume_from_an_id_that_is_no_stream_id_gets_a_snapshot(
    live: LiveServer, crew: Crew, last: str
) -> None:
    url = ws_url(live, token=token("ana"), last=last, epoch=crew.ana.epoch)
    async with await HubClient.open(url) as back:
        assert back.hello["mode"] == "snapshot"
        assert back.hello["snapshot_reason"] == "bad_id"


async def test_two_viewers_on_one_node_receive_identical_event_sequences(
    live: LiveServer, crew: Crew, redis_of: Redis
) -> None:
    for i in range(40):
        if i % 10 == 3:
            await acked(crew.streamer, "pin", sku=("p-plain", "p-limited")[i % 2])
        elif i % 10 == 7:
            await acked((crew.mod, crew.streamer)[i // 10 % 2], "chat", text=f"message {i}")
        else:
            await show_control.adjust_stock(live.runtime, SHOW, "p-plain", 1)
    newest = await last_stream_id(redis_of)
    for viewer in (crew.ana, crew.ben):
        await viewer.event("stock", lambda e: e["id"] == newest)
    assert crew.ana.events == crew.ben.events
    # In stream order, each one from the stream, the latest stock always there.
    ids = [key_of(e["id"]) for e in crew.ana.events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    in_stream = {e["id"]: e for e in await stream(redis_of)}
    for event in bare(crew.ana.events):
        assert in_stream[event["id"]] == event
    assert [e for e in crew.ana.events if e["type"] == "stock"][-1]["data"]["stock"] == 50 + 32


@pytest.mark.parametrize("hub_overrides", [{"tick_ms": 1000, "max_replay": 10}])
async def test_a_snapshot_joiner_misses_nothing_after_it_and_overlaps_only_what_it_holds(
    live: LiveServer, crew: Crew, redis_of: Redis
) -> None:
    """A long tick leaves an event pending in the room while a join reads its snapshot
    (a fresh one: the room's window has moved past the snapshot the crew's joins read).
    The protocol lets the first live frames overlap the snapshot, by events no newer than
    ``last_event_id`` (which a client skips); nothing newer may be missing."""
    for _ in range(11):
        await show_control.adjust_stock(live.runtime, SHOW, "p-plain", 1)
    flushed = await last_stream_id(redis_of)
    await crew.ana.event("stock", lambda e: e["id"] == flushed)
    posted = await acked(crew.ben, "chat", text="pending in the room's tick")
    async with await HubClient.open(ws_url(live, token=token("dee"))) as dee:
        snapshot_last = dee.hello["last_event_id"]
        assert [m["id"] for m in dee.hello["snapshot"]["chat"]] == [posted["message_id"]]
        assert snapshot_last == posted["message_id"]
        await show_control.adjust_stock(live.runtime, SHOW, "p-plain", 1)
        await acked(crew.ben, "chat", text="after the snapshot")
        newest = await last_stream_id(redis_of)
        await dee.event("chat", lambda e: e["id"] == newest, within=5.0)
        after = [e for e in dee.events if key_of(e["id"]) > key_of(snapshot_last)]
        assert bare(after) == await stream(redis_of, after=snapshot_last)
        overlap = [e for e in dee.events if key_of(e["id"]) <= key_of(snapshot_last)]
        assert all(e["type"] in ("chat", "stock") for e in overlap)


# -- presence and metrics ----------------------------------------------------------------


@pytest.mark.parametrize("hub_overrides", [{"presence_interval_ms": 100}])
async def test_the_viewer_count_follows_who_is_connected(
    live: LiveServer, crew: Crew, redis_of: Redis
) -> None:
    count = await crew.ana.event("viewers", lambda e: e["data"]["count"] == 4)
    assert count["data"] == {"count": 4}
    await crew.ben.close()
    # A count of 3 from before ben joined may already be in ana's events: wait for one
    # that comes after the 4.
    await crew.ana.event(
        "viewers",
        lambda e: e["data"]["count"] == 3 and key_of(e["id"]) > key_of(count["id"]),
    )
    assert await redis_of.hget(keys.show(SHOW), "viewers") == "3"
    async with await HubClient.open(ws_url(live)) as anon:
        # The snapshot, brought up to date by the events replayed after it.
        seen = anon.hello["snapshot"]["show"]["viewers"]
        for event in await _replay_after_hello(anon):
            if event["type"] == "viewers":
                seen = event["data"]["count"]
        assert seen == 3
        await anon.event("viewers", lambda e: e["data"]["count"] == 4)
    samples = await metric_samples(live)
    assert metric(samples, "livecart_hub_room_connections", show=SHOW) == 3


async def test_metrics_count_sessions_joins_messages_and_frames(
    live: LiveServer, crew: Crew
) -> None:
    await acked(crew.ana, "chat", text="counted")
    await refused(crew.ana, "pin", "forbidden", sku="p-plain")
    await crew.ana.send({"type": "no-such-type"})
    await crew.ana.next_of("error")
    await crew.ben.event("chat")

    async def counted() -> bool:
        samples = await metric_samples(live)
        return (
            metric(samples, "livecart_hub_inbound_total", type="unknown", outcome="unknown_type")
            == 1
        )

    await wait_for(counted)
    samples = await metric_samples(live)
    assert metric(samples, "livecart_hub_connections") == 4
    assert metric(samples, "livecart_hub_room_connections", show=SHOW) == 4
    assert metric(samples, "livecart_hub_tick_ms", show=SHOW) == 10
    assert metric(samples, "livecart_hub_joins_total", outcome="ok") == 4
    assert metric(samples, "livecart_hub_inbound_total", type="chat", outcome="ok") == 1
    assert metric(samples, "livecart_hub_inbound_total", type="pin", outcome="forbidden") == 1
    # Four hellos, three replies, one chat frame to each of four sockets.
    assert metric(samples, "livecart_hub_frames_out_total") >= 4 + 3 + 4
    assert metric(samples, "livecart_hub_bytes_out_total") > 0
    assert metric(samples, "livecart_hub_tick_events_count") >= 1
    assert metric(samples, "livecart_hub_slow_closed_total") == 0
    await crew.ben.close()

    async def left() -> bool:
        return metric(await metric_samples(live), "livecart_hub_connections") == 3

    await wait_for(left)
