"""The public listing of shows (the landing page's): every show or those in one state,
in id order, paged like every listing; bad queries refused by name."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from livecart.commerce.shows import listing as show_list
from livecart.commerce.shows.control import end_show, start_show
from livecart.runtime import Runtime
from livecart.store import keys
from tests.api.test_catalog_api import refusal, store_snapshot
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
