"""/healthz, /readyz and /metrics on a real server."""

from __future__ import annotations

from pathlib import Path

import httpx
from redis.asyncio import Redis

from livecart.config import Settings
from livecart.store.embedded import EmbeddedRedis, bundled_server_binary
from tests.helpers import LiveServer, serve_app


async def test_healthz_and_readyz_answer_when_all_is_well(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}


async def test_readyz_turns_503_when_redis_goes_away_and_200_when_it_returns(
    settings: Settings, data_dir: Path
) -> None:
    redis_server = EmbeddedRedis(data_dir, binary=bundled_server_binary())
    await redis_server.start()
    own = settings.with_overrides({"redis": {"url": redis_server.url, "socket_timeout_s": 1.0}})
    try:
        async with serve_app(own) as live, httpx.AsyncClient(base_url=live.url) as http:
            assert (await http.get("/readyz")).status_code == 200

            await redis_server.stop()
            down = await http.get("/readyz")
            assert down.status_code == 503
            assert down.json()["status"] == "unready"
            assert "redis" in down.json()["reason"].lower()
            assert (await http.get("/healthz")).status_code == 200
            metrics = (await http.get("/metrics")).text
            assert "livecart_redis_up 0.0" in metrics

            await redis_server.start()
            up = await http.get("/readyz")
            assert up.status_code == 200, up.text
    finally:
        await redis_server.stop()


async def test_metrics_expose_process_and_redis_figures(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for name in (
        "process_resident_memory_bytes",
        "livecart_info{version=",
        "livecart_redis_up 1.0",
        "livecart_redis_used_memory_bytes",
        "livecart_redis_connected_clients",
        "livecart_redis_aof_last_write_ok",
    ):
        assert name in text, name


async def test_an_app_with_its_own_embedded_redis_runs_and_stops_it(
    settings: Settings, data_dir: Path
) -> None:
    embedded = settings.with_overrides({"redis": {"url": "", "data_dir": str(data_dir)}})
    async with serve_app(embedded) as live, httpx.AsyncClient(base_url=live.url) as http:
        assert (await http.get("/readyz")).status_code == 200
        runtime_embedded = live.runtime.embedded
        assert runtime_embedded is not None and runtime_embedded.running
        client = Redis.from_url(runtime_embedded.url)
        assert (await client.config_get("appendfsync"))["appendfsync"] == "always"
        await client.aclose()
    assert not runtime_embedded.running
    assert not (data_dir / "redis.sock").exists()
