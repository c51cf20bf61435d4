"""GET /api/shows/{id}: the public snapshot, and clear errors for bad or unknown ids."""

from __future__ import annotations

import httpx

from livecart.demo import SHOW_ID, seed_demo
from tests.helpers import LiveServer


async def test_the_demo_show_snapshot_lists_its_lineup_with_live_stock(server: LiveServer) -> None:
    await seed_demo(server.runtime)
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.get(f"/api/shows/{SHOW_ID}")
    assert response.status_code == 200
    show = response.json()
    assert show["state"] == "scheduled" and show["sales"] == "open" and show["pinned"] is None
    assert len(show["lineup"]) == 10  # eight products, the tee in three sizes
    assert all(p["stock"] == p["allocated"] > 0 and p["currency"] == "EUR" for p in show["lineup"])


async def test_unknown_and_malformed_show_ids_get_clear_errors(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        unknown = await http.get("/api/shows/nope")
        malformed = await http.get("/api/shows/a*b")
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
    assert malformed.status_code == 400 and malformed.json()["field"] == "show"
