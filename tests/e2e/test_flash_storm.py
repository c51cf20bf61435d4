"""A flash sale as users make it: thousands of buyers on real HTTP connections to a real
``livecart serve`` process, a real Redis, and the invariants checked after the storm."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
from redis.asyncio import Redis

from livecart.app import NODE_WORKERS
from livecart.auth.tokens import issue_token
from livecart.config import Settings
from livecart.runtime import running
from tests.commerce.conftest import SHOW, assert_units_add_up, seed_show
from tests.helpers import (
    STRONG_ADMIN_KEY,
    STRONG_SECRET,
    LivecartProcess,
    RawConnection,
    processes_serving,
)

BUYERS = 2000
UNITS = 50
RETRIES = 10
RETRY_CONNECTIONS = 500
BUSY_RETRIES = 5  # a 503 (the node's Redis pool busy) is tapped again, at most this often
BUSY_BACKOFF_S = 0.2


async def open_connections(url: str, count: int) -> list[RawConnection]:
    """Open ``count`` keep-alive connections, 200 handshakes at a time (the listen
    backlog is finite, and a refused SYN only adds retransmission delays)."""
    gate = asyncio.Semaphore(200)

    async def one() -> RawConnection:
        async with gate:
            return await RawConnection.open(url)

    return list(await asyncio.gather(*(one() for _ in range(count))))


def node_env(redis_url: str = "") -> dict[str, str]:
    env = {
        "LIVECART_AUTH_SECRET": STRONG_SECRET,
        "LIVECART_AUTH_ADMIN_API_KEY": STRONG_ADMIN_KEY,
        "LIVECART_REDIS_MAX_CONNECTIONS": "200",
        "LIVECART_SERVER_LOG_LEVEL": "warning",
    }
    if redis_url:
        env["LIVECART_REDIS_URL"] = redis_url
    return env


def token(buyer: str) -> str:
    return issue_token(STRONG_SECRET, sub=buyer, role="viewer", ttl_s=3600)


async def prepare_show(settings: Settings, sku_units: int) -> None:
    async with running(settings, workers=NODE_WORKERS) as runtime:
        await seed_show(runtime)
        # One product with exactly the units of the sale.
        current = int(await runtime.redis.hget(f"lc:{{s:{SHOW}}}:stock", "p-plain") or 0)
        from livecart.commerce.shows.control import adjust_stock

        await adjust_stock(runtime, SHOW, "p-plain", sku_units - current)


async def watch_stock(redis: Redis, stop: asyncio.Event, seen: list[int]) -> None:
    """Sample the live stock all through the storm: it must never read below zero."""
    while not stop.is_set():
        seen.append(int(await redis.hget(f"lc:{{s:{SHOW}}}:stock", "p-plain") or 0))
        await asyncio.sleep(0.002)


async def test_2000_buyers_for_50_units_sell_exactly_50_and_no_retry_buys_twice(
    settings: Settings, redis: Redis, tmp_path: Path
) -> None:
    await prepare_show(settings, UNITS)
    node = LivecartProcess(["serve", "--port", "0"], cwd=tmp_path, env=node_env(settings.redis.url))
    try:
        url = node.wait_for_url()
        # One connection per buyer for the tap, and a pool for the nine concurrent retries
        # of every key (ten sockets per buyer would pass this machine's 20 000 files).
        own = await open_connections(url, BUYERS)
        retry_pool = await open_connections(url, RETRY_CONNECTIONS)

        async def buyer(i: int) -> list[dict[str, Any]]:
            headers = {"Authorization": f"Bearer {token(f'buyer{i}')}"}
            body = {"sku": "p-plain", "quantity": 1, "idempotency_key": f"tap-{i}"}
            path = f"/api/shows/{SHOW}/buy"
            connections = [own[i]] + [
                retry_pool[(i * RETRIES + r) % RETRY_CONNECTIONS] for r in range(1, RETRIES)
            ]

            async def attempt(connection: RawConnection) -> tuple[int, dict[str, Any]]:
                # A 503 says the node could not reach Redis in time (its pool was busy on
                # a loaded machine): a client taps again with the same key, as here. Any
                # other answer is the key's outcome, and all ten must agree.
                # A 202 (in_progress: another tap of the key is being paid) asks for the
                # same: tap again after its retry_after_ms.
                busy = 0
                while True:
                    status, payload = await connection.request(
                        "POST", path, json=body, headers=headers
                    )
                    if status == 202:
                        await asyncio.sleep(payload.get("retry_after_ms", 500) / 1000)
                        continue
                    busy += 1
                    if status != 503 or busy >= BUSY_RETRIES:
                        break
                    await asyncio.sleep(BUSY_BACKOFF_S)
                return status, payload

            replies = await asyncio.gather(*(attempt(c) for c in connections))
            return [payload | {"status": status} for status, payload in replies]

        stop, seen = asyncio.Event(), []
        watcher = asyncio.create_task(watch_stock(redis, stop, seen))
        started = time.monotonic()
        results = await asyncio.gather(*(buyer(i) for i in range(BUYERS)))
        elapsed = time.monotonic() - started
        stop.set()
        await watcher
        for connection in own + retry_pool:
            await connection.close()
    finally:
        node.signal(signal.SIGTERM)
        node.wait()

    confirmed_orders: set[str] = set()
    for i, attempts in enumerate(results):
        outcomes = {a["result"] for a in attempts}
        # All ten attempts of one key report the same outcome.
        assert len(outcomes) == 1, (i, attempts)
        orders = {a["order"]["id"] for a in attempts if a["result"] == "confirmed"}
        assert len(orders) <= 1, (i, orders)
        confirmed_orders |= orders
    tally = Counter(attempts[0]["result"] for attempts in results)
    assert tally["confirmed"] == UNITS and tally["sold_out"] == BUYERS - UNITS, tally
    assert len(confirmed_orders) == UNITS

    assert min(seen) >= 0
    assert await redis.hget(f"lc:{{s:{SHOW}}}:stock", "p-plain") == "0"
    assert await redis.hget(f"lc:{{s:{SHOW}}}:sold", "p-plain") == str(UNITS)
    assert await redis.zcard(f"lc:{{s:{SHOW}}}:orders") == UNITS
    stored = [await redis.get(f"lc:{{s:{SHOW}}}:order:{order}") for order in confirmed_orders]
    buyers = Counter(orjson.loads(raw)["buyer"] for raw in stored)
    assert max(buyers.values()) == 1  # nobody charged twice
    stock_events = [
        orjson.loads(f["data"])["stock"]
        for _, f in await redis.xrange(f"lc:{{s:{SHOW}}}:events")
        if f["type"] == "stock"
    ]
    assert min(stock_events) >= 0
    await assert_units_add_up(redis)
    print(f"\n{BUYERS * RETRIES} requests from {BUYERS} buyers in {elapsed:.1f}s")


async def test_kill_9_of_redis_mid_burst_loses_no_confirmed_order(tmp_path: Path) -> None:
    """The node runs its own Redis (AOF, fsync always). Killed with SIGKILL in the middle
    of a burst, it is restarted from its AOF by the node; every order a buyer was told
    is confirmed is there afterwards, and the units add up."""
    data_dir = tmp_path / "data"
    env = node_env() | {
        "LIVECART_REDIS_DATA_DIR": str(data_dir),
        "LIVECART_REDIS_SOCKET_TIMEOUT_S": "2",
        "LIVECART_CHECKOUT_HOLD_SECONDS": "8",
        "LIVECART_CHECKOUT_PAYMENT_TIMEOUT_S": "2",
    }
    node = LivecartProcess(["serve", "--port", "0"], cwd=tmp_path, env=env)
    try:
        url = node.wait_for_url()
        (redis_pid,) = processes_serving(data_dir)
        settings = Settings().with_overrides({"redis": {"url": f"unix://{data_dir}/redis.sock"}})
        await prepare_show(settings, 400)

        confirmed: list[str] = []
        failures: Counter[str] = Counter()
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:

            async def buyer(i: int) -> None:
                headers = {"Authorization": f"Bearer {token(f'buyer{i}')}"}
                body = {"sku": "p-plain", "quantity": 1, "idempotency_key": f"tap-{i}"}
                try:
                    response = await http.post(f"/api/shows/{SHOW}/buy", json=body, headers=headers)
                except httpx.HTTPError as exc:
                    failures[type(exc).__name__] += 1
                    return
                if response.status_code == 201:
                    confirmed.append(response.json()["order"]["id"])
                else:
                    failures[response.json().get("result") or response.json().get("error")] += 1

            burst = [asyncio.create_task(buyer(i)) for i in range(600)]
            while len(confirmed) < 60:  # noqa: ASYNC110 (polling a plain list is the point)
                await asyncio.sleep(0.005)
            os.kill(redis_pid, signal.SIGKILL)
            killed_after = len(confirmed)
            await asyncio.gather(*burst)
        assert processes_serving(data_dir) and processes_serving(data_dir) != [redis_pid]
    finally:
        node.signal(signal.SIGTERM)
        assert node.wait() == 0, node.stderr

    assert "exited with -9; restarting from its AOF" in node.stderr
    assert len(confirmed) > killed_after  # sales went on after the restart
    # Read what survived with the node stopped: start the same data directory again.
    async with running(
        Settings().with_overrides({"redis": {"data_dir": str(data_dir)}}), workers=NODE_WORKERS
    ) as rt:
        stored = await rt.redis.zrange(f"lc:{{s:{SHOW}}}:orders", 0, -1)
        missing = set(confirmed) - set(stored)
        assert not missing, f"{len(missing)} confirmed orders lost"
        assert await rt.redis.hget(f"lc:{{s:{SHOW}}}:sold", "p-plain") == str(len(stored))
        await assert_units_add_up(rt.redis)
    print(
        f"\nconfirmed {len(confirmed)} (kill after {killed_after}); other outcomes {dict(failures)}"
    )
