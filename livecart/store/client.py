"""The one Redis client a node uses: a bounded pool, timeouts from config.

Connection errors are retried twice with a short backoff (the usual cause is a pooled
connection to a server that restarted); timeouts are not retried, because a timed-out
script may still have run. Every script livecart runs must therefore be safe to run
twice with the same arguments (idempotency keys, set-if-absent): a retry after a lost
reply must not apply a change twice.
"""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from livecart.config import RedisSettings


def make_client(url: str, settings: RedisSettings) -> Redis:
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=settings.max_connections,
        timeout=settings.pool_timeout_s,
        socket_timeout=settings.socket_timeout_s,
        socket_connect_timeout=settings.connect_timeout_s,
        retry=Retry(
            ExponentialBackoff(cap=0.5, base=0.05),
            retries=2,
            supported_errors=(RedisConnectionError,),
        ),
        decode_responses=True,
        client_name="livecart",
    )
    return Redis(connection_pool=pool)
