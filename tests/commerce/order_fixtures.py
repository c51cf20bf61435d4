"""Confirmed orders as the buy script leaves them, and a real webhook receiver.

``record_confirmed_order`` makes exactly the three writes the confirm script makes in
its show's slot (order record, show index, outbox entry) in one MULTI, so the consumers
can be tested before and apart from real buys.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from redis.asyncio import Redis
from standardwebhooks.webhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livecart.commerce.accounts.creators import Creator, save_creator
from livecart.commerce.catalog.products import Brand, save_brand
from livecart.commerce.payments.providers import provider_named
from livecart.config import Settings
from livecart.metrics import Metrics
from livecart.runtime import Runtime
from livecart.store import keys
from livecart.store.scripts import Scripts

BRAND = "b1"
CREATORS = ("c1", "c2")
# Small numbers so retries, timeouts and dead letters happen within a test.
FAST_WEBHOOKS = {
    "webhooks": {
        "backoff_base_s": 0.05,
        "backoff_max_s": 0.2,
        "max_attempts": 3,
        "poll_interval_ms": 20,
        "timeout_s": 0.5,
    }
}
_clock = itertools.count()


async def bare_runtime(settings: Settings, redis: Redis) -> Runtime:
    """A node's parts without its background workers: what a node that stopped (or
    died) would have done is done by hand with it."""
    scripts = Scripts(redis)
    await scripts.preload()
    return Runtime(
        settings,
        redis,
        scripts,
        Metrics(),
        None,
        payments=provider_named(settings.checkout.payment_provider),
    )


def metric(runtime: Runtime, name: str, **labels: str) -> float:
    return runtime.metrics.registry.get_sample_value(name, labels) or 0.0


def make_order(
    *,
    show: str = "s1",
    brand: str = BRAND,
    buyer: str = "ana",
    creator: str | None = "c1",
    source: str = "show",
    lines: list[tuple[str, int, int, int]] | None = None,
    currency: str = "EUR",
    confirmed_at_ms: int | None = None,
    order_id: str | None = None,
) -> dict[str, Any]:
    """An order as confirm.lua writes it; ``lines`` are (sku, quantity, unit price, bps)."""
    lines = lines or [("p1", 2, 2400, 800)]
    made = []
    for sku, quantity, unit_price, bps in lines:
        line_total = quantity * unit_price
        made.append(
            {
                "sku": sku,
                "title": sku.title(),
                "quantity": quantity,
                "unit_price": unit_price,
                "line_total": line_total,
                "commission_bps": bps,
                "commission": line_total * bps // 10000,
                "flash_sale": None,
            }
        )
    confirmed = (
        int(time.time() * 1000) + next(_clock) if confirmed_at_ms is None else confirmed_at_ms
    )
    return {
        "id": order_id or f"o_{secrets.token_hex(10)}",
        "show": show,
        "brand": brand,
        "buyer": buyer,
        "status": "confirmed",
        "currency": currency,
        "lines": made,
        "total": sum(line["line_total"] for line in made),
        "commission_total": sum(line["commission"] for line in made),
        "attribution": None if creator is None else {"creator": creator, "source": source},
        "payment": {"provider": "builtin", "reference": "builtin_h_test"},
        "idempotency_key": secrets.token_hex(4),
        "held_at_ms": confirmed - 4,
        "confirmed_at_ms": confirmed,
    }


async def record_confirmed_order(redis: Redis, order: dict[str, Any]) -> str:
    """The confirm script's three writes for ``order``, in one MULTI; the outbox id."""
    show = order["show"]
    body = orjson.dumps(order).decode()
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(keys.show_order(show, order["id"]), body)
        pipe.zadd(keys.show_orders(show), {order["id"]: order["confirmed_at_ms"]})
        pipe.xadd(keys.show_outbox(show), {"type": "order.confirmed", "order": body})
        replies = await pipe.execute()
    return str(replies[2])


async def start_show_outbox(redis: Redis, show: str) -> None:
    """What starting a show does for the consumers: its outbox joins outbox_shows."""
    await redis.sadd(keys.outbox_shows(), show)


async def mark_show(
    redis: Redis, show: str, state: str = "live", ended_at: int | None = None
) -> None:
    """The fields of a show's hash the order consumers and queries look at."""
    fields: dict[str, str | int] = {"id": show, "state": state}
    if ended_at is not None:
        fields["ended_at"] = ended_at
    await redis.hset(keys.show(show), mapping=fields)


async def seed_parties(redis: Redis) -> None:
    await save_brand(redis, Brand(id=BRAND, name="Brand One"))
    for creator in CREATORS:
        await save_creator(redis, Creator(id=creator, name=creator.upper()))


async def wait_for(
    check: Callable[[], Awaitable[bool]], within: float = 10.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.02)


async def projected(redis: Redis, count: int) -> bool:
    return int(await redis.zcard(keys.orders_index())) >= count


# --- a real webhook receiver ------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    """Answers the first ``hang_first`` requests only after ``hang_s`` (past the sender's
    timeout), the next ``fail_first`` with ``fail_status``, then 204; with ``failing``
    set, every request fails."""

    fail_first: int = 0
    hang_first: int = 0
    hang_s: float = 2.0
    fail_status: int = 500
    failing: bool = False
    url: str = ""
    requests: list[Received] = field(default_factory=list)

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        n = len(self.requests)
        self.requests.append(Received(dict(request.headers), body, time.monotonic()))
        if self.failing:
            return Response(status_code=self.fail_status)
        if n < self.hang_first:
            await asyncio.sleep(self.hang_s)
            return Response(status_code=204)
        if n < self.hang_first + self.fail_first:
            return Response(status_code=self.fail_status)
        return Response(status_code=204)

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """Every request's payload, each checked by the Standard Webhooks library."""
        hook = Webhook(secret)
        return [hook.verify(r.body, r.headers) for r in self.requests]

    def ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.requests]


@contextlib.asynccontextmanager
async def serving(receiver: Receiver) -> AsyncIterator[Receiver]:
    """``receiver`` behind uvicorn on a free port, as a brand's endpoint would be."""
    app = Starlette(routes=[Route("/hook", receiver.handle, methods=["POST"])])
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        lifespan="off",
        log_level="warning",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("receiver stopped during start-up")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    receiver.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield receiver
    finally:
        server.should_exit = True
        await task
