"""The order outbox consumers: order events (a confirmation, then each lifecycle move)
leave each show's outbox stream for the cross-show projections and for the brands'
webhooks.

Every show that has started is in ``outbox_shows``. Its outbox stream has two consumer
groups, ``projections`` and ``webhooks``; every node runs ``run_order_consumers``, one
consumer per node process in each group, so the nodes share the work and each entry
goes to one of them at a time. An entry is acknowledged only after it was applied (the
projections) or turned into a delivery record (the webhooks). Both steps are keyed by
the order id, so an entry applied twice (a node that died after applying and before
acknowledging) changes nothing the second time.

A node's consumer name is its node name (livecart.nodes). When a node's heartbeat
lapses, a survivor takes its pending entries over at once (``adopt``: XPENDING for that
consumer, XCLAIM with no minimum idle time, apply, acknowledge). Entries idle
``RECLAIM_IDLE_MS`` are still reclaimed by every node's XAUTOCLAIM, for consumers no
heartbeat names (a node from before heartbeats, one whose takeover failed).

A malformed entry never wedges a stream: it is logged, dead-lettered (it appears in
``GET /api/webhooks/dead``) and acknowledged.

Each outbox is trimmed to the oldest entry a group still needs (invariant 7), and a
show that has ended is dropped from ``outbox_shows`` once both groups are done with it
and no late order can still arrive.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from redis.exceptions import RedisError, ResponseError

from livecart.commerce.orders.projections import project_orders
from livecart.commerce.orders.records import ORDER_CONFIRMED, ORDER_EVENTS, Order, parse_order
from livecart.commerce.orders.webhooks import dead_letter_entry, enqueue_deliveries
from livecart.errors import InvalidInput
from livecart.nodes import node_name
from livecart.runtime import Runtime
from livecart.store import keys
from livecart.store.clock import redis_now_ms

log = logging.getLogger("livecart.outbox")

PROJECTIONS = "projections"
WEBHOOKS = "webhooks"
GROUPS = (PROJECTIONS, WEBHOOKS)
# An entry delivered to a consumer and not acknowledged for this long belongs to a node
# that died (applying one batch takes a few Redis round trips, never a network call to
# anyone else), and is taken over by another.
RECLAIM_IDLE_MS = 30_000
READ_COUNT = 100  # entries read per group, show and pass: bounds one pass's memory
ERROR_BACKOFF_S = 1.0

Entry = tuple[str, dict[str, str] | None]


async def run_order_consumers(runtime: Runtime) -> None:
    """Consume every started show's outbox until cancelled; safe on every node at once.

    Polls every ``webhooks.poll_interval_ms`` when there was nothing to read. A blocking
    XREADGROUP over all outboxes at once is not possible on Redis Cluster, where each
    show's outbox lives in its own slot (invariant 6) and one command may only name keys
    of one slot; a blocking read per show would hold a connection per show.
    """
    consumers = OrderConsumers(runtime, node_name(runtime))
    idle_s = runtime.settings.webhooks.poll_interval_ms / 1000
    while True:
        try:
            busy = await consumers.run_pass()
        except (RedisError, OSError) as exc:
            log.warning("order consumers: Redis failed, retrying: %s", exc)
            await asyncio.sleep(max(idle_s, ERROR_BACKOFF_S))
            continue
        except Exception:
            # A bug must not stop every order from leaving: log it with its traceback
            # and go on; the entries it concerned stay pending and are tried again.
            log.exception("order consumers: pass failed (consumer %s)", consumers.name)
            await asyncio.sleep(max(idle_s, ERROR_BACKOFF_S))
            continue
        if not busy:
            await asyncio.sleep(idle_s)


@dataclass
class _ShowState:
    groups_ready: bool = False
    # where the next XAUTOCLAIM scan of each group's pending entries starts
    reclaim_from: dict[str, str] = field(default_factory=lambda: dict.fromkeys(GROUPS, "0-0"))
    # groups whose own pending entries must be read again (a batch failed half-way)
    reread_own: set[str] = field(default_factory=set)


class OrderConsumers:
    """One node's consumer in both groups of every started show's outbox."""

    def __init__(self, runtime: Runtime, name: str, *, read_count: int = READ_COUNT) -> None:
        self.runtime = runtime
        self.redis = runtime.redis
        self.name = name
        self.read_count = read_count
        self._shows: dict[str, _ShowState] = {}

    async def run_pass(self) -> bool:
        """Read and apply what is there in every show's outbox; True when anything was."""
        busy = False
        seen: set[str] = set()
        async for show in self.redis.sscan_iter(keys.outbox_shows(), count=500):
            if show in seen:
                continue  # SSCAN may return a member twice
            seen.add(show)
            try:
                keys.check_id(show, "show")
            except InvalidInput:
                log.error("outbox_shows holds %r, which is not a show id; removing it", show)
                await self.redis.srem(keys.outbox_shows(), show)
                continue
            state = self._shows.setdefault(show, _ShowState())
            try:
                busy |= await self.consume_show(show, state)
            except (RedisError, OSError) as exc:
                log.warning("order consumers: show %s: Redis failed, retrying: %s", show, exc)
        for gone in self._shows.keys() - seen:
            del self._shows[gone]
        return busy

    async def consume_show(self, show: str, state: _ShowState) -> bool:
        stream = keys.show_outbox(show)
        if not state.groups_ready:
            if not await self.redis.exists(stream):
                # No order yet. The groups are made when the first one is (at id 0, so
                # they miss nothing); until then nothing is written for the show.
                await self._retire_if_unsold(show, stream)
                return False
            await self._create_groups(stream)
            state.groups_ready = True
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for group in GROUPS:
                    pipe.xautoclaim(
                        stream,
                        group,
                        self.name,
                        RECLAIM_IDLE_MS,
                        start_id=state.reclaim_from[group],
                        count=self.read_count,
                    )
                for group in GROUPS:
                    start = "0" if group in state.reread_own else ">"
                    pipe.xreadgroup(group, self.name, {stream: start}, count=self.read_count)
                pipe.hmget(keys.show(show), "state", "ended_at")
                replies = await pipe.execute()
        except ResponseError as exc:
            if "NOGROUP" in str(exc):  # the stream was deleted: make it and its groups again
                state.groups_ready = False
                return True
            raise
        show_state, ended_at = replies[4]
        # Read after the reads, only when needed (a Cluster pipeline takes no TIME): the
        # show's server's clock.
        now_ms: int | None = None

        read_any = False
        acked_any = False
        for i, group in enumerate(GROUPS):
            next_start, claimed, deleted = replies[i]
            state.reclaim_from[group] = next_start
            rereading = group in state.reread_own
            fresh = _stream_entries(replies[2 + i])
            # Pending entries whose data is gone (trimmed by someone else): XAUTOCLAIM
            # drops them from the pending list; they still go through _apply, so that
            # the loss is logged and dead-lettered rather than silent.
            lost: list[Entry] = [(entry_id, None) for entry_id in deleted]
            entries = _unique([*claimed, *lost, *fresh])
            if entries:
                read_any = True
                try:
                    if now_ms is None:
                        now_ms = await redis_now_ms(self.redis, near=stream)
                    done = await self._apply(group, show, entries, now_ms)
                except (RedisError, OSError):
                    state.reread_own.add(group)
                    raise
                await self.redis.xack(stream, group, *done)
                acked_any = True
            if rereading and len(fresh) < self.read_count:
                state.reread_own.discard(group)
        if acked_any:
            await self._trim(stream)
        elif not read_any and show_state == "ended":
            now_ms = await redis_now_ms(self.redis, near=stream)
            await self._retire_if_done(show, stream, ended_at, now_ms)
        return read_any

    async def adopt(self, dead: str) -> int:
        """Take over and apply every entry the consumer ``dead`` (a node whose heartbeat
        lapsed) read and did not acknowledge, in every show and group, then drop that
        consumer. Returns the number of entries applied. Safe to run on two nodes at
        once, and alongside the dead node's own late acknowledgements: applying is
        keyed by order id, and XCLAIM hands an entry to one caller at a time."""
        adopted = 0
        async for show in self.redis.sscan_iter(keys.outbox_shows(), count=500):
            try:
                stream = keys.show_outbox(show)
            except InvalidInput:
                continue  # run_pass removes it
            for group in GROUPS:
                try:
                    adopted += await self._adopt_group(show, stream, group, dead)
                except ResponseError as exc:
                    if "NOGROUP" not in str(exc):
                        raise
        return adopted

    async def _adopt_group(self, show: str, stream: str, group: str, dead: str) -> int:
        adopted = 0
        while True:
            pending = await self.redis.xpending_range(
                stream, group, min="-", max="+", count=self.read_count, consumername=dead
            )
            if not pending:
                break
            ids = [str(entry["message_id"]) for entry in pending]
            # An entry trimmed meanwhile comes back without its data (or not at all):
            # _apply logs and dead-letters it, as a pass does.
            claimed: list[Entry] = await self.redis.xclaim(  # type: ignore[assignment]
                stream, group, self.name, min_idle_time=0, message_ids=list(ids)
            )
            entries = [(entry_id, fields or None) for entry_id, fields in claimed]
            if entries:
                now_ms = await redis_now_ms(self.redis, near=stream)
                done = await self._apply(group, show, entries, now_ms)
                await self.redis.xack(stream, group, *done)
                adopted += len(done)
            if len(pending) < self.read_count:
                break
        await self.redis.xgroup_delconsumer(stream, group, dead)
        return adopted

    async def _create_groups(self, stream: str) -> None:
        for group in GROUPS:
            try:
                await self.redis.xgroup_create(stream, group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def _apply(
        self, group: str, show: str, entries: Sequence[Entry], now_ms: int
    ) -> list[str]:
        """Apply a batch; return the ids to acknowledge (all of them, malformed included)."""
        orders: list[Order] = []
        for entry_id, fields in entries:
            try:
                orders.append(_order_of(show, fields))
            except InvalidInput as exc:
                reason = f"{exc.message} (field {exc.field})" if exc.field else exc.message
                if group == WEBHOOKS:
                    if await dead_letter_entry(self.redis, show, entry_id, fields, reason, now_ms):
                        self.runtime.metrics.webhook_deliveries.labels("dead").inc()
                    log.error(
                        "outbox of show %s: entry %s is malformed and was dead-lettered: %s",
                        show,
                        entry_id,
                        reason,
                    )
                else:
                    log.error(
                        "outbox of show %s: entry %s is malformed; not projected: %s",
                        show,
                        entry_id,
                        reason,
                    )
        if group == PROJECTIONS:
            await project_orders(self.runtime, orders)
        else:
            await enqueue_deliveries(self.redis, orders, now_ms)
        return [entry_id for entry_id, _ in entries]

    async def _trim(self, stream: str) -> None:
        """Drop the entries both groups have acknowledged (XTRIM MINID, exact).

        Read in one MULTI: per group, the oldest entry still pending, else the one after
        the last delivered. Every older entry was delivered and acknowledged; that can
        only stay true, so trimming after the read is safe.
        """
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xinfo_groups(stream)
            for group in GROUPS:
                pipe.xpending(stream, group)
            info, *pending = await pipe.execute()
        last_delivered = {g["name"]: g["last-delivered-id"] for g in info}
        if any(group not in last_delivered for group in GROUPS):
            return  # a group is missing (the stream was remade): keep everything
        floors = []
        for group, summary in zip(GROUPS, pending, strict=True):
            if summary["pending"]:
                floors.append(_parse_id(summary["min"]))
            else:
                ms, seq = _parse_id(last_delivered[group])
                floors.append((ms, seq + 1))
        ms, seq = min(floors)
        await self.redis.xtrim(stream, minid=f"{ms}-{seq}", approximate=False)

    async def _retire_if_done(
        self, show: str, stream: str, ended_at: str | None, now_ms: int
    ) -> None:
        """Stop reading an ended show's outbox once nothing more can come through it.

        A hold taken before the end may still be confirmed until it expires, so the show
        is kept until the longest hold (plus its payment time) is over since it ended.
        Removing and then checking again closes the race with an order appended between
        the first check and the removal.
        """
        if ended_at and now_ms - int(ended_at) < retire_grace_ms(self.runtime):
            return
        if not await self._drained(stream):
            return
        await self.redis.srem(keys.outbox_shows(), show)
        if not await self._drained(stream):
            await self.redis.sadd(keys.outbox_shows(), show)
            return
        await self._trim(stream)
        log.info("show %s has ended and its outbox is drained; no longer read", show)

    async def _retire_if_unsold(self, show: str, stream: str) -> None:
        """Stop watching an ended show that never sold anything, once no late order can
        come (see ``_retire_if_done``)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(keys.show(show), "state", "ended_at")
            ((state, ended_at),) = await pipe.execute()
        if state != "ended":
            return
        now_ms = await redis_now_ms(self.redis, near=stream)
        if ended_at and now_ms - int(ended_at) < retire_grace_ms(self.runtime):
            return
        await self.redis.srem(keys.outbox_shows(), show)
        if await self.redis.exists(stream):  # an order came meanwhile: keep reading
            await self.redis.sadd(keys.outbox_shows(), show)
            return
        log.info("show %s has ended without orders; its outbox is no longer watched", show)

    async def _drained(self, stream: str) -> bool:
        """True when both groups have every entry delivered and acknowledged."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xinfo_groups(stream)
            for group in GROUPS:
                pipe.xpending(stream, group)
            pipe.xrevrange(stream, count=1)
            info, *rest = await pipe.execute()
        *pending, newest = rest
        last_delivered = {g["name"]: g["last-delivered-id"] for g in info}
        if any(group not in last_delivered for group in GROUPS):
            return False
        if any(summary["pending"] for summary in pending):
            return False
        if not newest:
            return True
        newest_id = _parse_id(newest[0][0])
        return all(_parse_id(last_delivered[g]) >= newest_id for g in GROUPS)


def retire_grace_ms(runtime: Runtime) -> int:
    checkout = runtime.settings.checkout
    longest_hold_s = max(checkout.hold_seconds, checkout.cart_hold_seconds)
    return int((longest_hold_s + checkout.payment_timeout_s) * 1000)


def _order_of(show: str, fields: dict[str, str] | None) -> Order:
    if fields is None:
        raise InvalidInput("the entry was deleted from the stream before it was read")
    kind = fields.get("type")
    if kind not in ORDER_EVENTS:
        raise InvalidInput(
            f"type {kind!r} is not one of {', '.join(sorted(ORDER_EVENTS))}", field="type"
        )
    raw = fields.get("order")
    if raw is None:
        raise InvalidInput("the entry has no order field", field="order")
    order = replace(parse_order(raw), event=kind)
    if (kind == ORDER_CONFIRMED) != (order.version == 1):
        raise InvalidInput(
            f"a {kind} entry carries an order of version {order.version} "
            f"(1 is the confirmation; each lifecycle move adds one)",
            field="order.version",
        )
    moved_to = kind.removeprefix("order.")
    if kind != "order.refunded" and order.status != moved_to:
        raise InvalidInput(
            f"a {kind} entry carries an order whose status is {order.status}",
            field="order.status",
        )
    if order.show != show:
        raise InvalidInput(
            f"the order names show {order.show!r} but is in the outbox of {show!r}",
            field="order.show",
        )
    return order


def _stream_entries(reply: Any) -> list[Entry]:
    """The entries of a one-stream XREADGROUP reply (RESP2 list or RESP3 map)."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return [entry for entries in reply.values() for entry in entries[0]]
    return list(reply[0][1])


def _unique(entries: Sequence[Entry]) -> list[Entry]:
    seen: set[str] = set()
    kept = []
    for entry in entries:
        if entry[0] not in seen:
            seen.add(entry[0])
            kept.append(entry)
    return kept


def _parse_id(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)
