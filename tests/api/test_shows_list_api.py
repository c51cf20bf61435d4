"""The public listing of shows (the landing page's): every show or those in one state,
of a brand, of a creator or starting within a time range, paged like every listing; bad
queries refused by name, changing nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from livecart.commerce.accounts.creators import Creator, save_creator
from livecart.commerce.catalog.products import Brand, save_brand
from livecart.commerce.shows import listing as show_list
from livecart.commerce.shows.control import end_show, start_show
from livecart.runtime import Runtime
from livecart.store import keys
from tests.api.test_catalog_api import KEY, refusal, store_snapshot
from tests.commerce.conftest import seed_show
from tests.commerce.order_fixtures import wait_for
from tests.helpers import LiveServer

# id -> state it is left in
SHOWS = {
    "a-live": "live",
    "b-soon": "scheduled",
    "c-over": "ended",
    "d-live": "live",
    "e-soon": "scheduled",
    "f-over": "ended",
    "g-over": "ended",
}


async def seed_shows(runtime: Runtime) -> None:
    for show, state in SHOWS.items():
        await seed_show(runtime, show, start=False)
        if state != "scheduled":
            await start_show(runtime, show)
        if state == "ended":
            await end_show(runtime, show)


@pytest.fixture
async def http(server: LiveServer, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    await seed_shows(server.runtime)
    # The node's hold reaper drops ended shows from its watch list on its next pass;
    # wait for that, so a test comparing the whole store sees only what a request did.
    live = {show for show, state in SHOWS.items() if state == "live"}
    await wait_for(
        lambda: _watched_are(redis, live), what="the reaper to let go of the ended shows"
    )
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


async def _watched_are(redis: Redis, shows: set[str]) -> bool:
    return set(await redis.smembers(keys.active_shows())) == shows


async def pages(http: httpx.AsyncClient, **query: str | int) -> list[list[str]]:
    """Every page's ids, following ``next`` to the end."""
    seen: list[list[str]] = []
    after: str | None = None
    while True:
        params = {**query, **({"after": after} if after else {})}
        response = await http.get("/api/shows", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        seen.append([item["id"] for item in body["items"]])
        after = body["next"]
        if after is None:
            return seen


async def test_anyone_lists_every_show_with_what_a_landing_page_shows(
    http: httpx.AsyncClient,
) -> None:
    body = (await http.get("/api/shows")).json()
    assert [item["id"] for item in body["items"]] == sorted(SHOWS)
    assert body["next"] is None
    first = body["items"][0]
    assert first["state"] == "live" and first["started_at_ms"] is not None
    assert first["title"] == "Show" and first["creator"] == "c1"
    assert first["creator_name"] == "Creator One"
    assert set(first) == {
        "id", "title", "creator", "creator_name", "brand", "state", "sales", "pinned",
        "viewers", "scheduled_at_ms", "created_at_ms", "started_at_ms", "ended_at_ms",
    }  # fmt: skip


@pytest.mark.parametrize("state", ["live", "scheduled", "ended"])
async def test_a_state_filter_lists_only_those_shows_a_page_at_a_time(
    http: httpx.AsyncClient, state: str
) -> None:
    wanted = sorted(show for show, s in SHOWS.items() if s == state)
    assert await pages(http, state=state, limit=len(wanted)) == [wanted]
    one_by_one = await pages(http, state=state, limit=1)
    assert one_by_one == [[show] for show in wanted]


async def test_pages_never_skip_or_repeat_a_show(http: httpx.AsyncClient) -> None:
    assert [show for page in await pages(http, limit=3) for show in page] == sorted(SHOWS)


async def test_a_filtered_scan_stops_at_its_bound_and_goes_on_from_where_it_stopped(
    http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One request reads at most MAX_SCANNED shows: a page may come back short (even
    empty) with a ``next``, and following it finds the rest."""
    monkeypatch.setattr(show_list, "MAX_SCANNED", 2)
    seen = await pages(http, state="scheduled", limit=50)
    assert seen == [["b-soon"], [], ["e-soon"], []]  # scans a-b, c-d, e-f, g


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("state=open", "state"),
        ("state=", "state"),
        ("state=LIVE", "state"),
        ("state=live&state=ended", "state"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=ten", "limit"),
        ("after=%7Bbad%7D", "after"),
        ("sate=live", "sate"),
    ],
)
async def test_a_bad_query_is_refused_by_name(
    http: httpx.AsyncClient, redis: Redis, query: str, field: str
) -> None:
    before = await store_snapshot(redis)
    refusal(await http.get(f"/api/shows?{query}"), 400, "invalid", field)
    assert await store_snapshot(redis) == before


async def test_with_no_shows_the_listing_is_empty(server: LiveServer, redis: Redis) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        assert (await client.get("/api/shows?state=live")).json() == {"items": [], "next": None}


# --- brand, date range and combined filters ----------------------------------------------

HOUR = 3_600_000
T0 = 1_800_000_000_000  # 2027-01-15, after any creation time in these tests
# id -> (brand, creator or None for the brand's own show, scheduled start or None)
MIXED: dict[str, tuple[str, str | None, int | None]] = {
    "m-0": ("b1", "c1", None),  # unscheduled: dated by its creation, before T0
    "m-1": ("b1", "c1", T0),
    "m-2": ("b2", "c1", T0 + HOUR),
    "m-3": ("b1", None, T0 + 2 * HOUR),
    "m-4": ("b1", "c2", T0 + 2 * HOUR),  # starts with m-3: the id orders the two
    "m-5": ("b2", "c2", T0 + 3 * HOUR),
}


@pytest.fixture
async def mixed(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """Shows of two brands and two creators (one a brand's own), created over HTTP."""
    redis = server.runtime.redis
    for brand in ("b1", "b2"):
        await save_brand(redis, Brand(id=brand, name=brand.upper()))
    for creator_id in ("c1", "c2"):
        await save_creator(redis, Creator(id=creator_id, name=creator_id.upper()))
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        for show, (brand_id, creator, start) in MIXED.items():
            body: dict[str, object] = {"id": show, "title": show, "brand": brand_id}
            if creator is not None:
                body["creator"] = creator
            if start is not None:
                body["scheduled_at_ms"] = start
            created = await client.post("/api/shows", json=body, headers=KEY)
            assert created.status_code == 201, created.text
        yield client


async def listed(http: httpx.AsyncClient, **query: str | int) -> list[str]:
    return [show for page in await pages(http, **query) for show in page]


@pytest.mark.parametrize(
    ("query", "shows"),
    [
        ({"brand": "b1"}, ["m-0", "m-1", "m-3", "m-4"]),
        ({"brand": "b2"}, ["m-2", "m-5"]),
        ({"creator": "c2"}, ["m-4", "m-5"]),
        ({"brand": "b1", "creator": "c1"}, ["m-0", "m-1"]),
        ({"brand": "b2", "creator": "c2"}, ["m-5"]),
        # a date range lists in start order, the id breaking ties; both ends included
        ({"from": T0, "to": T0 + 2 * HOUR}, ["m-1", "m-2", "m-3", "m-4"]),
        ({"from": T0 + 2 * HOUR}, ["m-3", "m-4", "m-5"]),
        ({"from": T0 + 2 * HOUR, "to": T0 + 2 * HOUR}, ["m-3", "m-4"]),
        ({"from": T0 + 1, "to": T0 + HOUR - 1}, []),
        ({"to": T0 - 1}, ["m-0"]),
        ({"brand": "b1", "from": T0}, ["m-1", "m-3", "m-4"]),
        ({"brand": "b2", "to": T0 + 2 * HOUR}, ["m-2"]),
        ({"creator": "c1", "from": T0, "to": T0 + 3 * HOUR}, ["m-1", "m-2"]),
        ({"brand": "b1", "creator": "c2", "state": "scheduled", "from": T0}, ["m-4"]),
        ({"brand": "b1", "state": "live"}, []),
    ],
)
async def test_brand_creator_and_date_filters_combine_a_page_at_a_time(
    mixed: httpx.AsyncClient, query: dict[str, str | int], shows: list[str]
) -> None:
    assert await listed(mixed, **query) == shows
    assert await pages(mixed, **query, limit=1) == ([[s] for s in shows] or [[]])


async def test_a_state_filter_combines_with_brand_and_dates_as_shows_go_live(
    mixed: httpx.AsyncClient, server: LiveServer
) -> None:
    await start_show(server.runtime, "m-5")
    await start_show(server.runtime, "m-1")
    assert await listed(mixed, state="live") == ["m-1", "m-5"]
    assert await listed(mixed, state="live", brand="b2") == ["m-5"]
    assert await listed(mixed, state="live", to=T0 + HOUR) == ["m-1"]
    assert await listed(mixed, state="scheduled", brand="b2", **{"from": T0}) == ["m-2"]


async def test_a_brands_own_show_is_listed_with_no_creator(mixed: httpx.AsyncClient) -> None:
    body = (await mixed.get("/api/shows", params={"brand": "b1", "from": T0 + 2 * HOUR})).json()
    own, other = body["items"]
    assert (own["id"], own["creator"], own["creator_name"]) == ("m-3", None, None)
    assert (other["id"], other["creator"], other["creator_name"]) == ("m-4", "c2", "C2")
    assert own["scheduled_at_ms"] == T0 + 2 * HOUR


async def test_a_dated_page_goes_on_after_the_show_it_ended_with(
    mixed: httpx.AsyncClient,
) -> None:
    """``next`` is a show id in every listing; a dated listing finds it again by its
    start, so a show that starts earlier but has a later id is not listed twice."""
    first = (await mixed.get("/api/shows", params={"from": T0, "limit": 3})).json()
    assert [s["id"] for s in first["items"]] == ["m-1", "m-2", "m-3"]
    assert first["next"] == "m-3"
    rest = await mixed.get("/api/shows", params={"from": T0, "limit": 3, "after": "m-3"})
    assert [s["id"] for s in rest.json()["items"]] == ["m-4", "m-5"]
    assert rest.json()["next"] is None


@pytest.mark.parametrize(
    ("query", "status", "field", "says"),
    [
        ("from=2027-01-15T08:00:00Z", 400, "from", "ms since the epoch"),
        ("to=2027-01-15", 400, "to", "ms since the epoch"),
        ("from=-1", 400, "from", "whole number"),
        ("to=1.8e12", 400, "to", "whole number"),
        (f"from={2**53 + 1}", 400, "from", "whole number"),
        ("from=", 400, "from", "whole number"),
        (f"from={T0}&from={T0}", 400, "from", "once"),
        (f"from={T0 + 1}&to={T0}", 400, "from", "after to"),
        ("brand=", 400, "brand", "not a valid id"),
        ("brand=b%7B1%7D", 400, "brand", "not a valid id"),
        ("brand=b1&brand=b2", 400, "brand", "once"),
        ("brands=b1", 400, "brands", "no query parameter"),
        (f"from={T0}&after=zz-none", 400, "after", "names no show"),
        ("brand=zz-none", 404, "brand", "does not exist"),
        ("creator=zz-none&brand=b1", 404, "creator", "does not exist"),
        ("brand=zz-none&from=0", 404, "brand", "does not exist"),
    ],
)
async def test_a_bad_filter_is_refused_by_name_and_changes_nothing(
    mixed: httpx.AsyncClient, redis: Redis, query: str, status: int, field: str, says: str
) -> None:
    before = await store_snapshot(redis)
    code = "invalid" if status == 400 else "not_found"
    assert says in refusal(await mixed.get(f"/api/shows?{query}"), status, code, field)
    assert await store_snapshot(redis) == before
