"""Messages a client sends before its hello: the hub answers nothing before the hello.

A page may send as soon as the socket opens, while the node is still reading the show
for the hello. Those messages are counted against the socket's rates when they arrive,
kept (at most ``MAX_IN_FLIGHT``), and handled in arrival order right after the hello; a
socket whose join is refused gets only the refusal. The first test is the race the
audit hit (send right after the upgrade, many times); the others hold the join until
the messages are surely in, so each case is certain to be tested.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect

from livecart.config import Settings
from livecart.hub import moderation
from livecart.hub.connection import MAX_IN_FLIGHT
from livecart.hub.room import Room
from tests.helpers import LiveServer
from tests.hub.live import SHOW, HubClient, live, token, ws_url

__all__ = ["live"]  # the fixture, used by name

Message = dict[str, Any]

EARLY = ["{not json", '{"type":"dance","req":"x1"}', '{"type":"ping","req":"p1"}']


@pytest.fixture
def hub_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def settings(settings: Settings, hub_overrides: dict[str, Any]) -> Settings:
    return settings.with_overrides(
        {
            "checkout": {"payment_provider": "test"},
            "hub": {"tick_ms": 10, "presence_interval_ms": 60_000, **hub_overrides},
        }
    )


def assert_answers_to_early(messages: list[Message]) -> None:
    """The replies to EARLY, in the order it was sent."""
    assert len(messages) == 3, messages
    assert messages[0]["type"] == "error" and messages[0]["code"] == "bad_json", messages
    assert "req" not in messages[0]
    assert messages[1] == {
        "type": "error",
        "code": "unknown_type",
        "message": "unknown message type 'dance'; see docs/protocol.md",
        "req": "x1",
        "for": "dance",
    }
    assert messages[2] == {"type": "ack", "for": "ping", "req": "p1"}


async def test_messages_sent_right_after_the_upgrade_are_answered_after_the_hello_in_order(
    live: LiveServer,
) -> None:
    for attempt in range(12):
        async with connect(ws_url(live, token=token(f"u{attempt}")), open_timeout=10) as ws:
            for text in EARLY:
                await ws.send(text)
            first = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
            assert first["type"] == "hello", (attempt, first)
            replies: list[Message] = []
            while len(replies) < 3:
                message = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
                if message["type"] != "events":  # a replay or a tick may come between
                    replies.append(message)
            assert_answers_to_early(replies)


# -- a join held until the messages are in ----------------------------------------------


@pytest.fixture
def held_join(monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """Joins wait (before reading the user's standing) until the test sets this event,
    so the messages a test sends first surely arrive before the hello."""
    release = asyncio.Event()
    real = moderation.standing

    async def held(*args: Any, **kwargs: Any) -> moderation.Standing:
        await release.wait()
        return await real(*args, **kwargs)

    monkeypatch.setattr(moderation, "standing", held)
    return release


async def send_held(url: str, texts: list[str], release: asyncio.Event) -> HubClient:
    """Open a socket, send ``texts``, let the node read them, then let the join go on."""
    client = await HubClient.open(url, expect_hello=False)
    for text in texts:
        await client.ws.send(text)
    await asyncio.sleep(0.2)  # the loop reads them from the socket meanwhile
    release.set()
    return client


async def messages(client: HubClient, count: int) -> list[Message]:
    """The next ``count`` messages that are not show events."""
    received: list[Message] = []
    while len(received) < count:
        message = await client.receive()
        if message["type"] != "events":
            received.append(message)
    return received


async def test_messages_kept_while_the_join_is_slow_are_answered_after_the_hello_in_order(
    live: LiveServer, held_join: asyncio.Event
) -> None:
    async with await send_held(ws_url(live, token=token("ana")), EARLY, held_join) as ana:
        received = await messages(ana, 4)
    assert received[0]["type"] == "hello", received
    assert_answers_to_early(received[1:])


@pytest.mark.parametrize("hub_overrides", [{"messages_per_s": 1.0}])
async def test_early_messages_count_against_the_rate_when_they_arrive(
    live: LiveServer, held_join: asyncio.Event
) -> None:
    """A rate of 1/s has a burst of 2: the third message is refused, after the hello."""
    pings = [orjson.dumps({"type": "ping", "req": i}).decode() for i in range(3)]
    async with await send_held(ws_url(live, token=token("ana")), pings, held_join) as ana:
        received = await messages(ana, 4)
    assert received[0]["type"] == "hello"
    assert received[1] == {"type": "ack", "for": "ping", "req": 0}
    assert received[2] == {"type": "ack", "for": "ping", "req": 1}
    assert received[3]["code"] == "rate_limited" and received[3]["req"] == 2, received
    assert received[3]["retry_after_ms"] > 0


async def test_as_many_early_messages_as_the_in_flight_bound_are_all_answered(
    live: LiveServer, held_join: asyncio.Event
) -> None:
    pings = [orjson.dumps({"type": "ping", "req": i}).decode() for i in range(MAX_IN_FLIGHT)]
    async with await send_held(ws_url(live, token=token("ana")), pings, held_join) as ana:
        received = await messages(ana, MAX_IN_FLIGHT + 1)
    assert received[0]["type"] == "hello"
    assert received[1:] == [{"type": "ack", "for": "ping", "req": i} for i in range(MAX_IN_FLIGHT)]


async def test_more_early_messages_than_the_in_flight_bound_close_1008_with_no_reply(
    live: LiveServer, held_join: asyncio.Event
) -> None:
    """Past MAX_IN_FLIGHT messages before the hello the socket is closed: no hello, no
    reply, and nothing that was kept is handled."""
    pings = [orjson.dumps({"type": "ping", "req": i}).decode() for i in range(MAX_IN_FLIGHT + 1)]
    async with await send_held(ws_url(live, token=token("ana")), pings, held_join) as ana:
        code, _ = await ana.closed()
    assert code == 1008
    assert ana.others == []


async def test_early_messages_of_a_refused_join_are_dropped(
    live: LiveServer, held_join: asyncio.Event
) -> None:
    """A banned user's socket gets the refusal and its close, nothing else."""
    await moderation.ban(live.runtime, SHOW, "ana", by="mo")
    async with await send_held(ws_url(live, token=token("ana")), EARLY, held_join) as ana:
        code, _ = await ana.closed()
    assert code == 4403
    assert [(m["type"], m["code"]) for m in ana.others] == [("error", "banned")]


async def test_a_socket_that_leaves_while_the_show_is_loading_does_not_stop_the_others_joining(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first joins of a show wait for its room to load; one of them going away (its
    join is cancelled) must not cancel the load the others wait on."""
    release = asyncio.Event()
    real = Room._load

    async def held(room: Room) -> str:
        await release.wait()
        return await real(room)

    monkeypatch.setattr(Room, "_load", held)
    leaver = await HubClient.open(ws_url(live, token=token("lea")), expect_hello=False)
    stayer = await HubClient.open(ws_url(live, token=token("sam")), expect_hello=False)
    await asyncio.sleep(0.2)  # both joins are waiting on the room
    await leaver.close()
    await asyncio.sleep(0.2)  # the node has seen it go
    release.set()
    async with stayer:
        hello = await stayer.next_of("hello")
        assert hello["you"]["user"] == "sam"
        assert (await stayer.request("ping"))["type"] == "ack"
