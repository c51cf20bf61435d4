"""What a running node owns, built and torn down in order by the app's lifespan.

Start: embedded Redis (when no URL) and its supervisor, the client, the scripts, then
any ready hooks (the demo's seeding). Stop: the same in reverse. A failure anywhere in
start-up unwinds what was already started, so a crash of start-up leaves no Redis child
and no lock behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from livecart.commerce.payments.providers import PaymentProvider, provider_named
from livecart.config import Settings, redact_url_secrets
from livecart.errors import StoreUnavailable
from livecart.metrics import Metrics
from livecart.store.batch import ScriptCoalescer
from livecart.store.client import close_client, make_client
from livecart.store.embedded import EmbeddedRedis, resolve_server_binary
from livecart.store.layout import migrate_catalog_layout
from livecart.store.scripts import Scripts
from livecart.store.server_check import check_external_server
from livecart.store.turns import Turns, urgent_context

log = logging.getLogger("livecart")


@dataclass
class Runtime:
    settings: Settings
    redis: Redis
    scripts: Scripts
    metrics: Metrics
    embedded: EmbeddedRedis | None
    payments: PaymentProvider
    redis_url: str = ""  # where ``redis`` leads: the embedded server's socket, or redis.url
    # This node's name: its outbox consumer, and what its holds record as paying them.
    node: str = field(default_factory=lambda: new_node_name())
    # Taps being decided (buys and checkouts until their hold is taken or refused): a few
    # at a time, the rest waiting in order, so a flash sale's answers flow out while taps
    # still arrive (livecart.commerce.sales.checkout).
    taps: Turns = field(default_factory=lambda: Turns(TAPS_IN_FLIGHT))
    # The taps' reserve scripts, sent together (livecart.store.batch).
    coalesced: ScriptCoalescer = field(init=False)

    def __post_init__(self) -> None:
        self.coalesced = ScriptCoalescer(self.redis)

    def blocking_client(self) -> Redis:
        """A client of its own for XREAD BLOCK loops (see ``make_client``)."""
        return make_client(
            self.redis_url or self.settings.redis.url, self.settings.redis, blocking_reads=True
        )


# Two pipelines' worth (ScriptCoalescer.MAX_BATCH): with 32 a flash sale at 5 000 buyers
# answered with p99 1.5-1.6 s and 0.35 ms of CPU a tap, with 128 0.7-1.0 s and 0.21-0.26
# ms, with 256 no better (bench/flash_bench.py, A/B in one session).
TAPS_IN_FLIGHT = 128


def new_node_name() -> str:
    """Unique per process start: a restarted process is a new node."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"


ReadyHook = Callable[[Runtime], Awaitable[None]]
Worker = Callable[[Runtime], Coroutine[Any, Any, None]]


def background_workers() -> list[Worker]:
    """What every node runs until it stops. Any number of nodes may run each of these
    at once: each claims its work atomically in Redis."""
    from livecart.commerce.orders.outbox import run_order_consumers
    from livecart.commerce.orders.webhooks import run_webhook_deliveries
    from livecart.commerce.sales.holds import run_hold_reaper

    return [run_hold_reaper, run_order_consumers, run_webhook_deliveries]


@contextlib.asynccontextmanager
async def running(
    settings: Settings, ready_hooks: Sequence[ReadyHook] = (), workers: Sequence[Worker] = ()
) -> AsyncIterator[Runtime]:
    """Redis (embedded or not), the scripts and the payment provider, then ``workers``
    until the node stops. The app names its workers (``livecart.app.NODE_WORKERS``):
    they import the runtime, so the runtime does not import them."""
    async with contextlib.AsyncExitStack() as stack:
        embedded = None
        url = settings.redis.url
        if settings.embedded_redis:
            embedded = EmbeddedRedis(
                settings.redis.data_dir,
                binary=resolve_server_binary(settings.redis.server_binary),
                appendfsync=settings.redis.appendfsync,
                startup_timeout_s=settings.redis.startup_timeout_s,
            )
            await embedded.start()
            stack.push_async_callback(embedded.stop)
            supervisor = asyncio.create_task(embedded.supervise(), name="embedded-redis-supervisor")
            stack.push_async_callback(cancel_and_wait, supervisor)
            url = embedded.url

        redis = make_client(url, settings.redis)
        stack.push_async_callback(close_client, redis)
        await wait_for_redis(
            redis, settings.redis.startup_timeout_s, f"Redis at {redact_url_secrets(url)}"
        )
        await check_external_server(redis, settings)
        if not settings.redis.cluster:
            await migrate_catalog_layout(redis)
        scripts = Scripts(redis)
        await scripts.preload()

        payments = provider_named(settings.checkout.payment_provider, settings, redis)
        stack.push_async_callback(payments.aclose)
        runtime = Runtime(
            settings, redis, scripts, Metrics(), embedded, payments=payments, redis_url=url
        )
        for hook in ready_hooks:
            await hook(runtime)
        tasks = [
            asyncio.create_task(
                _keep_running(worker, runtime), name=worker.__name__, context=urgent_context()
            )
            for worker in workers
        ]
        stack.push_async_callback(cancel_all, tasks)
        yield runtime


WAIT_FOR_REDIS_INTERVAL_S = 0.2


async def wait_for_redis(redis: Redis, timeout_s: float, source: str) -> None:
    """Wait for ``redis`` to answer PING: an external Redis may still be starting
    (containers start together), an embedded one still loading its AOF. ``source``
    names it in the log and the error, without its password."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            await redis.ping()
            return
        except (RedisError, OSError) as exc:
            if time.monotonic() > deadline:
                raise StoreUnavailable(
                    f"{source} did not answer within {timeout_s:g}s "
                    f"(redis.startup_timeout_s): {exc}"
                ) from None
            log.warning("waiting for %s: %s", source, exc)
            await asyncio.sleep(WAIT_FOR_REDIS_INTERVAL_S)


WORKER_RESTART_DELAY_S = 1.0


async def _keep_running(worker: Worker, runtime: Runtime) -> None:
    """Run a worker until the node stops; a worker that fails is logged and restarted,
    so one bad moment does not silently stop reaping holds or delivering webhooks."""
    while True:
        try:
            await worker(runtime)
            return
        except Exception:
            log.exception(
                "background worker %s failed; restarting it in %.0f s",
                worker.__name__,
                WORKER_RESTART_DELAY_S,
            )
            await asyncio.sleep(WORKER_RESTART_DELAY_S)


CANCEL_AGAIN_AFTER_S = 0.02


async def cancel_all(tasks: Sequence[asyncio.Task[None]]) -> None:
    """Stop the node's workers together: a stop takes the slowest one's time, not the sum
    (each may need a second cancel, below)."""
    await asyncio.gather(*(cancel_and_wait(task) for task in tasks))


async def cancel_and_wait(task: asyncio.Task[None]) -> None:
    """Cancel a worker and wait until it has stopped, cancelling again if it did not.

    One cancel() is not always enough on Python 3.11: redis-py writes each command under
    asyncio.wait_for, which drops a cancellation that arrives as the write completes
    (CPython gh-86296, fixed in 3.12), and the worker's loop then carries on.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=CANCEL_AGAIN_AFTER_S)
    if not task.cancelled() and task.exception() is not None:
        log.error("background worker %s had failed", task.get_name(), exc_info=task.exception())
