"""The public listing of shows: what the landing page shows as live now and coming next,
a brand's or a creator's shows, and the shows starting within a time range.

Every show joins its listing indexes when it is created (``index_show``). They span
shows, so no show script writes them (invariant 6): they are projections of the show's
hash, written right after the creating script, and written again by a retried creation
(every write is NX), so a crash between the two is repaired by the retry. A show's
brand, creator and start never change, so an index entry never goes stale.

Which index a listing reads:

- no date range: the brand's index, else the creator's, else every show; in id order;
- a date range (``from_ms`` / ``to_ms``, both included): every show in start order
  (start, then id), where a show's start is its scheduled start, or its creation time
  when it was created unscheduled.

The other filters (``state``, and creator when the brand's index or the date index is
read) are applied while reading, so one request reads at most ``MAX_SCANNED`` shows
whatever the filter leaves: a page may then hold fewer than ``limit`` items (even none)
with a ``next`` to go on from. The bound keeps one request's work fixed however many
shows the index has (invariant 7).

``next`` is always the id of the last show read, so paging is stable while shows are
created: a show is found again by its place in the index, which never moves, and a show
created meanwhile either lands after the cursor (and is listed) or before it (and is
not); none already listed comes twice, none that existed when paging began is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from livecart.commerce.catalog.products import Page, lex_page
from livecart.errors import InvalidInput
from livecart.runtime import Runtime
from livecart.store import keys

STATES = ("live", "scheduled", "ended")
MAX_SCANNED = 1000
_BATCH = 200

# ms since the epoch, zero-padded so that the date index's lexical order is time order
# (16 digits reach past the year 285 000; scheduled_at_ms is at most 2**53).
_START_DIGITS = 16

MAX_START_MS = 2**53  # as a show's scheduled_at_ms
_MS = re.compile(r"[0-9]{1,16}")
# What a client that sends a calendar time sends: a date, then perhaps a time.
_CALENDAR = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MS_EXAMPLE = "1795600000000"


def check_state(value: str | None) -> str | None:
    """``None`` (no filter) or one of STATES; anything else is refused by name."""
    if value is None:
        return None
    if value not in STATES:
        raise InvalidInput(f"state {value[:40]!r} is not one of {', '.join(STATES)}", field="state")
    return value


def parse_ms(raw: str | None, field: str) -> int | None:
    """A time given as ms since the epoch (UTC), or None when absent.

    Every time in the API is ms since the epoch (``scheduled_at_ms`` in a show, the
    orders' ``since_ms``), so a client can pass back what it read. One format only: a
    calendar time (ISO-8601) is refused with a message saying which to send, rather than
    read in a zone the client did not mean.
    """
    if raw is None:
        return None
    shown = raw[:40]
    if _CALENDAR.match(raw):
        raise InvalidInput(
            f"{field} {shown!r} is a calendar time; give ms since the epoch (UTC) "
            f"such as {_MS_EXAMPLE}",
            field=field,
        )
    if _MS.fullmatch(raw) is None or int(raw) > MAX_START_MS:
        raise InvalidInput(
            f"{field} must be a whole number of ms since the epoch (UTC), 0 to {MAX_START_MS}",
            field=field,
        )
    return int(raw)


def check_range(from_ms: int | None, to_ms: int | None) -> None:
    """A range that ends before it begins is refused (naming ``from``): it would list
    nothing, and a client that sent it has swapped the two."""
    if from_ms is not None and to_ms is not None and from_ms > to_ms:
        raise InvalidInput("from is after to; give from <= to", field="from")


@dataclass(frozen=True)
class ShowFilter:
    """What a listing keeps. ``None`` everywhere: every show."""

    state: str | None = None
    creator: str | None = None
    brand: str | None = None
    from_ms: int | None = None  # scheduled start (else creation) at or after, ms
    to_ms: int | None = None  # scheduled start (else creation) at or before, ms

    @property
    def dated(self) -> bool:
        return self.from_ms is not None or self.to_ms is not None

    def keeps(self, summary: dict[str, Any]) -> bool:
        return (
            self.state in (None, summary["state"])
            and self.creator in (None, summary["creator"])
            and self.brand in (None, summary["brand"])
        )


# One read of an index: up to ``n + 1`` entries after a cursor (an index entry; "" for
# the start), the extra one saying that more exist.
_Read = Callable[[str, int], Awaitable[list[str]]]


async def show_page(
    redis: Redis,
    *,
    state: str | None,
    after: str,
    limit: int,
    creator: str | None = None,
    brand: str | None = None,
    from_ms: int | None = None,
    to_ms: int | None = None,
) -> Page[dict[str, Any]]:
    """Up to ``limit`` show summaries after the show ``after`` (``""``: from the start),
    kept by the filters (see the module's docstring for the order and the bound).

    With a date range, ``after`` must name a show (it is found again by its start); one
    that names none is refused naming ``after``.
    """
    wanted = ShowFilter(state=state, creator=creator, brand=brand, from_ms=from_ms, to_ms=to_ms)
    read: _Read
    show_of: Callable[[str], str]
    if wanted.dated:
        read, show_of = _start_reader(redis, from_ms, to_ms), _show_of_start_entry
        cursor = await _start_entry(redis, after) if after else ""
    else:
        if brand is not None:
            index = keys.brand_shows(brand)
        elif creator is not None:
            index = keys.creator_shows(creator)
        else:
            index = keys.shows_index()
        read, show_of = _id_reader(redis, index), str
        cursor = after
    items: list[dict[str, Any]] = []
    scanned = 0
    while scanned < MAX_SCANNED:
        batch = min(_BATCH, MAX_SCANNED - scanned)
        read_now = await read(cursor, batch)
        entries, more = read_now[:batch], len(read_now) > batch  # one more says so
        for summary in await _summaries(redis, [show_of(e) for e in entries]):
            if summary is not None and wanted.keeps(summary):
                if len(items) == limit:  # a match beyond this page: the caller goes on
                    return Page(items, items[-1]["id"])
                items.append(summary)
        scanned += len(entries)
        if not more:
            return Page(items, None)
        cursor = entries[-1]
    return Page(items, show_of(cursor))  # the scan budget ran out: go on from the last read


async def index_show(redis: Redis, show_id: str) -> None:
    """Put a stored show in every listing index it belongs to; a no-op for one already
    there (NX), so a retried creation repairs what a crash left out.

    The entries are made from the stored hash, not from the request that created it: a
    retry with other fields finds the first show, and must index that one.
    """
    stored = await redis.hgetall(keys.show(show_id))
    if not stored:
        return
    async with redis.pipeline(transaction=False) as pipe:
        _queue_indexes(pipe, show_id, stored)
        await pipe.execute()


def _queue_indexes(pipe: Pipeline, show_id: str, stored: Mapping[Any, Any]) -> None:
    """The NX writes that put the show whose hash is ``stored`` in every index."""
    show = {str(k): str(v) for k, v in stored.items()}
    pipe.zadd(keys.shows_index(), {show_id: 0}, nx=True)
    pipe.zadd(keys.brand_shows(show["brand"]), {show_id: 0}, nx=True)
    if show.get("creator"):
        pipe.zadd(keys.creator_shows(show["creator"]), {show_id: 0}, nx=True)
    pipe.zadd(keys.shows_by_start(), {start_entry(show): 0}, nx=True)


async def index_existing_shows(runtime: Runtime) -> None:
    """Put the shows an older livecart stored into the indexes it did not keep (brand,
    creator, start): a node worker that ends when done. Every write is NX, so on data
    already indexed it changes nothing, and any number of nodes may run it at once. It
    reads every show's hash a batch at a time (two round trips per batch), which is
    cheap next to a node's start."""
    redis = runtime.redis
    cursor = ""
    while True:
        read = await lex_page(redis, keys.shows_index(), cursor, _BATCH)
        ids = read[:_BATCH]
        async with redis.pipeline(transaction=False) as pipe:
            for show_id in ids:
                pipe.hgetall(keys.show(show_id))
            stored = await pipe.execute()
        async with redis.pipeline(transaction=False) as pipe:
            for show_id, show in zip(ids, stored, strict=True):
                if show:
                    _queue_indexes(pipe, show_id, show)
            await pipe.execute()
        if len(read) <= _BATCH:
            return
        cursor = ids[-1]


def start_entry(show: dict[str, str]) -> str:
    """A show's entry in the date index: ``START:SHOW``, START zero-padded (see keys)."""
    start = int(show.get("scheduled_at") or show["created_at"])
    return f"{start:0{_START_DIGITS}d}:{show['id']}"


def _id_reader(redis: Redis, index: str) -> _Read:
    async def read(cursor: str, n: int) -> list[str]:
        return await lex_page(redis, index, cursor, n)

    return read


def _show_of_start_entry(entry: str) -> str:
    return entry.split(":", 1)[1]


async def _start_entry(redis: Redis, show_id: str) -> str:
    """The date index entry of the show ``after`` names, to go on from there."""
    found = await redis.hmget(keys.show(show_id), ["id", "scheduled_at", "created_at"])
    fields = ["" if f is None else str(f) for f in found]
    if not fields[0]:
        raise InvalidInput(
            f"after {show_id!r} names no show; give the next of the page before", field="after"
        )
    return start_entry({"id": fields[0], "scheduled_at": fields[1], "created_at": fields[2]})


def _start_reader(redis: Redis, from_ms: int | None, to_ms: int | None) -> _Read:
    """Reads the date index between ``from_ms`` and ``to_ms`` (both included)."""
    # "START:" sorts before every entry of that START, and "(END+1" after every entry
    # of END (its digits are larger), so the two bounds take whole milliseconds.
    low = f"[{from_ms or 0:0{_START_DIGITS}d}:"
    high = "+" if to_ms is None else f"({to_ms + 1:0{_START_DIGITS}d}"

    async def read(cursor: str, n: int) -> list[str]:
        # A cursor from before the range (an ``after`` of another listing) starts at it.
        start = f"({cursor}" if cursor and cursor >= low[1:] else low
        entries: list[str] = await redis.zrangebylex(  # type: ignore[assignment]
            keys.shows_by_start(), start, high, start=0, num=n + 1
        )
        return entries

    return read


async def _summaries(redis: Redis, ids: list[str]) -> list[dict[str, Any] | None]:
    async with redis.pipeline(transaction=False) as pipe:
        for show_id in ids:
            pipe.hgetall(keys.show(show_id))
        shows: list[dict[str, str]] = await pipe.execute()
    creators = sorted({s["creator"] for s in shows if s and s.get("creator")})
    names: dict[str, str] = {}
    if creators:
        raws = await redis.mget([keys.creator(c) for c in creators])
        names = {c: orjson.loads(raw)["name"] for c, raw in zip(creators, raws, strict=True) if raw}
    return [None if not s else _summary(s, names.get(s.get("creator", ""))) for s in shows]


def _summary(show: dict[str, str], creator_name: str | None) -> dict[str, Any]:
    def ms(field: str) -> int | None:
        value = show.get(field)
        return int(value) if value else None

    return {
        "id": show["id"],
        "title": show["title"],
        "creator": show.get("creator") or None,  # None: the brand's own show
        "creator_name": creator_name,
        "brand": show["brand"],
        "state": show["state"],
        "sales": show["sales"],
        "pinned": show.get("pinned") or None,
        "viewers": int(show.get("viewers") or 0),
        "scheduled_at_ms": ms("scheduled_at"),
        "created_at_ms": ms("created_at"),
        "started_at_ms": ms("started_at"),
        "ended_at_ms": ms("ended_at"),
    }
