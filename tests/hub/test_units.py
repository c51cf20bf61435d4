"""The hub's pure parts, without a server: framing, folding, tick planning, delivery
slices, rate limits, the message envelope."""

from __future__ import annotations

import math

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from livecart.errors import InvalidInput
from livecart.hub.events import HubEvent, events_payload, fold, parse_stream_id
from livecart.hub.limits import JoinTurns, TokenBucket
from livecart.hub.protocol import decode_inbound
from livecart.hub.room import DELIVERY_SLICE_MAX, DELIVERY_SLICE_MIN, next_slice
from livecart.hub.ticks import plan_ticks
from livecart.hub.wire import PING_FRAME, text_frame


def _parse(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        return frame
    raise AssertionError("the frame was incomplete")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_text_frame_is_what_websockets_parses_back(size: int) -> None:
    payload = b"x" * size
    frame = _parse(text_frame(payload))
    assert frame.opcode is Opcode.TEXT and frame.fin and frame.data == payload


def test_ping_frame_is_an_empty_ping() -> None:
    frame = _parse(PING_FRAME)
    assert frame.opcode is Opcode.PING and frame.data == b""


def _event(n: int, kind: str, **data: object) -> HubEvent:
    return HubEvent.from_entry(f"1000-{n}", {"type": kind, "data": orjson.dumps(data).decode()})


def test_event_raw_is_the_stored_json_in_an_envelope() -> None:
    event = HubEvent.from_entry("5-1", {"type": "pinned", "data": '{"sku":"a","n":1}'})
    assert orjson.loads(event.raw) == {"id": "5-1", "type": "pinned", "data": {"sku": "a", "n": 1}}
    assert event.key == (5, 1) and not event.staff_only


def test_moderation_of_users_is_for_staff_only() -> None:
    assert _event(1, "muted", user="u").staff_only
    assert _event(2, "blocked_keywords", words=[]).staff_only
    assert not _event(3, "chat", text="hi").staff_only


def test_fold_keeps_latest_stock_per_product_in_place_and_order_of_the_rest() -> None:
    events = [
        _event(1, "stock", sku="a", stock=9),
        _event(2, "pinned", sku="a"),
        _event(3, "stock", sku="b", stock=4),
        _event(4, "stock", sku="a", stock=8),
        _event(5, "chat", text="hi"),
        _event(6, "viewers", count=10),
        _event(7, "viewers", count=12),
    ]
    folded = fold(events)
    assert [(e.id, e.type) for e in folded] == [
        ("1000-2", "pinned"),
        ("1000-3", "stock"),
        ("1000-4", "stock"),
        ("1000-5", "chat"),
        ("1000-7", "viewers"),
    ]


def test_fold_sums_reactions_into_the_last_reaction_event() -> None:
    events = [
        _event(1, "reactions", counts={"heart": 2}),
        _event(2, "chat", text="x"),
        _event(3, "reactions", counts={"heart": 1, "fire": 4}),
    ]
    folded = fold(events)
    assert [e.type for e in folded] == ["chat", "reactions"]
    assert folded[1].id == "1000-3"
    assert orjson.loads(folded[1].raw)["data"] == {"counts": {"heart": 3, "fire": 4}}


def test_fold_of_ordered_events_changes_nothing() -> None:
    events = [_event(i, "chat", text=str(i)) for i in range(5)]
    assert fold(events) == events


def test_events_payload_is_valid_json_naming_the_resume_point() -> None:
    events = [_event(1, "chat", text='a "quoted" é'), _event(2, "stock", sku="a", stock=1)]
    body = orjson.loads(events_payload("ep", "1000-9", events, replay=True))
    assert body["type"] == "events" and body["epoch"] == "ep" and body["last"] == "1000-9"
    assert body["replay"] is True
    assert [e["data"] for e in body["events"]] == [
        {"text": 'a "quoted" é'},
        {"sku": "a", "stock": 1},
    ]


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("1-0", (1, 0)),
        ("1700000000000-42", (1700000000000, 42)),
        ("", None),
        ("1", None),
        ("a-b", None),
        ("1-2-3", None),
        ("-1-0", None),
    ],
)
def test_parse_stream_id(value: str, parsed: tuple[int, int] | None) -> None:
    assert parse_stream_id(value) == parsed


def test_small_rooms_keep_the_base_tick_and_big_rooms_slow_down() -> None:
    plan = plan_ticks({"big": 10_000, "small": 50}, base_ms=50, max_ms=1000, budget_per_s=50_000)
    assert plan["small"] == 50
    assert plan["big"] > 50
    assert 50 * 1000 / plan["small"] + 10_000 * 1000 / plan["big"] <= 50_000


def test_ticks_never_pass_the_maximum() -> None:
    plan = plan_ticks({"huge": 1_000_000}, base_ms=50, max_ms=1000, budget_per_s=100)
    assert plan["huge"] == 1000


@given(
    sizes=st.dictionaries(st.text(min_size=1, max_size=4), st.integers(0, 20_000), max_size=20),
    budget=st.integers(100, 200_000),
)
def test_planned_ticks_stay_within_the_budget_unless_capped(
    sizes: dict[str, int], budget: int
) -> None:
    plan = plan_ticks(sizes, base_ms=50, max_ms=1000, budget_per_s=budget)
    assert set(plan) == set(sizes)
    assert all(50 <= tick <= 1000 for tick in plan.values())
    if all(tick < 1000 for tick in plan.values()):
        assert sum(sizes[r] * 1000 / plan[r] for r in plan) <= budget * 1.0001


def test_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3.0, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)
    assert bucket.take(0.5) == 0.0
    assert bucket.take(0.5) > 0


def test_a_refused_take_counts_nothing() -> None:
    bucket = TokenBucket(rate=1.0, burst=1.0, now=0.0)
    bucket.take(0.0)
    for _ in range(10):
        assert bucket.take(0.1) > 0
    assert bucket.take(1.0) == 0.0


def test_joins_past_the_rate_are_given_turns_one_after_another() -> None:
    turns = JoinTurns(rate=10.0, burst=2.0, now=0.0)
    assert [turns.take(0.0) for _ in range(2)] == [0.0, 0.0]
    waits = [turns.take(0.0) for _ in range(5)]
    assert waits == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])


def test_each_refused_join_that_comes_back_at_its_turn_is_admitted() -> None:
    """A storm of 50 joins at once on a rate of 10 a second (burst 10): the 40 refused,
    each back at the turn it was given, are all admitted: no join is refused twice."""
    turns = JoinTurns(rate=10.0, burst=10.0, now=0.0)
    back_at = sorted(wait for wait in (turns.take(0.0) for _ in range(50)) if wait)
    assert len(back_at) == 40
    assert all(turns.take(at + 1e-9) == 0.0 for at in back_at)


def test_turns_start_from_now_once_the_queue_has_passed() -> None:
    turns = JoinTurns(rate=1.0, burst=1.0, now=0.0)
    turns.take(0.0)
    assert turns.take(0.0) == pytest.approx(1.0)
    assert turns.take(100.0) == 0.0
    assert turns.take(100.0) == pytest.approx(1.0)


def test_envelope_decodes_type_and_req() -> None:
    inbound = decode_inbound('{"type":"chat","req":7,"text":"hi"}')
    assert (inbound.type, inbound.req, inbound.body["text"]) == ("chat", 7, "hi")


@pytest.mark.parametrize(
    ("text", "code", "field"),
    [
        ("{not json", "bad_json", None),
        ("[1,2]", "bad_json", None),
        ('"chat"', "bad_json", None),
        ('{"req":1}', "invalid", "type"),
        ('{"type":5}', "invalid", "type"),
        ('{"type":"chat","req":{"a":1}}', "invalid", "req"),
        ('{"type":"chat","req":true}', "invalid", "req"),
        ('{"type":"chat","req":"' + "x" * 65 + '"}', "invalid", "req"),
    ],
)
def test_bad_envelopes_are_named(text: str, code: str, field: str | None) -> None:
    with pytest.raises(InvalidInput) as refused:
        decode_inbound(text)
    assert refused.value.code == code
    assert refused.value.field == field


def test_a_frame_yields_often_while_its_tick_has_time_to_spare() -> None:
    # 5 000 sockets at 7 us, yields of 1 ms, a tick of 100 ms: 35 ms of writes, and room
    # for 65 yields, so the smallest slices.
    assert next_slice(5000, 7e-6, 0.001, 0.1) == DELIVERY_SLICE_MIN


def test_a_frame_yields_as_often_as_ends_it_in_time() -> None:
    left, per_socket_s, yield_s, time_left_s = 5000, 7e-6, 0.01, 0.1
    size = next_slice(left, per_socket_s, yield_s, time_left_s)
    assert DELIVERY_SLICE_MIN < size < DELIVERY_SLICE_MAX
    yields = math.ceil(left / size)
    assert yields * yield_s + left * per_socket_s <= time_left_s + yield_s


@pytest.mark.parametrize("time_left_s", [0.0, -1.0, 0.02])
def test_a_frame_short_of_time_takes_the_largest_slices(time_left_s: float) -> None:
    assert next_slice(10_000, 7e-6, 0.01, time_left_s) == DELIVERY_SLICE_MAX


def test_a_slice_is_never_more_than_the_sockets_left() -> None:
    assert next_slice(40, 7e-6, 0.01, 0.0) == 40
    assert next_slice(40, 7e-6, 0.0, 1.0) == 40
