"""open_store: a configured Redis, an embedded one run for the occasion, or the Redis of
the livecart already running on the data directory, each with real processes."""

from __future__ import annotations

import fcntl
import signal
from pathlib import Path

import pytest
from redis.asyncio import Redis

from livecart.commerce.catalog.products import Brand, get_product, save_brand
from livecart.config import Settings
from livecart.errors import StoreUnavailable
from livecart.store.access import lock_holder, open_store
from livecart.store.embedded import EmbeddedRedis, bundled_server_binary
from tests.helpers import LivecartProcess, get, processes_serving


def embedded_settings(data_dir: Path) -> Settings:
    return Settings().with_overrides({"redis": {"data_dir": str(data_dir)}})


async def test_with_a_url_it_uses_that_redis(settings: Settings, redis: Redis) -> None:
    async with open_store(settings) as store:
        await save_brand(store.redis, Brand("b1", "One"))
        assert "Redis at unix://" in store.source
        assert len(store.scripts) > 0
    assert await redis.get("lc:{cat}:brand:b1") is not None


async def test_with_the_data_directory_free_it_runs_an_embedded_redis_for_the_duration(
    data_dir: Path,
) -> None:
    settings = embedded_settings(data_dir)
    async with open_store(settings) as store:
        assert "run for this command" in store.source
        assert len(processes_serving(data_dir)) == 1
        assert lock_holder(data_dir / "livecart.lock") is not None
        await save_brand(store.redis, Brand("b1", "One"))
    assert processes_serving(data_dir) == []
    assert lock_holder(data_dir / "livecart.lock") is None
    # What it wrote is on disk: a node started on the directory later finds it.
    server = EmbeddedRedis(data_dir, binary=bundled_server_binary())
    await server.start()
    try:
        client = Redis.from_url(server.url, decode_responses=True)
        assert await client.get("lc:{cat}:brand:b1") is not None
        await client.aclose()
    finally:
        await server.stop()


async def test_with_a_livecart_running_on_the_directory_it_uses_that_nodes_redis(
    tmp_path: Path,
) -> None:
    node = LivecartProcess(["demo", "--port", "0"], cwd=tmp_path)
    try:
        url = node.wait_for_url()
        data_dir = tmp_path / "data"
        servers = processes_serving(data_dir)
        assert len(servers) == 1
        async with open_store(embedded_settings(data_dir)) as store:
            assert f"pid {node.proc.pid}" in store.source
            beanie = await get_product(store.redis, "nw-beanie")
            assert beanie is not None and beanie.brand == "northwind"
            await save_brand(store.redis, Brand("from-outside", "Written from outside"))
        # No second server was started, and the node's own one still serves it.
        assert processes_serving(data_dir) == servers
        assert get(f"{url}/readyz").status_code == 200
        node.signal(signal.SIGINT)
        assert node.wait() == 0, node.stderr
    finally:
        node.kill()
    async with open_store(embedded_settings(tmp_path / "data")) as store:
        assert await store.redis.get("lc:{cat}:brand:from-outside") is not None


async def test_a_lock_holder_whose_redis_does_not_answer_is_reported(data_dir: Path) -> None:
    data_dir.mkdir()
    settings = embedded_settings(data_dir).with_overrides({"redis": {"startup_timeout_s": 0.5}})
    with (data_dir / "livecart.lock").open("a+") as held:
        held.write("4242\n")
        held.flush()
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(StoreUnavailable) as refused:
            async with open_store(settings):
                pass
    assert "pid 4242" in refused.value.message and "did not answer" in refused.value.message
    assert processes_serving(data_dir) == []


async def test_an_unreachable_url_is_reported_without_its_password(tmp_path: Path) -> None:
    settings = Settings().with_overrides(
        {
            "redis": {
                "url": f"unix://:hunter2@{tmp_path}/nobody.sock",
                "startup_timeout_s": 0.5,
            }
        }
    )
    with pytest.raises(StoreUnavailable) as refused:
        async with open_store(settings):
            pass
    assert "hunter2" not in refused.value.message and "did not answer" in refused.value.message
