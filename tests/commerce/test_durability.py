"""A confirmed order is in a replica's AOF before the buyer hears "confirmed"
(redis.replica_acks, WAITAOF): on a real primary and replica from the bundled binary.
With the replica stopped, a buy answers in_progress after the ack timeout, the order
written; once the replica is back, a retry with the same key answers confirmed with
that same order."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import statistics
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis as sync_redis

from livecart.commerce.auctions import auctions, awards
from livecart.commerce.auctions.auctions import AuctionStart, BidRequest
from livecart.commerce.sales import checkout
from livecart.commerce.sales.checkout import BuyRequest
from livecart.config import Settings
from livecart.runtime import running
from livecart.store import keys
from livecart.store.embedded import bundled_server_binary
from tests.commerce.conftest import SHOW, assert_units_add_up, seed_show, units

ACK_TIMEOUT_MS = 300
BUYS = 40  # confirmed with the replica up, timed


@dataclass
class Pair:
    primary_port: int
    primary: subprocess.Popen[bytes]
    replica: subprocess.Popen[bytes]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _server(binary: Path, directory: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    directory.mkdir()
    options = {"port": port, "bind": "127.0.0.1", "dir": directory, "appendonly": "yes"}
    options |= {"appendfsync": "always", "save": ""}
    argv = [str(binary)]
    for name, value in options.items():
        argv += [f"--{name}", str(value)]
    return subprocess.Popen(
        [*argv, *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    """A primary and one replica of it (``--replicaof``), both with an AOF, on TCP."""
    binary = bundled_server_binary()
    primary_port, replica_port = _free_port(), _free_port()
    primary = _server(binary, tmp_path / "primary", primary_port)
    replica = _server(
        binary, tmp_path / "replica", replica_port, "--replicaof", "127.0.0.1", str(primary_port)
    )
    try:
        # Ready once a write is in the replica's AOF (its link up is not yet enough).
        client = sync_redis.Redis(port=primary_port, decode_responses=True)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.set("ready", "1")
                if client.execute_command("WAITAOF", 1, 1, 100)[1] == 1:  # type: ignore[no-untyped-call]
                    break
            except sync_redis.ConnectionError:
                time.sleep(0.05)
            assert time.monotonic() < deadline, "the replica did not acknowledge a write"
        client.close()
        yield Pair(primary_port, primary, replica)
    finally:
        for proc in (replica, primary):
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
                proc.wait()


def durable_settings(settings: Settings, pair: Pair) -> Settings:
    return settings.with_overrides(
        {
            "redis": {
                "url": f"redis://127.0.0.1:{pair.primary_port}",
                "replica_acks": 1,
                "replica_ack_timeout_ms": ACK_TIMEOUT_MS,
            }
        }
    )


def tap(key: str) -> BuyRequest:
    return BuyRequest(sku="p-plain", quantity=1, idempotency_key=key)


async def test_an_order_is_confirmed_only_once_a_replica_holds_it_in_its_aof(
    settings: Settings, pair: Pair
) -> None:
    durable = durable_settings(settings, pair)
    assert durable.redis.confirm_replicas == 1
    async with running(durable) as runtime:
        await seed_show(runtime)
        first = await checkout.buy(runtime, SHOW, "ana", tap("k1"))
        assert first.result == "confirmed" and first.order is not None
        confirm_seconds = []
        for i in range(BUYS):
            started = time.monotonic()
            bought = await checkout.buy(runtime, SHOW, f"cy-{i}", tap(f"c{i}"))
            confirm_seconds.append(time.monotonic() - started)
            assert bought.result == "confirmed"

        before = await runtime.redis.zrange(keys.show_orders(SHOW), 0, -1)
        os.kill(pair.replica.pid, signal.SIGSTOP)  # the replica stops acknowledging
        try:
            started = time.monotonic()
            waiting = await checkout.buy(runtime, SHOW, "bob", tap("k2"))
            took = time.monotonic() - started
            assert waiting.result == "in_progress" and waiting.retry_after_ms
            assert waiting.order is None  # never "confirmed" early
            assert ACK_TIMEOUT_MS / 1000 <= took < ACK_TIMEOUT_MS / 1000 + 1.0
            # The order is written all the same; only the word "confirmed" waits.
            orders = await runtime.redis.zrange(keys.show_orders(SHOW), 0, -1)
            assert len(orders) == 2 + BUYS
            (written,) = set(orders) - {first.order["id"]} - set(before)
            # A retry while the replica is still away is told the same, not confirmed.
            again = await checkout.buy(runtime, SHOW, "bob", tap("k2"))
            assert again.result == "in_progress" and again.replayed
        finally:
            os.kill(pair.replica.pid, signal.SIGCONT)

        resumed = time.monotonic()
        for _ in range(20):  # the replica catches up and acknowledges within a second
            retried = await checkout.buy(runtime, SHOW, "bob", tap("k2"))
            if retried.result != "in_progress":
                break
        caught_up = time.monotonic() - resumed
        assert retried.result == "confirmed" and retried.replayed
        assert retried.order is not None and retried.order["id"] == written
        assert (await units(runtime.redis, "p-plain")).sold == 2 + BUYS
        await assert_units_add_up(runtime.redis)
        ms = sorted(t * 1000 for t in confirm_seconds)
        print(
            f"\nbuys confirmed with the replica up: n={BUYS} min={ms[0]:.1f} ms "
            f"median={statistics.median(ms):.1f} ms max={ms[-1]:.1f} ms"
        )
        print(f"buy with the replica stopped answered in_progress after {took * 1000:.0f} ms")
        print(f"retry confirmed {caught_up * 1000:.0f} ms after the replica resumed")


async def test_an_auction_win_is_confirmed_only_once_a_replica_holds_it(
    settings: Settings, pair: Pair
) -> None:
    """The award path: a second-chance offer accepted while the replica is stopped is
    written and answered in_progress, never confirmed."""
    async with running(durable_settings(settings, pair)) as runtime:
        await seed_show(runtime)
        start = {"sku": "p-plain", "start_price": 1000, "increment": 100, "duration_s": 30}
        auction = (await auctions.start_auction(runtime, SHOW, AuctionStart.from_dict(start)))["id"]
        for user, amount in (("bob", 1000), ("decline-dan", 1200)):
            request = BidRequest.from_dict({"auction": auction, "amount": amount})
            await auctions.place_bid(runtime, SHOW, user, request)
        seconds, micros = await runtime.redis.time()
        ends = seconds * 1000 + micros // 1000
        await runtime.redis.hset(keys.show_auction(SHOW, auction), "ends_ms", ends)
        await awards.look(runtime, SHOW, "auction", auction)
        for _ in range(500):  # the winner's card is declined, in the background
            view = await awards.view(runtime, SHOW, "auction", auction)
            if view and view["payment"] == "unpaid":
                break
            await asyncio.sleep(0.02)
        await auctions.offer_second_chance(runtime, SHOW, auction, 60)

        os.kill(pair.replica.pid, signal.SIGSTOP)
        try:
            outcome = await auctions.accept_offer(runtime, SHOW, auction, "bob")
        finally:
            os.kill(pair.replica.pid, signal.SIGCONT)
        assert outcome.result == "in_progress" and outcome.order is None
        assert await runtime.redis.zcard(keys.show_orders(SHOW)) == 1  # written all the same
        await assert_units_add_up(runtime.redis)
