"""A show's chat and who may speak in it: messages, deletions, mutes, bans, slow mode and
blocked keywords; plus the two counts the hub folds per interval, reactions and viewers.

Every change is one script in this folder that changes the state and appends its event
to the show's stream in the same step (invariant 1); a refusal or a no-op changes
nothing and appends nothing. Every time decision (mute expiry, slow mode, presence
expiry) uses Redis TIME inside the script, never this node's clock. Who may call what
(staff actions) is decided at the edge (livecart.auth.roles); these functions trust
their caller, but check every value before anything is written (invariant 8).

Events appended (``type``: ``data``):

- ``chat``: {user, text, staff}; its stream id is the message id
- ``message_deleted``: {message_id, by}
- ``muted``: {user, until_ms, by}; ``unmuted``: {user, by}
- ``banned``: {user, by}; ``unbanned``: {user, by}
- ``slow_mode``: {seconds, by}
- ``blocked_keywords``: {words, by} (sorted, casefolded; for staff eyes only)
- ``reactions``: {counts: {kind: n}}
- ``viewers``: {count}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis

from livecart.errors import Forbidden, InvalidInput, LivecartError, NotFound, RateLimited
from livecart.runtime import Runtime
from livecart.store import keys
from livecart.store.clock import redis_now_ms
from livecart.validation import check_no_control

REACTION_KINDS: tuple[str, ...] = ("heart", "fire", "clap", "laugh", "wow")

MAX_MUTE_S = 7 * 86400
MAX_SLOW_MODE_S = 3600
MAX_KEYWORD_CHARS = 50
MAX_REACTIONS = 10**9  # per kind per interval: far above any node, well inside JSON ints
MAX_NODE_VIEWERS = 10_000_000
MAX_PRESENCE_TTL_MS = 3_600_000

_STREAM_ID = re.compile(r"([0-9]{1,20})-([0-9]{1,20})")
_MAX_STREAM_PART = 2**64 - 1
# C0 controls and DEL: a chat line is one line of visible text.

_REFUSALS: dict[str, tuple[type[LivecartError], str, str | None]] = {
    "not_found": (NotFound, "the show does not exist", "show"),
    "banned": (Forbidden, "you are banned from this show's chat", None),
    "muted": (Forbidden, "you are muted in this show's chat", None),
    # Never which word: the list is the moderators' to know.
    "blocked_keyword": (Forbidden, "the message contains a word this show does not allow", "text"),
    "slow_mode": (RateLimited, "slow mode is on: wait before sending another message", None),
    "message_not_found": (NotFound, "no such chat message in this show", "message_id"),
}


def _refused(reply: list[Any]) -> LivecartError:
    code = reply[1]
    kind, message, field = _REFUSALS[code]
    extra: dict[str, Any] = {}
    if code == "muted":
        extra["until_ms"] = int(reply[2])
    elif code == "slow_mode":
        extra["retry_after_ms"] = int(reply[2])
    return kind(message, field=field, code=code, extra=extra)


def hub_keys(show: str) -> list[str]:
    """The KEYS every hub script takes, in the order ``_hub.lua`` names them."""
    return [
        keys.show(show),
        keys.show_events(show),
        keys.show_chat_ids(show),
        keys.show_chat_messages(show),
        keys.show_chat_deleted(show),
        keys.show_chat_last(show),
        keys.show_chat_settings(show),
        keys.show_blocked_keywords(show),
        keys.show_mutes(show),
        keys.show_bans(show),
        keys.show_presence(show),
    ]


async def _run(runtime: Runtime, script: str, show: str, *args: Any) -> list[Any]:
    reply: list[Any] = await runtime.scripts[script](keys=hub_keys(show), args=list(args))
    if reply[0] == "refused":
        raise _refused(reply)
    return reply


def _maxlen(runtime: Runtime) -> int:
    return runtime.settings.hub.stream_max_events


def _whole(value: object, field: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{field} must be a whole number", field=field)
    if not lo <= value <= hi:
        raise InvalidInput(f"{field} must be between {lo} and {hi}", field=field)
    return value


def _line(value: object, field: str, max_chars: int) -> str:
    """``value`` stripped: 1..max_chars characters of UTF-8 text with no control chars."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string", field=field)
    value = value.strip()
    if not value:
        raise InvalidInput(f"{field} must not be empty", field=field)
    if len(value) > max_chars:
        raise InvalidInput(f"{field} is longer than {max_chars} characters", field=field)
    check_no_control(value, field)
    try:
        value.encode()
    except UnicodeEncodeError:
        raise InvalidInput(f"{field} is not valid Unicode text", field=field) from None
    return value


def check_message_id(value: object) -> str:
    """A stream id ``ms-seq`` (each part below 2**64), as Redis accepts in XRANGE."""
    match = _STREAM_ID.fullmatch(value) if isinstance(value, str) else None
    if match is None or any(int(part) > _MAX_STREAM_PART for part in match.groups()):
        raise InvalidInput(
            "message_id must be a stream id such as 1700000000000-0", field="message_id"
        )
    return match.group(0)


# --- chat ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatPosted:
    message_id: str  # the stream id of the message's `chat` event
    sent_at_ms: int  # Redis TIME when it was posted


async def post_chat(
    runtime: Runtime, show: str, user: str, text: str, *, staff: bool
) -> ChatPosted:
    """Post ``text`` (stripped) as ``user``. Refused, in this order: banned, muted (with
    ``until_ms``), a blocked keyword, slow mode (with ``retry_after_ms``). Staff (the
    streamer, moderators, admins) are exempt from blocked keywords and slow mode."""
    keys.check_id(show, "show")
    keys.check_id(user, "user")
    text = _line(text, "text", runtime.settings.hub.chat_max_chars)
    reply = await _run(
        runtime,
        "chat_post",
        show,
        user,
        text,
        text.casefold(),
        "1" if staff else "0",
        runtime.settings.hub.chat_history,
        _maxlen(runtime),
    )
    return ChatPosted(message_id=reply[1], sent_at_ms=int(reply[2]))


async def delete_message(runtime: Runtime, show: str, message_id: str, *, by: str) -> bool:
    """Delete a chat message for everyone: True when deleted now, False when it already
    was. A message that aged out of the recent history can still be deleted while the
    show's stream holds it; otherwise NotFound (``message_not_found``)."""
    keys.check_id(show, "show")
    message_id = check_message_id(message_id)
    keys.check_id(by, "by")
    reply = await _run(runtime, "chat_delete", show, message_id, by, _maxlen(runtime))
    return bool(reply[0] == "deleted")


# --- who may speak ---------------------------------------------------------------------


async def mute(runtime: Runtime, show: str, user: str, seconds: int, *, by: str) -> int:
    """Mute ``user`` for ``seconds`` from now (Redis TIME), replacing any current mute;
    returns when the mute ends, ms since the epoch."""
    keys.check_id(show, "show")
    keys.check_id(user, "user")
    _whole(seconds, "seconds", 1, MAX_MUTE_S)
    keys.check_id(by, "by")
    reply = await _run(runtime, "mute", show, user, seconds, by, _maxlen(runtime))
    return int(reply[1])


async def _user_switch(
    runtime: Runtime, script: str, changed: str, show: str, user: str, by: str
) -> bool:
    """Run one of the scripts that switch a user's standing (unmute, ban, unban); True
    when its reply says ``changed``."""
    keys.check_id(show, "show")
    keys.check_id(user, "user")
    keys.check_id(by, "by")
    reply = await _run(runtime, script, show, user, by, _maxlen(runtime))
    return bool(reply[0] == changed)


async def unmute(runtime: Runtime, show: str, user: str, *, by: str) -> bool:
    """Lift a mute; False (and no event) when the user is not muted or it has ended."""
    return await _user_switch(runtime, "unmute", "unmuted", show, user, by)


async def ban(runtime: Runtime, show: str, user: str, *, by: str) -> bool:
    """Ban ``user`` from the chat; False (and no event) when already banned."""
    return await _user_switch(runtime, "ban", "banned", show, user, by)


async def unban(runtime: Runtime, show: str, user: str, *, by: str) -> bool:
    """Lift a ban; False (and no event) when the user is not banned."""
    return await _user_switch(runtime, "unban", "unbanned", show, user, by)


# --- chat settings ---------------------------------------------------------------------


async def set_slow_mode(runtime: Runtime, show: str, seconds: int, *, by: str) -> bool:
    """Viewers wait ``seconds`` between two messages (0: off); True when it changed.
    Slow mode counts from a viewer's last message posted while it was on."""
    keys.check_id(show, "show")
    _whole(seconds, "seconds", 0, MAX_SLOW_MODE_S)
    keys.check_id(by, "by")
    reply = await _run(runtime, "slow_mode", show, seconds, by, _maxlen(runtime))
    return bool(reply[0] == "changed")


def _keyword_list(words: object, max_words: int) -> list[str]:
    if not isinstance(words, list):
        raise InvalidInput("words must be a list of strings", field="words")
    folded = {
        _line(word, f"words[{i}]", MAX_KEYWORD_CHARS).casefold() for i, word in enumerate(words)
    }
    if len(folded) > max_words:
        raise InvalidInput(f"words may hold at most {max_words} distinct words", field="words")
    return sorted(folded)


async def set_blocked_keywords(
    runtime: Runtime, show: str, words: list[str], *, by: str
) -> list[str]:
    """Replace the show's blocked keywords; returns the list as stored (stripped,
    casefolded, duplicates collapsed, sorted). A viewer's message containing one of
    them, in any case, is refused."""
    keys.check_id(show, "show")
    stored = _keyword_list(words, runtime.settings.hub.max_blocked_keywords)
    keys.check_id(by, "by")
    data = orjson.dumps({"words": stored, "by": by}).decode()
    await _run(runtime, "blocked_keywords", show, _maxlen(runtime), data, *stored)
    return stored


# --- counts the hub folds per interval -------------------------------------------------


async def publish_reactions(runtime: Runtime, show: str, counts: Mapping[str, int]) -> str | None:
    """Append one ``reactions`` event with the taps a node folded over one interval;
    returns its stream id, or None (and nothing appended) for no taps."""
    keys.check_id(show, "show")
    if not isinstance(counts, Mapping):
        raise InvalidInput("counts must be an object of reaction kind -> count", field="counts")
    for kind, n in counts.items():
        if kind not in REACTION_KINDS:
            raise InvalidInput(
                f"{str(kind)[:40]!r} is not a reaction; they are {', '.join(REACTION_KINDS)}",
                field="counts",
            )
        _whole(n, f"counts.{kind}", 1, MAX_REACTIONS)
    if not counts:
        return None
    folded = {kind: counts[kind] for kind in REACTION_KINDS if kind in counts}
    data = orjson.dumps({"counts": folded}).decode()
    reply = await _run(runtime, "reactions", show, _maxlen(runtime), data)
    return str(reply[1])


async def report_presence(
    runtime: Runtime, show: str, node: str, count: int, *, ttl_ms: int
) -> int:
    """Set this node's viewer count of the show until Redis TIME + ``ttl_ms`` (0 removes
    it) and return the total over every node whose report has not expired. The show's
    ``viewers`` field and a ``viewers`` event follow the total when it changes."""
    keys.check_id(show, "show")
    keys.check_id(node, "node")
    _whole(count, "count", 0, MAX_NODE_VIEWERS)
    _whole(ttl_ms, "ttl_ms", 1, MAX_PRESENCE_TTL_MS)
    reply = await _run(runtime, "presence", show, node, count, ttl_ms, _maxlen(runtime))
    return int(reply[0])


# --- reads for the hub (no writes) -----------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """One user's standing in a show's chat."""

    banned: bool
    muted_until_ms: int | None  # None when not muted or the mute has ended (Redis TIME)


async def standing(redis: Redis, show: str, user: str, now_ms: int | None = None) -> Standing:
    """``now_ms``: Redis' time as the caller knows it (a hub's synced clock); read from
    the show's server when not given."""
    keys.check_id(user, "user")
    async with redis.pipeline(transaction=True) as pipe:
        pipe.sismember(keys.show_bans(show), user)
        pipe.zscore(keys.show_mutes(show), user)
        banned, until = await pipe.execute()
    if now_ms is None and until is not None:
        now_ms = await redis_now_ms(redis, near=keys.show_mutes(show))
    muted = int(until) if until is not None and now_ms is not None and int(until) > now_ms else None
    return Standing(banned=bool(banned), muted_until_ms=muted)


async def recent_chat(redis: Redis, show: str) -> list[dict[str, Any]]:
    """The recent history, oldest first: {id, user, text, staff, sent_at_ms} each."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.lrange(keys.show_chat_ids(show), 0, -1)
        pipe.hgetall(keys.show_chat_messages(show))
        ids, messages = await pipe.execute()
    history = []
    for message_id in ids:
        stored = messages.get(message_id)
        if stored is None:
            continue
        m = orjson.loads(stored)
        history.append(
            {
                "id": message_id,
                "user": m["user"],
                "text": m["text"],
                "staff": m["staff"],
                "sent_at_ms": m["sent_at_ms"],
            }
        )
    return history


async def chat_state(redis: Redis, show: str) -> dict[str, Any]:
    """What every viewer's page needs to know about the chat: {slow_mode_s}."""
    slow = await redis.hget(keys.show_chat_settings(show), "slow_mode_s")
    return {"slow_mode_s": int(slow or 0)}


async def blocked_keywords(redis: Redis, show: str) -> list[str]:
    """The show's blocked keywords, sorted (staff only)."""
    return sorted(str(word) for word in await redis.smembers(keys.show_blocked_keywords(show)))
