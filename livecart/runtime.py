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
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from livecart.commerce.payments import PaymentProvider, provider_named
from livecart.config import Settings
from livecart.errors import StoreUnavailable
from livecart.metrics import Metrics
from livecart.store.client import make_client
from livecart.store.embedded import EmbeddedRedis, resolve_server_binary
from livecart.store.scripts import Scripts

log = logging.getLogger("livecart")


@dataclass
class Runtime:
    settings: Settings
    redis: Redis
    scripts: Scripts
    metrics: Metrics
    embedded: EmbeddedRedis | None
    payments: PaymentProvider


ReadyHook = Callable[[Runtime], Awaitable[None]]
Worker = Callable[[Runtime], Coroutine[Any, Any, None]]


def background_workers() -> list[Worker]:
    """What every node runs until it stops. Any number of nodes may run each of these
    at once: each claims its work atomically in Redis."""
    return []


@contextlib.asynccontextmanager
async def running(
    settings: Settings, ready_hooks: Sequence[ReadyHook] = ()
) -> AsyncIterator[Runtime]:
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
            stack.push_async_callback(_cancel, supervisor)
            url = embedded.url

        redis = make_client(url, settings.redis)
        stack.push_async_callback(redis.aclose)
        await _wait_for_redis(redis, settings.redis.startup_timeout_s, url)
        scripts = Scripts(redis)
        await scripts.preload()

        runtime = Runtime(
            settings,
            redis,
            scripts,
            Metrics(),
            embedded,
            payments=provider_named(settings.checkout.payment_provider),
        )
        for hook in ready_hooks:
            await hook(runtime)
        for worker in background_workers():
            task = asyncio.create_task(worker(runtime), name=worker.__name__)
            stack.push_async_callback(_cancel, task)
        yield runtime


async def _wait_for_redis(redis: Redis, timeout_s: float, url: str) -> None:
    """An external Redis may still be starting (containers start together): wait a while."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            await redis.ping()
            return
        except (RedisError, OSError) as exc:
            if time.monotonic() > deadline:
                raise StoreUnavailable(
                    f"Redis at {redact_url(url)} did not answer within {timeout_s:g}s "
                    f"(redis.startup_timeout_s): {exc}"
                ) from None
            log.warning("waiting for Redis at %s: %s", redact_url(url), exc)
            await asyncio.sleep(0.5)


def redact_url(url: str) -> str:
    """The URL without its password, for logs and errors."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return scheme + sep + rest


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
