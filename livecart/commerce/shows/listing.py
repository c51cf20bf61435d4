"""The public listing of shows: what the landing page shows as live now and coming next.

Shows are listed in id order from the index every show joins when it is created. The
``state`` and ``creator`` filters are applied while reading, so one request reads at most
``MAX_SCANNED`` shows whatever the filter leaves: a page may then hold fewer than
``limit`` items (even none) with a ``next`` to go on from. The bound keeps one request's
work fixed however many ended shows the index has (invariant 7).
"""

from __future__ import annotations

from typing import Any

import orjson
from redis.asyncio import Redis

from livecart.commerce.catalog.products import Page, lex_page
from livecart.errors import InvalidInput
from livecart.store import keys

STATES = ("live", "scheduled", "ended")
MAX_SCANNED = 1000
_BATCH = 200


def check_state(value: str | None) -> str | None:
    """``None`` (no filter) or one of STATES; anything else is refused by name."""
    if value is None:
        return None
    if value not in STATES:
        raise InvalidInput(f"state {value[:40]!r} is not one of {', '.join(STATES)}", field="state")
    return value


async def show_page(
    redis: Redis, *, state: str | None, after: str, limit: int, creator: str | None = None
) -> Page[dict[str, Any]]:
    """Up to ``limit`` show summaries after the id ``after`` (``""``: from the start);
    ``creator`` keeps only that creator's shows (a showcase page's live show)."""
    items: list[dict[str, Any]] = []
    scanned = 0
    cursor = after
    while scanned < MAX_SCANNED:
        batch = min(_BATCH, MAX_SCANNED - scanned)
        read = await lex_page(redis, keys.shows_index(), cursor, batch)
        ids, more = read[:batch], len(read) > batch  # one more is read to say so
        for summary in await _summaries(redis, ids):
            if (
                summary is not None
                and state in (None, summary["state"])
                and creator in (None, summary["creator"])
            ):
                if len(items) == limit:  # a match beyond this page: the caller goes on
                    return Page(items, items[-1]["id"])
                items.append(summary)
        scanned += len(ids)
        if not more:
            return Page(items, None)
        cursor = ids[-1]
    return Page(items, cursor)  # the scan budget ran out: go on from the last show read


async def _summaries(redis: Redis, ids: list[str]) -> list[dict[str, Any] | None]:
    async with redis.pipeline(transaction=False) as pipe:
        for show_id in ids:
            pipe.hgetall(keys.show(show_id))
        shows: list[dict[str, str]] = await pipe.execute()
    creators = sorted({s["creator"] for s in shows if s})
    names: dict[str, str] = {}
    if creators:
        raws = await redis.mget([keys.creator(c) for c in creators])
        names = {c: orjson.loads(raw)["name"] for c, raw in zip(creators, raws, strict=True) if raw}
    return [None if not s else _summary(s, names.get(s["creator"])) for s in shows]


def _summary(show: dict[str, str], creator_name: str | None) -> dict[str, Any]:
    def ms(field: str) -> int | None:
        value = show.get(field)
        return int(value) if value else None

    return {
        "id": show["id"],
        "title": show["title"],
        "creator": show["creator"],
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
