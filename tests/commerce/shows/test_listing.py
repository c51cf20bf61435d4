"""The show listing's indexes and cursor (livecart/commerce/shows/listing.py), on the real
Redis: pages stay whole while shows are created at the same time, a retried creation
repairs the indexes a crash left out, and times are taken in one format only."""

from __future__ import annotations

import asyncio
import random
from dataclasses import asdict, dataclass

import pytest
from redis.asyncio import Redis

from livecart.commerce.accounts.creators import Creator, save_creator
from livecart.commerce.catalog.products import Brand, save_brand
from livecart.commerce.shows import listing
from livecart.commerce.shows.listing import parse_ms, show_page, start_entry
from livecart.commerce.shows.records import NewShow, create_show
from livecart.errors import InvalidInput
from livecart.runtime import Runtime
from livecart.store import keys

T0 = 1_800_000_000_000
MINUTE = 60_000


async def seed_parties(redis: Redis) -> None:
    for brand in ("b1", "b2"):
        await save_brand(redis, Brand(id=brand, name=brand.upper()))
    for creator in ("c1", "c2"):
        await save_creator(redis, Creator(id=creator, name=creator.upper()))


def new_show(show: str, rng: random.Random) -> NewShow:
    """A show of a random brand and creator (or none), most scheduled within T0's day."""
    return NewShow(
        id=show,
        title=show,
        creator=rng.choice(["c1", "c2", None]),
        brand=rng.choice(["b1", "b2"]),
        lineup=(),
        scheduled_at_ms=None if rng.random() < 0.2 else T0 + rng.randrange(24 * 60) * MINUTE,
    )


async def make(runtime: Runtime, show: NewShow) -> None:
    created = await create_show(
        runtime.redis,
        runtime.scripts,
        show,
        stream_max_events=runtime.settings.hub.stream_max_events,
    )
    assert created.created


async def order_key(redis: Redis, show: str, dated: bool) -> str:
    """Where a show sits in its listing: its id, or its start then its id."""
    if not dated:
        return show
    stored = await redis.hgetall(keys.show(show))
    return start_entry({str(k): str(v) for k, v in stored.items()})


@dataclass(frozen=True)
class Query:
    state: str | None = None
    brand: str | None = None
    creator: str | None = None
    from_ms: int | None = None
    to_ms: int | None = None


@pytest.mark.parametrize(
    "query",
    [
        Query(),
        Query(brand="b1"),
        Query(creator="c2", state="scheduled"),
        Query(from_ms=T0, to_ms=T0 + 24 * 60 * MINUTE),
        Query(from_ms=T0 + 6 * 60 * MINUTE, brand="b2"),
    ],
    ids=["all", "brand", "creator+state", "dates", "dates+brand"],
)
async def test_pages_never_repeat_or_skip_a_show_while_shows_are_created(
    runtime: Runtime, redis: Redis, query: Query, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many pages read while other tasks create shows: every show that existed before
    the first page is listed once, nothing is listed twice, and the listing's order never
    goes back (so nothing can have been read out of place)."""
    monkeypatch.setattr(listing, "MAX_SCANNED", 40)  # short pages: many cursors in the storm
    rng = random.Random(11)
    await seed_parties(redis)
    before = [new_show(f"s-{i:03d}", rng) for i in range(0, 240, 2)]
    await asyncio.gather(*(make(runtime, show) for show in before))
    during = [new_show(f"s-{i:03d}", rng) for i in range(1, 240, 2)]
    during += [new_show(f"t-{i:03d}", rng) for i in range(60)]
    rng.shuffle(during)

    async def create_meanwhile() -> None:
        for i in range(0, len(during), 6):
            await asyncio.gather(*(make(runtime, s) for s in during[i : i + 6]))

    async def read_every_page() -> list[str]:
        seen: list[str] = []
        after = ""
        while True:
            page = await show_page(redis, after=after, limit=7, **asdict(query))
            seen += [item["id"] for item in page.items]
            if page.next is None:
                return seen
            after = page.next
            await asyncio.sleep(0)

    creating = asyncio.create_task(create_meanwhile())
    seen = await read_every_page()
    # The pages were read while shows were being made, or the test proves nothing.
    assert not creating.done()
    await creating

    def wanted(show: NewShow) -> bool:
        """Whether the query lists ``show``. None is started, so every show is in state
        ``scheduled``; one made unscheduled is dated by its creation, before T0, so no
        range here holds it."""
        start = show.scheduled_at_ms
        return (
            query.brand in (None, show.brand)
            and query.creator in (None, show.creator)
            and (query.from_ms is None or (start is not None and start >= query.from_ms))
            and (query.to_ms is None or (start is not None and start <= query.to_ms))
        )

    assert len(seen) == len(set(seen)), "a show was listed twice"
    expected = {s.id for s in before if wanted(s)}
    assert expected, "the query must match some shows for the test to mean anything"
    assert expected <= set(seen), f"skipped: {sorted(expected - set(seen))}"
    made_during = {s.id: s for s in during}
    assert all(show in expected or wanted(made_during[show]) for show in seen)
    dated = query.from_ms is not None
    places = [await order_key(redis, show, dated) for show in seen]
    assert places == sorted(places)


async def test_a_retried_creation_puts_back_the_index_entries_a_crash_left_out(
    runtime: Runtime, redis: Redis
) -> None:
    """The indexes are written after the show's script; a node that died in between
    left the show unlisted, and the merchant's retry (same id) lists it, by the stored
    show even when the retry says otherwise."""
    await seed_parties(redis)
    show = NewShow(id="s1", title="s1", creator="c1", brand="b1", lineup=(), scheduled_at_ms=T0)
    await make(runtime, show)
    indexes = {
        keys.shows_index(): "s1",
        keys.brand_shows("b1"): "s1",
        keys.creator_shows("c1"): "s1",
        keys.shows_by_start(): f"{T0:016d}:s1",
    }
    for index, entry in indexes.items():
        assert await redis.zscore(index, entry) == 0
        await redis.zrem(index, entry)
    assert (await show_page(redis, state=None, after="", limit=10)).items == []

    retry = NewShow(id="s1", title="other", creator="c2", brand="b2", lineup=(), scheduled_at_ms=1)
    again = await create_show(runtime.redis, runtime.scripts, retry, stream_max_events=100)

    assert not again.created
    for index, entry in indexes.items():
        assert await redis.zscore(index, entry) == 0
    for index in (keys.brand_shows("b2"), keys.creator_shows("c2")):
        assert await redis.exists(index) == 0
    assert await redis.zcard(keys.shows_by_start()) == 1
    page = await show_page(redis, state=None, after="", limit=10, from_ms=T0, to_ms=T0)
    assert [(s["id"], s["brand"], s["creator"]) for s in page.items] == [("s1", "b1", "c1")]


async def test_a_brands_own_show_joins_no_creators_index(runtime: Runtime, redis: Redis) -> None:
    await seed_parties(redis)
    await make(runtime, NewShow(id="own", title="Own", creator=None, brand="b1", lineup=()))
    assert await redis.zrange(keys.brand_shows("b1"), 0, -1) == ["own"]
    assert await redis.keys("lc:{cat}:creator:*:shows") == []
    stored = await redis.hgetall(keys.show("own"))
    assert stored["creator"] == ""
    # unscheduled: dated by its creation
    assert await redis.zrange(keys.shows_by_start(), 0, -1) == [
        f"{int(stored['created_at']):016d}:own"
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, None), ("0", 0), (str(T0), T0), (str(2**53), 2**53)],
)
def test_a_time_is_ms_since_the_epoch(raw: str | None, expected: int | None) -> None:
    assert parse_ms(raw, "from") == expected


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("2027-01-15T08:00:00Z", "calendar time"),
        ("2027-01-15", "calendar time"),
        ("2027-01-15T08:00:00+01:00", "calendar time"),
        ("", "whole number"),
        ("-1", "whole number"),
        ("+5", "whole number"),
        (" 5", "whole number"),
        ("1.5", "whole number"),
        ("1e12", "whole number"),
        ("١٢٣", "whole number"),  # digits, but not ASCII ones
        (str(2**53 + 1), "whole number"),
        ("9" * 40, "whole number"),
    ],
)
def test_any_other_time_is_refused_naming_the_parameter(raw: str, says: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_ms(raw, "to")
    assert refused.value.field == "to" and says in refused.value.message


@pytest.mark.parametrize(
    ("body", "creator"),
    [
        ({}, None),
        ({"creator": None}, None),
        ({"creator": "c1"}, "c1"),
    ],
)
def test_a_show_takes_a_creator_or_none(body: dict[str, object], creator: str | None) -> None:
    show = NewShow.from_dict({"id": "s1", "title": "t", "brand": "b1", **body})
    assert show.creator == creator


@pytest.mark.parametrize("creator", ["", 5, "c{1}", ["c1"]])
def test_a_creator_that_is_not_an_id_is_refused_by_name(creator: object) -> None:
    with pytest.raises(InvalidInput) as refused:
        NewShow.from_dict({"id": "s1", "title": "t", "brand": "b1", "creator": creator})
    assert refused.value.field == "creator"
