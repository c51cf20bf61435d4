"""Chat, moderation, reactions and presence: each change is one script that appends its
event; refusals and no-ops change nothing and append nothing; time is Redis TIME."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from livecart.errors import Forbidden, InvalidInput, NotFound, RateLimited
from livecart.hub import moderation as m
from livecart.runtime import Runtime
from livecart.store import keys
from tests.commerce.conftest import SHOW, seed_show

Call = Callable[[Runtime], Awaitable[Any]]


@pytest.fixture
async def show(runtime: Runtime) -> AsyncIterator[str]:
    yield await seed_show(runtime)


def with_hub(runtime: Runtime, **hub: Any) -> Runtime:
    """The same runtime (same Redis, same scripts) with some hub settings changed."""
    return dataclasses.replace(runtime, settings=runtime.settings.with_overrides({"hub": hub}))


async def events(runtime: Runtime, show: str = SHOW) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f["type"], orjson.loads(f["data"]))
        for _, f in await runtime.redis.xrange(keys.show_events(show))
    ]


async def hub_events(runtime: Runtime) -> list[tuple[str, dict[str, Any]]]:
    """The show's events after those seed_show appended."""
    return [e for e in await events(runtime) if e[0] not in ("show_created", "show_started")]


async def redis_now_ms(redis: Redis) -> int:
    seconds, micros = await redis.time()
    return int(seconds) * 1000 + int(micros) // 1000


def stream_key(stream_id: str) -> tuple[int, int]:
    ms, seq = stream_id.split("-")
    return int(ms), int(seq)


async def slot_state(redis: Redis, show: str = SHOW) -> dict[str, Any]:
    """Every key of the show's slot with its whole content: equal before and after a call
    means the call changed nothing and appended nothing."""
    state: dict[str, Any] = {}
    slot = keys.show(show).rsplit(":", 1)[0]
    async for key in redis.scan_iter(match=f"{slot}:*"):
        kind = await redis.type(key)
        if kind == "string":
            state[key] = await redis.get(key)
        elif kind == "hash":
            state[key] = await redis.hgetall(key)
        elif kind == "list":
            state[key] = await redis.lrange(key, 0, -1)
        elif kind == "set":
            state[key] = sorted(await redis.smembers(key))
        elif kind == "zset":
            state[key] = await redis.zrange(key, 0, -1, withscores=True)
        elif kind == "stream":
            state[key] = await redis.xrange(key)
        else:
            raise AssertionError(f"{key}: unexpected type {kind}")
    return state


async def post(runtime: Runtime, user: str, text: str, *, staff: bool = False) -> m.ChatPosted:
    return await m.post_chat(runtime, SHOW, user, text, staff=staff)


# --- chat ------------------------------------------------------------------------------


async def test_a_posted_message_is_one_chat_event_and_joins_recent_chat(
    runtime: Runtime, show: str
) -> None:
    before = await redis_now_ms(runtime.redis)
    posted = await post(runtime, "ana", "  hello there  ")
    after = await redis_now_ms(runtime.redis)

    last_id, fields = (await runtime.redis.xrevrange(keys.show_events(SHOW), count=1))[0]
    assert posted.message_id == last_id
    assert fields["type"] == "chat"
    assert orjson.loads(fields["data"]) == {"user": "ana", "text": "hello there", "staff": False}
    assert before <= posted.sent_at_ms <= after
    assert await m.recent_chat(runtime.redis, SHOW) == [
        {
            "id": posted.message_id,
            "user": "ana",
            "text": "hello there",
            "staff": False,
            "sent_at_ms": posted.sent_at_ms,
        }
    ]


async def test_chat_text_comes_back_exactly_as_posted(runtime: Runtime, show: str) -> None:
    text = 'He said "hi" / \\ <b>ünïcödé</b> 👋 {"json": [1]}'
    posted = await post(runtime, "ana", text)
    assert (await hub_events(runtime))[0][1]["text"] == text
    assert (await m.recent_chat(runtime.redis, SHOW))[0]["text"] == text
    assert (await m.recent_chat(runtime.redis, SHOW))[0]["id"] == posted.message_id


async def test_recent_chat_is_oldest_first_and_marks_staff(runtime: Runtime, show: str) -> None:
    await post(runtime, "ana", "first")
    await post(runtime, "mod1", "second", staff=True)
    history = await m.recent_chat(runtime.redis, SHOW)
    assert [(h["user"], h["text"], h["staff"]) for h in history] == [
        ("ana", "first", False),
        ("mod1", "second", True),
    ]
    assert (await hub_events(runtime))[1] == (
        "chat",
        {"user": "mod1", "text": "second", "staff": True},
    )


async def test_recent_chat_is_capped_and_forgets_the_messages_it_drops(
    runtime: Runtime, show: str
) -> None:
    small = with_hub(runtime, chat_history=3)
    for i in range(5):
        await post(small, "ana", f"m{i}")
    assert [h["text"] for h in await m.recent_chat(runtime.redis, SHOW)] == ["m2", "m3", "m4"]
    assert await runtime.redis.llen(keys.show_chat_ids(SHOW)) == 3
    assert await runtime.redis.hlen(keys.show_chat_messages(SHOW)) == 3
    assert [kind for kind, _ in await hub_events(runtime)] == ["chat"] * 5


@pytest.mark.parametrize(
    "text",
    ["", "   ", "x" * 501, "nul\x00byte", "two\nlines", "tab\there", "del\x7f", "\ud800", 42],
    ids=["empty", "blank", "too-long", "nul", "newline", "tab", "del", "surrogate", "not-str"],
)
async def test_bad_chat_text_is_refused_naming_text_and_changes_nothing(
    runtime: Runtime, show: str, text: Any
) -> None:
    before = await slot_state(runtime.redis)
    assert keys.show_events(SHOW) in before  # the snapshot does see the show's keys
    with pytest.raises(InvalidInput) as caught:
        await post(runtime, "ana", text)
    assert caught.value.field == "text"
    assert await slot_state(runtime.redis) == before


async def test_a_message_of_exactly_the_longest_length_is_accepted(
    runtime: Runtime, show: str
) -> None:
    await post(with_hub(runtime, chat_max_chars=5), "ana", "12345")
    with pytest.raises(InvalidInput):
        await post(with_hub(runtime, chat_max_chars=5), "ana", "123456")


# --- deleting messages ---------------------------------------------------------------


async def test_delete_removes_a_message_from_recent_chat_and_emits_once(
    runtime: Runtime, show: str
) -> None:
    first = await post(runtime, "ana", "rude")
    second = await post(runtime, "bob", "nice")

    assert await m.delete_message(runtime, SHOW, first.message_id, by="mod1")
    assert [h["id"] for h in await m.recent_chat(runtime.redis, SHOW)] == [second.message_id]
    before = await slot_state(runtime.redis)
    assert not await m.delete_message(runtime, SHOW, first.message_id, by="mod1")
    assert await slot_state(runtime.redis) == before

    deleted = [data for kind, data in await hub_events(runtime) if kind == "message_deleted"]
    assert deleted == [{"message_id": first.message_id, "by": "mod1"}]


async def test_a_message_aged_out_of_recent_chat_can_still_be_deleted_once(
    runtime: Runtime, show: str
) -> None:
    small = with_hub(runtime, chat_history=2)
    old = await post(small, "ana", "old")
    for i in range(3):
        await post(small, "bob", f"newer {i}")
    assert old.message_id not in [h["id"] for h in await m.recent_chat(runtime.redis, SHOW)]

    assert await m.delete_message(small, SHOW, old.message_id, by="mod1")
    assert not await m.delete_message(small, SHOW, old.message_id, by="mod2")
    deleted = [data for kind, data in await hub_events(runtime) if kind == "message_deleted"]
    assert deleted == [{"message_id": old.message_id, "by": "mod1"}]


async def test_deleting_an_id_that_is_no_chat_message_is_refused_and_changes_nothing(
    runtime: Runtime, show: str
) -> None:
    await post(runtime, "ana", "hi")
    started_id = (await runtime.redis.xrange(keys.show_events(SHOW)))[1][0]  # show_started
    before = await slot_state(runtime.redis)
    for message_id in ("1-0", started_id, "99999999999999-0"):
        with pytest.raises(NotFound) as caught:
            await m.delete_message(runtime, SHOW, message_id, by="mod1")
        assert (caught.value.code, caught.value.field) == ("message_not_found", "message_id")
    assert await slot_state(runtime.redis) == before


async def test_deleted_ids_are_forgotten_once_the_stream_no_longer_holds_them(
    runtime: Runtime, show: str
) -> None:
    short = with_hub(runtime, stream_max_events=100)
    old = await post(short, "ana", "old")
    assert await m.delete_message(short, SHOW, old.message_id, by="mod1")
    for _ in range(300):  # MAXLEN ~ trims whole nodes of 100 entries
        await m.publish_reactions(short, SHOW, {"heart": 1})
    oldest = (await runtime.redis.xrange(keys.show_events(SHOW), count=1))[0][0]
    assert stream_key(oldest) > stream_key(old.message_id)

    new = await post(short, "bob", "new")
    assert await m.delete_message(short, SHOW, new.message_id, by="mod1")
    assert await runtime.redis.zrange(keys.show_chat_deleted(SHOW), 0, -1) == [new.message_id]
    with pytest.raises(NotFound):
        await m.delete_message(short, SHOW, old.message_id, by="mod1")


# --- bans and mutes ----------------------------------------------------------------------


async def test_ban_and_unban_each_append_one_event_and_repeat_changes_nothing(
    runtime: Runtime, show: str
) -> None:
    assert await m.ban(runtime, SHOW, "troll", by="mod1")
    before = await slot_state(runtime.redis)
    assert not await m.ban(runtime, SHOW, "troll", by="mod2")
    assert await slot_state(runtime.redis) == before
    assert await m.standing(runtime.redis, SHOW, "troll") == m.Standing(True, None)

    assert await m.unban(runtime, SHOW, "troll", by="mod1")
    before = await slot_state(runtime.redis)
    assert not await m.unban(runtime, SHOW, "troll", by="mod1")
    assert not await m.unban(runtime, SHOW, "never-banned", by="mod1")
    assert await slot_state(runtime.redis) == before
    assert await m.standing(runtime.redis, SHOW, "troll") == m.Standing(False, None)

    assert await hub_events(runtime) == [
        ("banned", {"user": "troll", "by": "mod1"}),
        ("unbanned", {"user": "troll", "by": "mod1"}),
    ]


async def test_a_banned_user_cannot_post_even_as_staff_until_unbanned(
    runtime: Runtime, show: str
) -> None:
    await m.ban(runtime, SHOW, "troll", by="mod1")
    before = await slot_state(runtime.redis)
    for staff in (False, True):
        with pytest.raises(Forbidden) as caught:
            await post(runtime, "troll", "let me in", staff=staff)
        assert caught.value.code == "banned"
    assert await slot_state(runtime.redis) == before
    await m.unban(runtime, SHOW, "troll", by="mod1")
    await post(runtime, "troll", "sorry")


async def test_the_ban_check_comes_before_the_mute_check(runtime: Runtime, show: str) -> None:
    await m.mute(runtime, SHOW, "troll", 60, by="mod1")
    await m.ban(runtime, SHOW, "troll", by="mod1")
    with pytest.raises(Forbidden) as caught:
        await post(runtime, "troll", "hi")
    assert caught.value.code == "banned"


async def test_a_mute_ends_at_redis_time_plus_its_seconds(runtime: Runtime, show: str) -> None:
    before = await redis_now_ms(runtime.redis)
    until_ms = await m.mute(runtime, SHOW, "ana", 600, by="mod1")
    after = await redis_now_ms(runtime.redis)
    assert before + 600_000 <= until_ms <= after + 600_000
    assert await hub_events(runtime) == [
        ("muted", {"user": "ana", "until_ms": until_ms, "by": "mod1"})
    ]
    assert await m.standing(runtime.redis, SHOW, "ana") == m.Standing(False, until_ms)


async def test_a_muted_user_is_refused_with_the_end_of_the_mute_and_nothing_changes(
    runtime: Runtime, show: str
) -> None:
    until_ms = await m.mute(runtime, SHOW, "ana", 60, by="mod1")
    before = await slot_state(runtime.redis)
    with pytest.raises(Forbidden) as caught:
        await post(runtime, "ana", "hello?")
    assert caught.value.code == "muted"
    assert caught.value.to_dict()["until_ms"] == until_ms
    assert await slot_state(runtime.redis) == before
    await post(runtime, "bob", "others still talk")


async def test_a_mute_expires_by_redis_time_without_an_unmute(runtime: Runtime, show: str) -> None:
    until_ms = await m.mute(runtime, SHOW, "ana", 1, by="mod1")
    with pytest.raises(Forbidden):
        await post(runtime, "ana", "still muted")
    await asyncio.sleep((until_ms - await redis_now_ms(runtime.redis)) / 1000 + 0.05)
    assert await redis_now_ms(runtime.redis) > until_ms

    assert await m.standing(runtime.redis, SHOW, "ana") == m.Standing(False, None)
    await post(runtime, "ana", "back")
    # The mute is over: lifting it is a no-op, and says so.
    before = await slot_state(runtime.redis)
    assert not await m.unmute(runtime, SHOW, "ana", by="mod1")
    assert await slot_state(runtime.redis) == before
    assert [kind for kind, _ in await hub_events(runtime)] == ["muted", "chat"]


async def test_unmute_lifts_a_mute_once(runtime: Runtime, show: str) -> None:
    await m.mute(runtime, SHOW, "ana", 600, by="mod1")
    assert await m.unmute(runtime, SHOW, "ana", by="mod2")
    assert not await m.unmute(runtime, SHOW, "ana", by="mod2")
    assert not await m.unmute(runtime, SHOW, "never-muted", by="mod2")
    await post(runtime, "ana", "thanks")
    assert [e for e in await hub_events(runtime) if e[0] != "muted"] == [
        ("unmuted", {"user": "ana", "by": "mod2"}),
        ("chat", {"user": "ana", "text": "thanks", "staff": False}),
    ]


async def test_a_new_mute_replaces_the_current_one(runtime: Runtime, show: str) -> None:
    long = await m.mute(runtime, SHOW, "ana", 3600, by="mod1")
    short = await m.mute(runtime, SHOW, "ana", 60, by="mod2")
    assert short < long
    assert await m.standing(runtime.redis, SHOW, "ana") == m.Standing(False, short)
    assert [data["until_ms"] for kind, data in await hub_events(runtime)] == [long, short]


@pytest.mark.parametrize("seconds", [0, -5, 7 * 86400 + 1, 1.5, True, "60"])
async def test_a_mute_length_out_of_range_is_refused_naming_seconds(
    runtime: Runtime, show: str, seconds: Any
) -> None:
    before = await slot_state(runtime.redis)
    with pytest.raises(InvalidInput) as caught:
        await m.mute(runtime, SHOW, "ana", seconds, by="mod1")
    assert caught.value.field == "seconds"
    assert await slot_state(runtime.redis) == before


# --- slow mode -----------------------------------------------------------------------------


async def test_slow_mode_makes_viewers_wait_but_not_staff(runtime: Runtime, show: str) -> None:
    assert await m.set_slow_mode(runtime, SHOW, 30, by="mod1")
    assert not await m.set_slow_mode(runtime, SHOW, 30, by="mod2")
    assert await m.chat_state(runtime.redis, SHOW) == {"slow_mode_s": 30}

    await post(runtime, "ana", "one")
    before = await slot_state(runtime.redis)
    with pytest.raises(RateLimited) as caught:
        await post(runtime, "ana", "two")
    assert caught.value.code == "slow_mode"
    assert 0 < caught.value.extra["retry_after_ms"] <= 30_000
    assert await slot_state(runtime.redis) == before

    await post(runtime, "bob", "someone else may talk")
    await post(runtime, "mod1", "staff one", staff=True)
    await post(runtime, "mod1", "staff two", staff=True)

    assert await m.set_slow_mode(runtime, SHOW, 0, by="mod1")
    assert await m.chat_state(runtime.redis, SHOW) == {"slow_mode_s": 0}
    await post(runtime, "ana", "two, now that slow mode is off")

    slow = [data for kind, data in await hub_events(runtime) if kind == "slow_mode"]
    assert slow == [{"seconds": 30, "by": "mod1"}, {"seconds": 0, "by": "mod1"}]


async def test_slow_mode_lets_one_message_of_a_burst_through(runtime: Runtime, show: str) -> None:
    await m.set_slow_mode(runtime, SHOW, 60, by="mod1")

    async def attempt(i: int) -> str:
        try:
            await post(runtime, "ana", f"spam {i}")
        except RateLimited as refused:
            return refused.code
        return "posted"

    outcomes = await asyncio.gather(*(attempt(i) for i in range(30)))
    assert sorted(outcomes) == ["posted"] + ["slow_mode"] * 29
    assert [kind for kind, _ in await hub_events(runtime)].count("chat") == 1


@pytest.mark.parametrize("seconds", [-1, 3601, 2.0, None])
async def test_a_slow_mode_out_of_range_is_refused_naming_seconds(
    runtime: Runtime, show: str, seconds: Any
) -> None:
    before = await slot_state(runtime.redis)
    with pytest.raises(InvalidInput) as caught:
        await m.set_slow_mode(runtime, SHOW, seconds, by="mod1")
    assert caught.value.field == "seconds"
    assert await slot_state(runtime.redis) == before


# --- blocked keywords ------------------------------------------------------------------


async def test_blocked_keywords_refuse_viewers_in_any_case_and_never_name_the_word(
    runtime: Runtime, show: str
) -> None:
    stored = await m.set_blocked_keywords(runtime, SHOW, ["  Spam ", "SPAM", "Straße"], by="mod1")
    assert stored == ["spam", "straße".casefold()]
    assert await m.blocked_keywords(runtime.redis, SHOW) == stored
    assert await hub_events(runtime) == [("blocked_keywords", {"words": stored, "by": "mod1"})]

    before = await slot_state(runtime.redis)
    for text in ("buy SpAm now", "STRASSE"):
        with pytest.raises(Forbidden) as caught:
            await post(runtime, "ana", text)
        assert caught.value.code == "blocked_keyword"
        assert "spam" not in str(caught.value.to_dict()).lower()
        assert "strasse" not in str(caught.value.to_dict()).lower()
    assert await slot_state(runtime.redis) == before

    await post(runtime, "mod1", "no spam please", staff=True)
    await post(runtime, "ana", "a clean message")


async def test_blocked_keywords_are_replaced_as_a_whole_and_an_unchanged_list_emits_nothing(
    runtime: Runtime, show: str
) -> None:
    await m.set_blocked_keywords(runtime, SHOW, ["spam", "scam"], by="mod1")
    before = await slot_state(runtime.redis)
    assert await m.set_blocked_keywords(runtime, SHOW, ["SCAM", "Spam"], by="mod2") == [
        "scam",
        "spam",
    ]
    assert await slot_state(runtime.redis) == before

    assert await m.set_blocked_keywords(runtime, SHOW, ["fraud"], by="mod1") == ["fraud"]
    await post(runtime, "ana", "spam is fine now")
    with pytest.raises(Forbidden):
        await post(runtime, "ana", "FRAUD")

    assert await m.set_blocked_keywords(runtime, SHOW, [], by="mod1") == []
    assert await m.blocked_keywords(runtime.redis, SHOW) == []
    await post(runtime, "bob", "fraud is fine now")
    lists = [data for kind, data in await hub_events(runtime) if kind == "blocked_keywords"]
    assert lists == [
        {"words": ["scam", "spam"], "by": "mod1"},
        {"words": ["fraud"], "by": "mod1"},
        {"words": [], "by": "mod1"},
    ]


@pytest.mark.parametrize(
    ("words", "field"),
    [
        ("spam", "words"),
        (["ok", ""], "words[1]"),
        (["ok", "   "], "words[1]"),
        ([3], "words[0]"),
        (["x" * 51], "words[0]"),
        (["bad\nword"], "words[0]"),
        (["a", "b", "c"], "words"),
    ],
)
async def test_a_bad_keyword_list_is_refused_naming_the_field(
    runtime: Runtime, show: str, words: Any, field: str
) -> None:
    await m.set_blocked_keywords(runtime, SHOW, ["kept"], by="mod1")
    before = await slot_state(runtime.redis)
    with pytest.raises(InvalidInput) as caught:
        await m.set_blocked_keywords(
            with_hub(runtime, max_blocked_keywords=2), SHOW, words, by="mod1"
        )
    assert caught.value.field == field
    assert await slot_state(runtime.redis) == before


async def test_duplicates_count_once_against_the_keyword_limit(runtime: Runtime, show: str) -> None:
    small = with_hub(runtime, max_blocked_keywords=2)
    assert await m.set_blocked_keywords(small, SHOW, ["a", "A", " a ", "b"], by="mod1") == [
        "a",
        "b",
    ]


# --- reactions -----------------------------------------------------------------------------


async def test_reactions_are_one_event_with_the_folded_counts(runtime: Runtime, show: str) -> None:
    event_id = await m.publish_reactions(runtime, SHOW, {"fire": 2, "heart": 5})
    assert event_id == (await runtime.redis.xrevrange(keys.show_events(SHOW), count=1))[0][0]
    assert await hub_events(runtime) == [("reactions", {"counts": {"heart": 5, "fire": 2}})]


async def test_no_reactions_append_nothing(runtime: Runtime, show: str) -> None:
    before = await slot_state(runtime.redis)
    assert await m.publish_reactions(runtime, SHOW, {}) is None
    assert await slot_state(runtime.redis) == before


@pytest.mark.parametrize(
    ("counts", "field"),
    [
        ({"poop": 1}, "counts"),
        ({"heart": 1, "Heart": 1}, "counts"),
        ({"heart": 0}, "counts.heart"),
        ({"heart": -3}, "counts.heart"),
        ({"heart": True}, "counts.heart"),
        ({"heart": 1.5}, "counts.heart"),
        ([("heart", 1)], "counts"),
    ],
)
async def test_bad_reaction_counts_are_refused_naming_the_field(
    runtime: Runtime, show: str, counts: Any, field: str
) -> None:
    before = await slot_state(runtime.redis)
    with pytest.raises(InvalidInput) as caught:
        await m.publish_reactions(runtime, SHOW, counts)
    assert caught.value.field == field
    assert await slot_state(runtime.redis) == before


# --- presence ----------------------------------------------------------------------------


async def test_presence_is_summed_across_nodes_and_appends_only_when_the_total_changes(
    runtime: Runtime, show: str
) -> None:
    assert await m.report_presence(runtime, SHOW, "node-a", 3, ttl_ms=60_000) == 3
    assert await m.report_presence(runtime, SHOW, "node-b", 2, ttl_ms=60_000) == 5
    assert await m.report_presence(runtime, SHOW, "node-a", 3, ttl_ms=60_000) == 5
    assert await runtime.redis.hget(keys.show(SHOW), "viewers") == "5"

    assert await m.report_presence(runtime, SHOW, "node-a", 0, ttl_ms=60_000) == 2
    assert list(await runtime.redis.hgetall(keys.show_presence(SHOW))) == ["node-b"]
    assert await runtime.redis.hget(keys.show(SHOW), "viewers") == "2"

    assert await hub_events(runtime) == [
        ("viewers", {"count": 3}),
        ("viewers", {"count": 5}),
        ("viewers", {"count": 2}),
    ]


async def test_a_node_that_stops_reporting_drops_out_of_the_total(
    runtime: Runtime, show: str
) -> None:
    await m.report_presence(runtime, SHOW, "node-a", 4, ttl_ms=60_000)
    assert await m.report_presence(runtime, SHOW, "node-b", 6, ttl_ms=150) == 10
    await asyncio.sleep(0.3)
    assert await m.report_presence(runtime, SHOW, "node-a", 4, ttl_ms=60_000) == 4
    assert list(await runtime.redis.hgetall(keys.show_presence(SHOW))) == ["node-a"]
    counts = [data["count"] for kind, data in await hub_events(runtime) if kind == "viewers"]
    assert counts == [4, 10, 4]


async def test_a_first_report_of_no_viewers_appends_nothing(runtime: Runtime, show: str) -> None:
    before = await slot_state(runtime.redis)
    assert await m.report_presence(runtime, SHOW, "node-a", 0, ttl_ms=1000) == 0
    assert await slot_state(runtime.redis) == before


@pytest.mark.parametrize(
    ("count", "ttl_ms", "field"),
    [(-1, 1000, "count"), (1.0, 1000, "count"), (1, 0, "ttl_ms"), (1, 3_600_001, "ttl_ms")],
)
async def test_bad_presence_numbers_are_refused_naming_the_field(
    runtime: Runtime, show: str, count: Any, ttl_ms: Any, field: str
) -> None:
    before = await slot_state(runtime.redis)
    with pytest.raises(InvalidInput) as caught:
        await m.report_presence(runtime, SHOW, "node-a", count, ttl_ms=ttl_ms)
    assert caught.value.field == field
    assert await slot_state(runtime.redis) == before


# --- every script: a missing show, bad ids -------------------------------------------------


def every_change(show: str) -> dict[str, Call]:
    return {
        "post_chat": lambda rt: m.post_chat(rt, show, "ana", "hi", staff=False),
        "delete_message": lambda rt: m.delete_message(rt, show, "1-0", by="mod1"),
        "mute": lambda rt: m.mute(rt, show, "ana", 60, by="mod1"),
        "unmute": lambda rt: m.unmute(rt, show, "ana", by="mod1"),
        "ban": lambda rt: m.ban(rt, show, "ana", by="mod1"),
        "unban": lambda rt: m.unban(rt, show, "ana", by="mod1"),
        "set_slow_mode": lambda rt: m.set_slow_mode(rt, show, 10, by="mod1"),
        "set_blocked_keywords": lambda rt: m.set_blocked_keywords(rt, show, ["x"], by="mod1"),
        "publish_reactions": lambda rt: m.publish_reactions(rt, show, {"heart": 1}),
        "report_presence": lambda rt: m.report_presence(rt, show, "node-a", 5, ttl_ms=1000),
    }


@pytest.mark.parametrize("change", list(every_change("ghost")))
async def test_every_change_to_a_missing_show_is_refused_and_creates_no_key(
    runtime: Runtime, change: str
) -> None:
    with pytest.raises(NotFound) as caught:
        await every_change("ghost")[change](runtime)
    assert (caught.value.code, caught.value.field) == ("not_found", "show")
    assert await slot_state(runtime.redis, "ghost") == {}


BAD_IDS: dict[str, tuple[Call, str]] = {
    "show": (lambda rt: m.ban(rt, "s:1", "ana", by="mod1"), "show"),
    "show-brace": (lambda rt: m.report_presence(rt, "{s1}", "n", 1, ttl_ms=10), "show"),
    "post-user": (lambda rt: m.post_chat(rt, SHOW, "a{b", "hi", staff=False), "user"),
    "mute-user": (lambda rt: m.mute(rt, SHOW, "a:b", 60, by="mod1"), "user"),
    "mute-by": (lambda rt: m.mute(rt, SHOW, "ana", 60, by="mod}"), "by"),
    "unmute-by": (lambda rt: m.unmute(rt, SHOW, "ana", by="a b"), "by"),
    "ban-user": (lambda rt: m.ban(rt, SHOW, "", by="mod1"), "user"),
    "unban-by": (lambda rt: m.unban(rt, SHOW, "ana", by="x" * 65), "by"),
    "slow-by": (lambda rt: m.set_slow_mode(rt, SHOW, 5, by="m:1"), "by"),
    "keywords-by": (lambda rt: m.set_blocked_keywords(rt, SHOW, ["x"], by="{m}"), "by"),
    "delete-by": (lambda rt: m.delete_message(rt, SHOW, "1-0", by="m:1"), "by"),
    "delete-letters": (lambda rt: m.delete_message(rt, SHOW, "abc", by="mod1"), "message_id"),
    "delete-no-seq": (lambda rt: m.delete_message(rt, SHOW, "1-", by="mod1"), "message_id"),
    "delete-brace": (lambda rt: m.delete_message(rt, SHOW, "{1-0}", by="mod1"), "message_id"),
    "delete-huge": (
        lambda rt: m.delete_message(rt, SHOW, f"{2**64}-0", by="mod1"),
        "message_id",
    ),
    "node": (lambda rt: m.report_presence(rt, SHOW, "node:a", 1, ttl_ms=10), "node"),
    "standing-user": (lambda rt: m.standing(rt.redis, SHOW, "a{b"), "user"),
    "recent-show": (lambda rt: m.recent_chat(rt.redis, "s{1"), "show"),
}


@pytest.mark.parametrize("case", list(BAD_IDS))
async def test_a_bad_id_is_refused_naming_its_field_and_changes_nothing(
    runtime: Runtime, show: str, case: str
) -> None:
    call, field = BAD_IDS[case]
    before = await slot_state(runtime.redis)
    with pytest.raises(InvalidInput) as caught:
        await call(runtime)
    assert caught.value.field == field
    assert await slot_state(runtime.redis) == before


async def test_reads_of_a_quiet_show_give_the_defaults(runtime: Runtime, show: str) -> None:
    assert await m.standing(runtime.redis, SHOW, "ana") == m.Standing(False, None)
    assert await m.recent_chat(runtime.redis, SHOW) == []
    assert await m.chat_state(runtime.redis, SHOW) == {"slow_mode_s": 0}
    assert await m.blocked_keywords(runtime.redis, SHOW) == []
