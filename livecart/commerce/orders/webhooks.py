"""Signed order webhooks to brands: endpoints, deliveries, retries and dead letters.

A brand configures one endpoint (URL and signing secret). For each order event of a
brand with an endpoint (``order.confirmed``, then ``order.fulfilled``,
``order.delivered``, ``order.cancelled``, ``order.refunded``), the ``webhooks`` consumer
of the show's outbox creates one delivery record, keyed by a delivery id derived from
the order id (``msg_`` + order id for the confirmation, ``msg_`` + order id + ``.v`` +
the order's version for each later move), so a re-read creates nothing new, and makes
it due at once.

Every node runs ``run_webhook_deliveries``: it claims due deliveries atomically
(``claim_webhook.lua``: a claim leases a delivery rather than taking it away, so a node
that dies mid-delivery loses nothing), POSTs them signed as the Standard Webhooks spec
says (https://www.standardwebhooks.com), at most ``webhooks.concurrency`` at a time,
and records the outcome. Any 2xx is delivered; anything else (a status, a timeout, a
connection error) is retried after ``min(backoff_base_s * 2^(attempts-1),
backoff_max_s)``, less up to 20 % of jitter, until ``max_attempts`` attempts have
failed; then the delivery is dead-lettered, listed, and may be redelivered by hand.

Delivery is at least once: a receiver can see a message twice (a node dying after the
receiver answered but before the outcome was saved), always with the same
``webhook-id`` and body, so receivers deduplicate on ``webhook-id``.

The records live outside any show's slot and their keys share no hash tag, so every
multi-key change here is a sequence of single-key steps, each ordered so that a crash
between two of them leaves something the loop repairs by itself (see ``deliver``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import hashlib
import hmac
import logging
import random
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError, WatchError

from livecart import __version__
from livecart import validation as v
from livecart.commerce.orders.records import Order, PageRequest, listing, page_of
from livecart.config import WebhookSettings
from livecart.errors import Conflict, InvalidInput, NotFound
from livecart.runtime import Runtime
from livecart.store import keys
from livecart.store.clock import redis_now_ms

log = logging.getLogger("livecart.webhooks")

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24
DELIVERED_RETENTION_S = 7 * 86400  # a delivered record stays readable this long
DEAD_RETENTION_S = 30 * 86400  # a dead letter stays listed this long unless redelivered
# A brand's listing of its deliveries keeps at most this many, none older than
# DEAD_RETENTION_S (by then their records are gone), trimmed whenever one is added.
MAX_LISTED_DELIVERIES = 10_000
LEASE_MARGIN_S = 5.0  # a claim's lease: twice the timeout plus this, for Redis round trips
JITTER = 0.2  # a retry waits between 80 % and 100 % of its backoff
MAX_ERROR_CHARS = 300
MAX_ENTRY_FIELD_CHARS = 1000  # what a dead letter keeps of each field of a malformed entry
MAINTENANCE_INTERVAL_S = 60.0
CAS_RETRIES = 20
USER_AGENT = f"livecart-webhooks/{__version__}"

PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"


# --- endpoints ----------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    url: str
    secret: str
    updated_at_ms: int

    def to_json(self) -> bytes:
        return orjson.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Endpoint:
        d = orjson.loads(raw)
        return cls(url=d["url"], secret=d["secret"], updated_at_ms=d.get("updated_at_ms", 0))


def new_secret() -> str:
    """``whsec_`` + base64 of 24 random bytes, as Standard Webhooks secrets are."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def endpoint_url(body: Mapping[str, Any]) -> str:
    """The endpoint URL of a PUT body: required, http(s), with a host, no spaces."""
    if body.get("url") is None:
        raise InvalidInput("url is required", field="url")
    url = v.url(body, "url")
    if not url:
        raise InvalidInput("url must not be empty", field="url")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise InvalidInput(f"url is not a valid URL: {exc}", field="url") from None
    if not parsed.host:
        raise InvalidInput("url must name a host", field="url")
    return url


async def get_endpoint(redis: Redis, brand_id: str) -> Endpoint | None:
    raw = await redis.get(keys.brand_webhook(brand_id))
    return None if raw is None else Endpoint.from_json(raw)


async def put_endpoint(
    redis: Redis, brand_id: str, url: str, *, rotate_secret: bool
) -> tuple[Endpoint, bool]:
    """Set the brand's endpoint URL; return it and whether it was created.

    The secret is made on the first PUT and kept by later ones unless rotated. Read and
    write are one optimistic transaction, so two first PUTs at once cannot hand out two
    secrets of which only one is kept.
    """
    key = keys.brand_webhook(brand_id)
    async with redis.pipeline(transaction=True) as pipe:
        for _ in range(CAS_RETRIES):
            try:
                await pipe.watch(key)
                raw = await pipe.get(key)
                now_ms = await redis_now_ms(redis)
                current = None if raw is None else Endpoint.from_json(raw)
                secret = new_secret() if current is None or rotate_secret else current.secret
                endpoint = Endpoint(url=url, secret=secret, updated_at_ms=now_ms)
                pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
                pipe.set(key, endpoint.to_json())
                await pipe.execute()
                return endpoint, current is None
            except WatchError:
                continue
    raise Conflict("the webhook endpoint is being changed by others; try again", field="brand")


async def delete_endpoint(redis: Redis, brand_id: str) -> bool:
    return bool(await redis.delete(keys.brand_webhook(brand_id)))


# --- signing and payloads -------------------------------------------------------------


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,`` + base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}``, keyed by the
    base64-decoded secret after its ``whsec_`` prefix (Standard Webhooks, "Signature
    scheme")."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    message = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


def iso_utc(ms: int) -> str:
    instant = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def order_payload(order: Order) -> str:
    """``{"type": "order.confirmed", "timestamp": ISO-8601, "data": <order>}`` (or
    ``order.fulfilled``, ...: the outbox entry's type).

    The timestamp is when the event happened (confirmed, or the lifecycle move: not the
    send's time), and ``data`` is the order exactly as the script that made the event
    wrote it.
    """
    body = {
        "type": order.event,
        "timestamp": iso_utc(order.event_at_ms),
        "data": orjson.Fragment(order.json),
    }
    return orjson.dumps(body).decode()


def retry_delay_s(attempts: int, settings: WebhookSettings, rng: random.Random) -> float:
    """Wait after the ``attempts``-th failed attempt: doubling from ``backoff_base_s``,
    capped at ``backoff_max_s``, then shortened by up to ``JITTER`` so that deliveries
    which failed together (a receiver's outage) do not all come back together."""
    backoff = settings.backoff_base_s * 2.0 ** min(max(attempts - 1, 0), 62)
    return min(backoff, settings.backoff_max_s) * rng.uniform(1 - JITTER, 1.0)


# --- delivery records -----------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    id: str
    show: str
    brand: str | None  # None only for a dead letter made from a malformed outbox entry
    order: str | None
    type: str
    body: str | None  # the exact JSON POSTed, fixed at creation: every retry sends the same
    status: str  # pending, delivered or dead
    attempts: int
    created_at_ms: int
    last_attempt_at_ms: int | None = None
    last_status: int | None = None  # the receiver's last HTTP status, when it answered
    last_error: str | None = None
    next_attempt_at_ms: int | None = None
    delivered_at_ms: int | None = None
    dead_at_ms: int | None = None
    entry: dict[str, str] | None = None  # a malformed outbox entry, as read (truncated)

    def to_json(self) -> bytes:
        return orjson.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Delivery:
        data = orjson.loads(raw)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: val for k, val in data.items() if k in known})

    def public(self) -> dict[str, Any]:
        """What the API shows: everything but the body, which is shown as ``payload``."""
        shown = {k: val for k, val in dataclasses.asdict(self).items() if k != "body"}
        shown["payload"] = None if self.body is None else orjson.Fragment(self.body)
        return shown

    def summary(self) -> dict[str, Any]:
        """A line of a brand's delivery listing: the state, not the body."""
        return {
            k: val
            for k, val in dataclasses.asdict(self).items()
            if k not in ("body", "entry", "type")
        }

    def dead_letter(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "brand": self.brand,
            "order": self.order,
            "show": self.show,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "last_status": self.last_status,
            "dead_at_ms": self.dead_at_ms,
        }


@dataclass(frozen=True)
class AttemptResult:
    delivered: bool
    status: int | None
    error: str | None


def new_delivery(order: Order, now_ms: int) -> Delivery:
    return Delivery(
        id=order.delivery_id,
        show=order.show,
        brand=order.brand,
        order=order.id,
        type=order.event,
        body=order_payload(order),
        status=PENDING,
        attempts=0,
        created_at_ms=now_ms,
        next_attempt_at_ms=now_ms,
    )


async def enqueue_deliveries(redis: Redis, orders: Sequence[Order], now_ms: int) -> int:
    """Create a due delivery for each order whose brand has an endpoint; return how many
    were new. Safe to run again for the same orders: SET NX creates nothing new, and a
    record that is still pending is made due again only if it had been left out of the
    due set (ZADD NX), never moved, and never one that was delivered or dead.

    Each delivery is also listed under its brand (ZADD NX at its creation time, so a
    re-run puts back an entry a crash left out, and never moves one)."""
    if not orders:
        return 0
    brands = sorted({o.brand for o in orders})
    async with redis.pipeline(transaction=False) as pipe:
        for brand in brands:
            pipe.exists(keys.brand_webhook(brand))
        exists = dict(zip(brands, await pipe.execute(), strict=True))
    wanted = []
    for order in orders:
        if exists[order.brand]:
            wanted.append(order)
        else:
            log.debug("order %s: brand %s has no webhook endpoint", order.id, order.brand)
    if not wanted:
        return 0
    async with redis.pipeline(transaction=False) as pipe:
        for order in wanted:
            pipe.set(
                keys.webhook(order.delivery_id), new_delivery(order, now_ms).to_json(), nx=True
            )
        created = await pipe.execute()
        for order, new in zip(wanted, created, strict=True):
            if new:
                pipe.zadd(keys.webhooks_due(), {order.delivery_id: now_ms}, nx=True)
            else:
                pipe.get(keys.webhook(order.delivery_id))
        replies = await pipe.execute()
        for order, new, reply in zip(wanted, created, replies, strict=True):
            if new:
                _list_delivery(pipe, order.brand, order.delivery_id, now_ms)
            elif reply is not None:
                record = Delivery.from_json(reply)
                if record.status == PENDING:
                    pipe.zadd(keys.webhooks_due(), {order.delivery_id: now_ms}, nx=True)
                _list_delivery(pipe, order.brand, order.delivery_id, record.created_at_ms)
        for brand in sorted({o.brand for o in wanted}):
            _trim_listed_deliveries(pipe, brand, now_ms)
        await pipe.execute()
    return sum(1 for new in created if new)


def _list_delivery(pipe: Pipeline, brand_id: str, delivery_id: str, created_at_ms: int) -> None:
    pipe.zadd(keys.brand_webhook_deliveries(brand_id), {delivery_id: created_at_ms}, nx=True)


def _trim_listed_deliveries(pipe: Pipeline, brand_id: str, now_ms: int) -> None:
    """Keep a brand's listing bounded: the newest MAX_LISTED_DELIVERIES, none past the
    retention of any record it could still point to."""
    index = keys.brand_webhook_deliveries(brand_id)
    pipe.zremrangebyscore(index, "-inf", f"({now_ms - DEAD_RETENTION_S * 1000}")
    pipe.zremrangebyrank(index, 0, -(MAX_LISTED_DELIVERIES + 1))


def malformed_delivery_id(show_id: str, entry_id: str) -> str:
    digest = hashlib.sha256(f"{show_id}/{entry_id}".encode()).hexdigest()
    return "bad_" + digest[:40]


async def dead_letter_entry(
    redis: Redis,
    show_id: str,
    entry_id: str,
    fields: Mapping[str, str] | None,
    reason: str,
    now_ms: int,
) -> bool:
    """Record a malformed outbox entry as a dead letter, so it is seen; True when new."""
    delivery_id = malformed_delivery_id(show_id, entry_id)
    kept = {k[:100]: val[:MAX_ENTRY_FIELD_CHARS] for k, val in (fields or {}).items()}
    record = Delivery(
        id=delivery_id,
        show=show_id,
        brand=None,
        order=None,
        type=(fields or {}).get("type", "")[:100],
        body=None,
        status=DEAD,
        attempts=0,
        created_at_ms=now_ms,
        last_error=f"malformed outbox entry {entry_id}: {reason}"[:MAX_ERROR_CHARS],
        dead_at_ms=now_ms,
        entry=kept,
    )
    created = await redis.set(
        keys.webhook(delivery_id), record.to_json(), nx=True, ex=DEAD_RETENTION_S
    )
    await redis.zadd(keys.webhooks_dead(), {delivery_id: now_ms}, nx=True)
    return bool(created)


# --- delivering -----------------------------------------------------------------------


def lease_ms(settings: WebhookSettings) -> int:
    return int((2 * settings.timeout_s + LEASE_MARGIN_S) * 1000)


async def claim_due(runtime: Runtime, limit: int) -> tuple[int, list[str]]:
    """Claim up to ``limit`` due deliveries; return Redis' time (ms) and their ids."""
    reply = await runtime.scripts["claim_webhook"](
        keys=[keys.webhooks_due()], args=[limit, lease_ms(runtime.settings.webhooks)]
    )
    return int(reply[0]), [str(i) for i in reply[1:]]


async def post_delivery(
    http: httpx.AsyncClient, endpoint: Endpoint, delivery: Delivery, timeout_s: float
) -> AttemptResult:
    """One signed POST. The whole exchange, not each read, is bounded by ``timeout_s``;
    the receiver's body is never read (only its status matters)."""
    assert delivery.body is not None
    body = delivery.body.encode()
    headers = signed_headers(endpoint.secret, delivery.id, int(time.time()), body)
    try:
        async with (
            asyncio.timeout(timeout_s),
            http.stream("POST", endpoint.url, content=body, headers=headers) as response,
        ):
            status = response.status_code
    except (TimeoutError, httpx.TimeoutException):
        return AttemptResult(False, None, f"no answer within {timeout_s:g} s")
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return AttemptResult(False, None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS])
    if 200 <= status < 300:
        return AttemptResult(True, status, None)
    return AttemptResult(False, status, f"HTTP {status}")


def after_attempt(
    delivery: Delivery,
    result: AttemptResult,
    now_ms: int,
    settings: WebhookSettings,
    rng: random.Random,
) -> Delivery:
    """The record after one attempt: delivered, due again later, or dead."""
    attempts = delivery.attempts + 1
    common: dict[str, Any] = {
        "attempts": attempts,
        "last_attempt_at_ms": now_ms,
        "last_status": result.status,
    }
    if result.delivered:
        return dataclasses.replace(
            delivery, **common, status=DELIVERED, delivered_at_ms=now_ms, next_attempt_at_ms=None
        )
    common["last_error"] = result.error
    if attempts >= settings.max_attempts:
        return dataclasses.replace(
            delivery, **common, status=DEAD, dead_at_ms=now_ms, next_attempt_at_ms=None
        )
    next_at = now_ms + int(retry_delay_s(attempts, settings, rng) * 1000)
    return dataclasses.replace(delivery, **common, next_attempt_at_ms=next_at)


async def _replace_if_unchanged(
    redis: Redis, key: str, expected: str | bytes, record: Delivery, ttl_s: int | None
) -> bool:
    """Write ``record`` only if the stored one is still ``expected`` (WATCH on one key):
    a node that outlived its lease must not overwrite what another node recorded."""
    async with redis.pipeline(transaction=True) as pipe:
        await pipe.watch(key)
        if await pipe.get(key) != expected:
            await pipe.unwatch()  # type: ignore[no-untyped-call]
            return False
        pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
        pipe.set(key, record.to_json(), ex=ttl_s)
        try:
            await pipe.execute()
        except WatchError:
            return False
    return True


async def deliver(
    runtime: Runtime, http: httpx.AsyncClient, delivery_id: str, claimed_at_ms: int
) -> None:
    """Make one attempt at a claimed delivery and record its outcome.

    The record is written first, then the due and dead sets. A crash in between leaves
    the delivery due at the end of its lease; claimed again, a record found delivered
    or dead only has its sets put right, and a pending one is tried again.
    """
    redis = runtime.redis
    settings = runtime.settings.webhooks
    key = keys.webhook(delivery_id)
    raw = await redis.get(key)
    if raw is None:
        await redis.zrem(keys.webhooks_due(), delivery_id)
        return
    delivery = Delivery.from_json(raw)
    if delivery.status == DELIVERED:
        await redis.zrem(keys.webhooks_due(), delivery_id)
        return
    if delivery.status == DEAD or delivery.body is None or delivery.brand is None:
        await _settle_dead(redis, delivery_id, delivery.dead_at_ms or claimed_at_ms)
        return

    started = time.monotonic()
    endpoint = await get_endpoint(redis, delivery.brand)
    if endpoint is None:
        result = AttemptResult(False, None, f"brand {delivery.brand!r} has no webhook endpoint")
    else:
        result = await post_delivery(http, endpoint, delivery, settings.timeout_s)
    now_ms = claimed_at_ms + int((time.monotonic() - started) * 1000)
    updated = after_attempt(delivery, result, now_ms, settings, random.Random())
    ttl = {DELIVERED: DELIVERED_RETENTION_S, DEAD: DEAD_RETENTION_S}.get(updated.status)
    if not await _replace_if_unchanged(redis, key, raw, updated, ttl):
        log.info(
            "webhook %s changed while it was being delivered; its outcome is dropped", delivery_id
        )
        return

    if updated.status == DELIVERED:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.zrem(keys.webhooks_due(), delivery_id)
            pipe.zrem(keys.webhooks_dead(), delivery_id)
            await pipe.execute()
        runtime.metrics.webhook_deliveries.labels(DELIVERED).inc()
    elif updated.status == DEAD:
        await _settle_dead(redis, delivery_id, now_ms)
        runtime.metrics.webhook_deliveries.labels(DEAD).inc()
        log.warning(
            "webhook %s (order %s, brand %s) dead-lettered after %d attempts: %s",
            delivery_id,
            updated.order,
            updated.brand,
            updated.attempts,
            updated.last_error,
        )
    else:
        assert updated.next_attempt_at_ms is not None
        async with redis.pipeline(transaction=False) as pipe:
            pipe.zadd(keys.webhooks_due(), {delivery_id: updated.next_attempt_at_ms})
            pipe.zrem(keys.webhooks_dead(), delivery_id)
            await pipe.execute()
        runtime.metrics.webhook_deliveries.labels("failed").inc()
        log.info(
            "webhook %s attempt %d failed (%s); next in %.1f s",
            delivery_id,
            updated.attempts,
            updated.last_error,
            (updated.next_attempt_at_ms - now_ms) / 1000,
        )


async def _settle_dead(redis: Redis, delivery_id: str, dead_at_ms: int) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zadd(keys.webhooks_dead(), {delivery_id: dead_at_ms}, nx=True)
        pipe.zrem(keys.webhooks_due(), delivery_id)
        await pipe.execute()


async def run_webhook_deliveries(runtime: Runtime) -> None:
    """Deliver due webhooks until cancelled; safe on every node at once.

    Each pass claims as many due deliveries as there are free slots (at most
    ``webhooks.concurrency`` in flight on this node), and waits ``poll_interval_ms``
    when nothing was due. Cancelling stops the deliveries in flight: their claims run
    out and another node (or this one, restarted) tries them again.
    """
    settings = runtime.settings.webhooks
    poll_s = settings.poll_interval_ms / 1000
    in_flight: set[asyncio.Task[None]] = set()
    next_maintenance = 0.0

    def finished(task: asyncio.Task[None]) -> None:
        in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("webhook delivery %s failed", task.get_name(), exc_info=task.exception())

    http = httpx.AsyncClient(
        timeout=httpx.Timeout(settings.timeout_s),
        limits=httpx.Limits(
            max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency
        ),
        follow_redirects=False,
        headers={"user-agent": USER_AGENT},
    )
    try:
        while True:
            claimed: list[str] = []
            try:
                if time.monotonic() >= next_maintenance:
                    await _maintain_dead_letters(runtime)
                    next_maintenance = time.monotonic() + MAINTENANCE_INTERVAL_S
                runtime.metrics.webhooks_dead.set(await runtime.redis.zcard(keys.webhooks_dead()))
                free = settings.concurrency - len(in_flight)
                if free > 0:
                    now_ms, claimed = await claim_due(runtime, free)
                    for delivery_id in claimed:
                        task = asyncio.create_task(
                            deliver(runtime, http, delivery_id, now_ms),
                            name=f"webhook-{delivery_id}",
                        )
                        in_flight.add(task)
                        task.add_done_callback(finished)
            except (RedisError, OSError) as exc:
                log.warning("webhook deliveries: Redis failed, retrying: %s", exc)
            if claimed and len(in_flight) < settings.concurrency:
                continue  # more may be due right now
            if in_flight:
                await asyncio.wait(in_flight, timeout=poll_s, return_when=asyncio.FIRST_COMPLETED)
            else:
                await asyncio.sleep(poll_s)
    finally:
        for task in in_flight:
            task.cancel()
        for task in list(in_flight):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await http.aclose()


async def _maintain_dead_letters(runtime: Runtime) -> None:
    """Forget dead letters older than their retention (their records expired with it)."""
    cutoff = await redis_now_ms(runtime.redis) - DEAD_RETENTION_S * 1000
    await runtime.redis.zremrangebyscore(keys.webhooks_dead(), "-inf", cutoff)


# --- reading and redelivering ---------------------------------------------------------


async def get_delivery(redis: Redis, delivery_id: str) -> Delivery:
    raw = await redis.get(keys.webhook(delivery_id))
    if raw is None:
        raise NotFound(f"webhook {delivery_id!r} does not exist", field="webhook")
    return Delivery.from_json(raw)


async def list_brand_deliveries(redis: Redis, brand_id: str, page: PageRequest) -> dict[str, Any]:
    """A brand's deliveries, newest first (by creation), each as its state without the
    payload; one whose record has expired is left out."""
    found = await page_of(redis, keys.brand_webhook_deliveries(brand_id), page)
    items = []
    if found.ids:
        async with redis.pipeline(transaction=False) as pipe:  # one GET each: no shared slot
            for delivery_id in found.ids:
                pipe.get(keys.webhook(delivery_id))
            raws = await pipe.execute()
        items = [Delivery.from_json(raw).summary() for raw in raws if raw is not None]
    return listing(items, found.next)


async def list_dead(redis: Redis, page: PageRequest) -> dict[str, Any]:
    """Dead letters, most recently dead first."""
    found = await page_of(redis, keys.webhooks_dead(), page)
    letters = []
    if found.ids:
        async with redis.pipeline(transaction=False) as pipe:
            for delivery_id in found.ids:
                pipe.get(keys.webhook(delivery_id))
            raws = await pipe.execute()
        for raw in raws:
            if raw is not None:
                record = Delivery.from_json(raw)
                if record.status == DEAD:
                    letters.append(record.dead_letter())
    return listing(letters, found.next)


async def redeliver(redis: Redis, delivery_id: str) -> Delivery:
    """Give a dead letter a fresh set of attempts, due now.

    The record is revived first (only if it is still the dead one read), then made due,
    then taken off the dead list. A call cut short between those steps leaves a pending
    record still on the dead list; calling again finishes the job.
    """
    key = keys.webhook(delivery_id)
    for _ in range(CAS_RETRIES):
        raw = await redis.get(key)
        if raw is None:
            raise NotFound(f"webhook {delivery_id!r} does not exist", field="webhook")
        record = Delivery.from_json(raw)
        listed = await redis.zscore(keys.webhooks_dead(), delivery_id) is not None
        now_ms = await redis_now_ms(redis)
        if record.status == DEAD:
            if record.body is None or record.brand is None:
                raise Conflict(
                    f"webhook {delivery_id!r} was made from a malformed outbox entry and has "
                    "nothing to deliver",
                    field="webhook",
                )
            revived = dataclasses.replace(
                record, status=PENDING, attempts=0, dead_at_ms=None, next_attempt_at_ms=now_ms
            )
            if not await _replace_if_unchanged(redis, key, raw, revived, None):
                continue
        elif record.status == PENDING and listed:
            revived = record
        else:
            raise Conflict(f"webhook {delivery_id!r} is {record.status}, not dead", field="webhook")
        await redis.zadd(keys.webhooks_due(), {delivery_id: now_ms})
        await redis.zrem(keys.webhooks_dead(), delivery_id)
        return revived
    raise Conflict(
        f"webhook {delivery_id!r} is being changed by others; try again", field="webhook"
    )
