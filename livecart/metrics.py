"""Prometheus figures for one node: the process, its Redis, and livecart's own counters.

Each app has its own registry (never the global one), so several apps in one process,
as in the tests, do not collide. Redis figures are read at scrape time with one INFO.
"""

from __future__ import annotations

import time

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from redis.asyncio import Redis
from redis.exceptions import RedisError

from livecart import __version__
from livecart.store.embedded import EmbeddedRedis

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        r = self.registry
        Gauge("livecart_info", "livecart version", ["version"], registry=r).labels(__version__).set(
            1
        )
        self.redis_up = Gauge(
            "livecart_redis_up", "1 when Redis answered the last scrape's PING", registry=r
        )
        self.redis_ping = Gauge("livecart_redis_ping_seconds", "round trip of one PING", registry=r)
        self.redis_memory = Gauge(
            "livecart_redis_used_memory_bytes", "Redis used_memory", registry=r
        )
        self.redis_clients = Gauge(
            "livecart_redis_connected_clients", "clients connected to Redis (all nodes)", registry=r
        )
        self.redis_commands = Gauge(
            "livecart_redis_commands_processed",
            "total_commands_processed since Redis started",
            registry=r,
        )
        self.redis_aof_ok = Gauge(
            "livecart_redis_aof_last_write_ok",
            "1 when AOF is on and its last write succeeded, 0 otherwise",
            registry=r,
        )
        self.buys = Counter(
            "livecart_buys", "buy and checkout attempts by result code", ["result"], registry=r
        )
        self.buy_seconds = Histogram(
            "livecart_buy_seconds",
            "time from a buy request to its result",
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
        )
        self.holds_reaped = Counter(
            "livecart_holds_reaped", "expired holds whose units went back to stock", registry=r
        )
        self.orders_projected = Counter(
            "livecart_orders_projected",
            "orders applied to the cross-show projections",
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "livecart_webhook_deliveries",
            "webhook delivery attempts by outcome (delivered, failed, dead)",
            ["outcome"],
            registry=r,
        )
        self.stripe_events = Counter(
            "livecart_stripe_events",
            "Stripe webhook events by type and what was done (kept, pending, cancelled, "
            "refunded, ignored)",
            ["type", "action"],
            registry=r,
        )
        self.webhooks_dead = Gauge(
            "livecart_webhooks_dead", "webhooks in the dead-letter list now", registry=r
        )
        self.embedded_restarts = Gauge(
            "livecart_embedded_redis_restarts",
            "times the embedded Redis died and was restarted from its AOF",
            registry=r,
        )

    async def refresh(self, redis: Redis, embedded: EmbeddedRedis | None) -> None:
        if embedded is not None:
            self.embedded_restarts.set(embedded.restarts)
        try:
            started = time.perf_counter()
            await redis.ping()
            self.redis_ping.set(time.perf_counter() - started)
            info = await redis.info()
        except (RedisError, OSError):
            self.redis_up.set(0)
            return
        self.redis_up.set(1)
        self.redis_memory.set(info.get("used_memory", 0))
        self.redis_clients.set(info.get("connected_clients", 0))
        self.redis_commands.set(info.get("total_commands_processed", 0))
        aof_ok = info.get("aof_enabled") == 1 and info.get("aof_last_write_status") == "ok"
        self.redis_aof_ok.set(1 if aof_ok else 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
