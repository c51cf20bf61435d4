"""Reaching a node's Redis from outside a running node: what commands such as
``livecart import-catalog`` use.

Where the data lives decides how it is reached:

- ``redis.url`` set: that Redis, as a node would use it.
- the embedded default, with the data directory free: an embedded server is started
  for the duration (same binary, AOF and fsync policy as a node's) and stopped after,
  so everything written is on disk when the command returns.
- the embedded default, with a running livecart holding the data directory's lock:
  that node's own server, through its unix socket ``DATA_DIR/redis.sock``. Two servers
  on one data directory would corrupt its AOF, so a second one is never started.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis

from livecart.config import Settings, redact_url_secrets
from livecart.errors import EmbeddedRedisError
from livecart.runtime import wait_for_redis
from livecart.store.client import close_client, make_client
from livecart.store.embedded import EmbeddedRedis, resolve_server_binary
from livecart.store.layout import migrate_catalog_layout
from livecart.store.scripts import Scripts


@dataclass(frozen=True)
class Store:
    """A Redis client and the package's scripts on it, and where they lead, in words."""

    redis: Redis
    scripts: Scripts
    source: str


@contextlib.asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[Store]:
    """The store these settings name, open until the block ends (see the module doc).

    Raises StoreUnavailable when the Redis does not answer within
    ``redis.startup_timeout_s``, and EmbeddedRedisError when an embedded server is
    needed and cannot start.
    """
    async with contextlib.AsyncExitStack() as stack:
        if settings.embedded_redis:
            url, source = await _embedded_url(settings, stack)
        else:
            url, source = settings.redis.url, f"Redis at {redact_url_secrets(settings.redis.url)}"
        redis = make_client(url, settings.redis)
        stack.push_async_callback(close_client, redis)
        await wait_for_redis(redis, settings.redis.startup_timeout_s, source)
        if not settings.redis.cluster:
            await migrate_catalog_layout(redis)
        yield Store(redis, Scripts(redis), source)


async def _embedded_url(settings: Settings, stack: contextlib.AsyncExitStack) -> tuple[str, str]:
    embedded = EmbeddedRedis(
        settings.redis.data_dir,
        binary=resolve_server_binary(settings.redis.server_binary),
        appendfsync=settings.redis.appendfsync,
        startup_timeout_s=settings.redis.startup_timeout_s,
    )
    holder = lock_holder(embedded.lock_path)
    if holder is None:
        try:
            await embedded.start()
        except EmbeddedRedisError:
            # A livecart may have taken the directory between our look and our start.
            holder = lock_holder(embedded.lock_path)
            if holder is None:
                raise
        else:
            stack.push_async_callback(embedded.stop)
            return embedded.url, f"the embedded Redis in {embedded.data_dir}, run for this command"
    return (
        embedded.url,
        f"the Redis of the livecart running on {embedded.data_dir} (pid {holder})",
    )


def lock_holder(lock_path: Path) -> str | None:
    """The pid (as written in the lock file) of the livecart holding ``lock_path``, or
    None when nobody holds it. The lock is an ``flock`` the kernel drops when its holder
    dies, so a held lock means a live livecart."""
    try:
        lock_file = lock_path.open("r")
    except FileNotFoundError:
        return None
    with lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return lock_file.read().strip() or "unknown"
        fcntl.flock(lock_file, fcntl.LOCK_UN)
        return None
