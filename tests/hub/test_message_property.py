"""One edge for every request (issue 15), over the hub's socket: every message type of
livecart.hub.commands, sent with one thing wrong (an unknown field, a wrong type, a
value out of range, a control character in text), gets one ``error`` reply naming the
field (docs/protocol.md: ``code`` ``invalid``, ``field``, the message's ``req`` and
``for``), leaves every key in Redis as it was (tests/keyspace.py), and the socket
still answers a ``ping`` afterwards. So does a broken envelope.

The messages come from an admin's socket, which every type allows, so that the
message's own checks are reached; the node's message rates are raised for the same
reason (the rates have their own tests in test_abuse.py). One real server serves the
whole module.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis
from websockets.exceptions import ConnectionClosed

from livecart.config import Settings
from livecart.hub.commands import HANDLERS
from livecart.store.embedded import EmbeddedRedis
from tests.bad_input import (
    BadBody,
    Id,
    Kind,
    Obj,
    OneOf,
    Pattern,
    Problem,
    Text,
    Whole,
    Words,
    bad_bodies,
    json_values,
)
from tests.commerce.conftest import seed_show
from tests.conftest import CLUSTER
from tests.helpers import (
    STRONG_ADMIN_KEY,
    STRONG_SECRET,
    LiveServer,
    flush_store,
    raw_client,
    serve_app,
)
from tests.hub.live import SHOW, HubClient, token, ws_url
from tests.keyspace import Snapshot, differences, snapshot

pytestmark = pytest.mark.asyncio(loop_scope="module")

examples = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    # No shrinking: an example is already one problem in one field, and shrinking would
    # replay hundreds of requests (each with two keyspace reads) against a real server.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
ENVELOPE = frozenset({"type", "req"})

# --- the table: every message type of docs/protocol.md ---------------------------------

BUYING: dict[str, Kind] = {
    "sku": Id(required=True),
    "quantity": Whole(1, 100),
    "price": Whole(0, 10**11),
    "ref": Id(),
}
NO_FIELDS: tuple[Obj, Mapping[str, Any]] = (Obj({}), {})
USER = (Obj({"user": Id(required=True)}), {"user": "bob"})
REASON = (Obj({"reason": Text(200)}), {"reason": "restocking"})
AUCTION = (Obj({"auction": Id(required=True)}), {"auction": "a_edge"})
GIVEAWAY = (Obj({"giveaway": Id(required=True)}), {"giveaway": "g_edge"})
NOT_STREAM_IDS = st.sampled_from(
    ["abc", "1-", "-1", "1-0-0", "1.5-0", "0x1-0", "1-a", "18446744073709551616-0", ""]
)

MESSAGES: dict[str, tuple[Obj, Mapping[str, Any]]] = {
    "ping": NO_FIELDS,
    "buy": (
        Obj({**BUYING, "idempotency_key": Id(required=True)}),
        {"sku": "p-plain", "quantity": 1, "idempotency_key": "edge-tap", "price": 1000},
    ),
    "checkout": (Obj({"idempotency_key": Id(required=True)}), {"idempotency_key": "edge-co"}),
    "cart_add": (Obj(BUYING), {"sku": "p-plain", "quantity": 1, "ref": "c1"}),
    "cart_remove": (Obj({"sku": Id(required=True), "quantity": Whole(0, 100)}), {"sku": "p-plain"}),
    "cart_view": NO_FIELDS,
    "chat": (Obj({"text": Text(500, required=True)}), {"text": "is the beanie warm?"}),
    "react": (
        Obj({"kind": OneOf(("heart", "fire", "clap", "laugh", "wow"), required=True)}),
        {"kind": "heart"},
    ),
    "pin": (Obj({"sku": Id(required=True)}), {"sku": "p-plain"}),
    "unpin": NO_FIELDS,
    "flash_start": (
        Obj(
            {
                "sku": Id(required=True),
                "price": Whole(0, 10**11, required=True),
                "quantity": Whole(1, 1_000_000, required=True),
                "per_buyer_limit": Whole(0, 100),
                "countdown_s": Whole(0, 3600),
                "duration_s": Whole(1, 21_600, required=True),
            }
        ),
        {"sku": "p-plain", "price": 800, "quantity": 5, "countdown_s": 10, "duration_s": 60},
    ),
    "flash_stop": NO_FIELDS,
    "show_start": NO_FIELDS,
    "show_end": NO_FIELDS,
    "mute": (
        Obj({"user": Id(required=True), "seconds": Whole(1, 604_800, required=True)}),
        {"user": "bob", "seconds": 60},
    ),
    "unmute": USER,
    "ban": USER,
    "unban": USER,
    "delete_message": (
        Obj({"message_id": Pattern(NOT_STREAM_IDS, required=True)}),
        {"message_id": "1-0"},
    ),
    "slow_mode": (Obj({"seconds": Whole(0, 3600, required=True)}), {"seconds": 0}),
    "sales_pause": REASON,
    "sales_resume": REASON,
    "blocked_keywords": (Obj({"words": Words(500, required=True)}), {"words": ["scam"]}),
    "bid": (
        Obj(
            {
                "auction": Id(required=True),
                "amount": Whole(1, 10**11, required=True),
                "max": Whole(1, 10**11),
            }
        ),
        {"auction": "a_edge", "amount": 10**9, "max": 2 * 10**9},
    ),
    "auction_accept": AUCTION,
    "auction_start": (
        Obj(
            {
                "sku": Id(required=True),
                "start_price": Whole(0, 10**11, required=True),
                "increment": Whole(1, 10**11),
                "duration_s": Whole(5, 600, required=True),
                "mode": OneOf(("sudden_death", "extended")),
                "extend_s": Whole(1, 60),
            }
        ),
        {
            "sku": "p-plain",
            "start_price": 1000,
            "increment": 100,
            "duration_s": 60,
            "mode": "extended",
            "extend_s": 10,
        },
    ),
    "auction_offer": (
        Obj({"auction": Id(required=True), "seconds": Whole(10, 3600)}),
        {"auction": "a_edge", "seconds": 60},
    ),
    "auction_release": AUCTION,
    "auction_cancel": (
        Obj({"auction": Id(required=True), "reason": Text(200)}),
        {"auction": "a_edge", "reason": "wrong lot"},
    ),
    "auction_remove_bidder": (
        Obj({"auction": Id(required=True), "user": Id(required=True)}),
        {"auction": "a_edge", "user": "bob"},
    ),
    "giveaway_enter": GIVEAWAY,
    "giveaway_start": (
        Obj(
            {
                "sku": Id(required=True),
                "duration_s": Whole(5, 600, required=True),
                "shipping": OneOf(("free", "winner_pays")),
            }
        ),
        {"sku": "p-plain", "duration_s": 60, "shipping": "free"},
    ),
    "giveaway_draw": GIVEAWAY,
    "giveaway_redraw": GIVEAWAY,
    "giveaway_release": GIVEAWAY,
    "giveaway_cancel": (
        Obj({"giveaway": Id(required=True), "reason": Text(200)}),
        {"giveaway": "g_edge", "reason": "wrong item"},
    ),
}


def with_problem(problem: Problem) -> list[str]:
    return [
        kind
        for kind, (schema, valid) in MESSAGES.items()
        if bad_bodies(schema, valid, problem, reserved=ENVELOPE) is not None
    ]


# --- one server and one admin socket for the module -------------------------------------


class Hub:
    """The module's server, an admin's socket on show s1 (opened again if the server
    closes it), and a Redis client for snapshots."""

    def __init__(self, live: LiveServer, redis: Redis) -> None:
        self.live, self.redis = live, redis
        self.client: HubClient | None = None
        self.reqs = itertools.count(1)
        self.known: Snapshot | None = None  # the keyspace after the last refusal
        self.failures: dict[tuple[str | None, str], str] = {}

    def __repr__(self) -> str:
        return f"Hub({self.live.url})"

    async def socket(self) -> HubClient:
        if self.client is None or self.client.ws.close_code is not None:
            self.client = await HubClient.open(ws_url(self.live, token=token("root", "admin")))
            await asyncio.sleep(0.05)  # its first events frame, if any, before the snapshot
        return self.client

    async def reply(self, client: HubClient, req: str | None) -> dict[str, Any]:
        """The reply to ``req``; with None, the next error (an envelope's has no req)."""
        while True:
            message = await client.receive(5.0)
            if message.get("type") in ("events", "state", "hello"):
                continue
            if req is None and message.get("type") == "error":
                return message
            if req is not None and message.get("req") == req:
                return message

    async def refused(
        self,
        what: str,
        text: str,
        *,
        req: str | None,
        kind: str | None,
        codes: tuple[str, ...],
        fields: tuple[str, ...] | None,
    ) -> None:
        """Send ``text``: it must get one error with one of ``codes`` (naming one of
        ``fields`` unless None; echoing ``req`` and ``for`` unless None), change no key,
        and leave the socket answering a ping."""
        client = await self.socket()
        # The keyspace read after the previous message when that one changed nothing.
        before = self.known if self.known is not None else await snapshot(self.redis)
        self.known = None
        wrong: list[str] = []
        reply: dict[str, Any] | None = None
        try:
            await client.ws.send(text)
            reply = await self.reply(client, req)
            ping = f"ping-{next(self.reqs)}"
            await client.ws.send(orjson.dumps({"type": "ping", "req": ping}).decode())
            pong = await self.reply(client, ping)
            if pong.get("type") != "ack":
                wrong.append(f"a ping after it was answered {pong}")
        except (ConnectionClosed, TimeoutError) as exc:
            code = client.ws.close_code
            wrong.append(
                f"the socket was closed ({code} {client.ws.close_reason!r}) or silent: {exc!r}"
            )
        after = await snapshot(self.redis)
        if reply is not None:
            wrong += error_problems(reply, req=req, kind=kind, codes=codes, fields=fields)
        changed = differences(before, after)
        if not changed:
            self.known = after
        if wrong or changed:
            shown = text if len(text) < 200 else text[:200] + f"... ({len(text)} characters)"
            report = "\n".join(
                [
                    f"{kind or 'envelope'}: {what}",
                    f"  -> {shown}",
                    f"  <- {orjson.dumps(reply).decode()[:300] if reply else None}",
                    *(f"  {line}" for line in wrong),
                    *(f"  keyspace: {line}" for line in changed),
                ]
            )
            # Hypothesis sends a failing example again to report it (with a new req);
            # when the first one wrote something, report the first.
            first = self.failures.setdefault((kind, what), report)
            raise AssertionError(first if first == report else f"{first}\n(sent again: {report})")


def error_problems(
    reply: dict[str, Any],
    *,
    req: str | None,
    kind: str | None,
    codes: tuple[str, ...],
    fields: tuple[str, ...] | None,
) -> list[str]:
    problems = []
    if reply.get("type") != "error":
        problems.append(f"type is {reply.get('type')!r}, wanted 'error'")
    if reply.get("code") not in codes:
        problems.append(f"code is {reply.get('code')!r}, wanted {' or '.join(codes)}")
    if not isinstance(reply.get("message"), str) or not reply["message"]:
        problems.append("message is missing or empty")
    if fields is not None and reply.get("field") not in fields:
        problems.append(f"field is {reply.get('field')!r}, wanted {' or '.join(map(repr, fields))}")
    if req is not None and reply.get("req") != req:
        problems.append(f"req is {reply.get('req')!r}, wanted {req!r} echoed")
    if kind is not None and reply.get("for") != kind:
        problems.append(f"for is {reply.get('for')!r}, wanted {kind!r}")
    return problems


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(redis_server: EmbeddedRedis) -> AsyncIterator[Hub]:
    server_settings = Settings().with_overrides(
        {
            "redis": {"url": redis_server.url, "cluster": bool(CLUSTER)},
            "auth": {"secret": STRONG_SECRET, "admin_api_key": STRONG_ADMIN_KEY},
            "server": {"port": 0},
            "hub": {
                "tick_ms": 10,
                "messages_per_s": 10_000,
                "chat_per_s": 1000,
                "buys_per_s": 1000,
                "reacts_per_s": 1000,
            },
        }
    )
    raw = raw_client(server_settings)
    await flush_store(raw)
    async with serve_app(server_settings) as live:
        await seed_show(live.runtime, SHOW)
        state = Hub(live, raw)
        await state.socket()
        yield state
        if state.client is not None:
            await state.client.close()
    await raw.aclose()


def as_text(message: Any) -> str:
    """JSON text of ``message``; integers beyond 64 bits too (orjson refuses those)."""
    try:
        return orjson.dumps(message).decode()
    except TypeError:
        return json.dumps(message)


@pytest.fixture(autouse=True)
def fresh_keyspace(hub: Hub) -> None:
    """Each test reads the keyspace afresh before its first message."""
    hub.known = None


# --- the table covers the hub -----------------------------------------------------------


async def test_the_table_names_every_message_type() -> None:
    assert set(MESSAGES) == set(HANDLERS)


# --- each message type's own fields ------------------------------------------------------


_strategies: dict[tuple[str, Problem], st.SearchStrategy[BadBody]] = {}


async def refused_message(hub: Hub, kind: str, problem: Problem, data: st.DataObject) -> None:
    strategy = _strategies.get((kind, problem))
    if strategy is None:
        schema, valid = MESSAGES[kind]
        strategy = bad_bodies(schema, valid, problem, reserved=ENVELOPE)
        assert strategy is not None
        _strategies[kind, problem] = strategy
    bad: BadBody = data.draw(strategy)
    req = f"r{next(hub.reqs)}"
    await hub.refused(
        bad.what,
        as_text({"type": kind, "req": req, **bad.body}),
        req=req,
        kind=kind,
        codes=("invalid",),
        fields=bad.fields,
    )


@pytest.mark.parametrize("kind", with_problem("unknown"))
@examples
@given(data=st.data())
async def test_an_unknown_field_is_refused_by_name(
    hub: Hub, kind: str, data: st.DataObject
) -> None:
    await refused_message(hub, kind, "unknown", data)


@pytest.mark.parametrize("kind", with_problem("type"))
@examples
@given(data=st.data())
async def test_a_field_of_the_wrong_type_is_refused_by_name(
    hub: Hub, kind: str, data: st.DataObject
) -> None:
    await refused_message(hub, kind, "type", data)


@pytest.mark.parametrize("kind", with_problem("range"))
@examples
@given(data=st.data())
async def test_a_value_out_of_range_is_refused_by_name(
    hub: Hub, kind: str, data: st.DataObject
) -> None:
    await refused_message(hub, kind, "range", data)


@pytest.mark.parametrize("kind", with_problem("control"))
@examples
@given(data=st.data())
async def test_text_with_a_control_character_is_refused_by_name(
    hub: Hub, kind: str, data: st.DataObject
) -> None:
    await refused_message(hub, kind, "control", data)


# --- the envelope ------------------------------------------------------------------------

bad_reqs = (
    st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
    | st.text(min_size=65, max_size=70)
    | st.integers(min_value=2**53)
    | st.integers(max_value=-(2**53))
)
bad_types = st.none() | st.booleans() | st.integers() | st.lists(st.text(max_size=3), max_size=2)


@examples
@given(
    way=st.sampled_from(["req", "type", "no type", "unknown type", "not an object", "not JSON"]),
    data=st.data(),
)
async def test_a_bad_envelope_gets_an_error_and_the_socket_stays_usable(
    hub: Hub, way: str, data: st.DataObject
) -> None:
    req = f"r{next(hub.reqs)}"
    if way == "req":
        bad_req = data.draw(bad_reqs)
        await hub.refused(
            f"req = {bad_req!r}",
            as_text({"type": "ping", "req": bad_req}),
            req=None,
            kind=None,
            codes=("invalid",),
            fields=("req",),
        )
    elif way in ("type", "no type"):
        message: dict[str, Any] = {"req": req}
        if way == "type":
            message["type"] = data.draw(bad_types)
        await hub.refused(
            f"type = {message.get('type')!r}",
            as_text(message),
            req=None,
            kind=None,
            codes=("invalid",),
            fields=("type",),
        )
    elif way == "unknown type":
        kind = data.draw(st.text(min_size=1, max_size=50).filter(lambda k: k not in HANDLERS))
        await hub.refused(
            f"type = {kind!r}",
            as_text({"type": kind, "req": req}),
            req=req,
            kind=kind[:40],
            codes=("unknown_type",),
            fields=None,
        )
    else:
        text = data.draw(
            st.one_of(st.lists(json_values, max_size=2), st.text(max_size=5), st.integers()).map(
                as_text
            )
            if way == "not an object"
            else st.sampled_from(["{", "nul", "{'type': 'ping'}", '{"type": }', "[1,"])
        )
        await hub.refused(
            f"{way}: {text!r}", text, req=None, kind=None, codes=("bad_json",), fields=None
        )
