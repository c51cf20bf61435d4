"""A room: this node's sessions of one show, fed by one reader of the show's stream.

The reader (XREAD BLOCK from the last id it saw) is the only way events reach local
sockets (invariant 2): the node that made a change reads it back like every other node,
so every viewer on every node sees the same events in the same order. Events wait in
``pending`` for the room's tick, are folded, encoded once per audience (viewers, staff)
and written as the same bytes to every socket of that audience.

The room also keeps the last ``hub.max_replay`` events it sent (``window``): a resume is
answered from memory, so a reconnect storm costs no read per client (invariant 3: the
missed events, in order, or a snapshot when the window no longer holds them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from redis.exceptions import RedisError

from livecart.commerce.shows.records import show_snapshot
from livecart.errors import NotFound
from livecart.hub import moderation
from livecart.hub.award_watch import AwardWatch
from livecart.hub.events import (
    COALESCABLE,
    HubEvent,
    StreamId,
    events_frame,
    fold,
    parse_stream_id,
)
from livecart.hub.wire import message_frame
from livecart.runtime import cancel_and_wait
from livecart.store import keys

if TYPE_CHECKING:
    from livecart.hub.connection import HubConnection
    from livecart.hub.node import Hub

log = logging.getLogger("livecart.hub")

READ_BLOCK_MS = 5000
READ_COUNT = 1000
READ_RETRY_S = 0.5
# A snapshot read for one join serves the joins of the next moment too (a storm of new
# viewers costs one read); the window replays what happened since it was read.
SNAPSHOT_REUSE_S = 1.0
# Sockets a frame is written to before the loop may run other work: at least the first,
# at most the second (see ``Room._deliver``).
DELIVERY_SLICE_MIN = 100
DELIVERY_SLICE_MAX = 1000
# How long, in ticks, a frame may take to reach its last socket while slices stay small.
# A/B with bench/flash_bench.py --peers ws (5 000 buyers in the room), two runs each:
# fixed slices of 1 000 sold out at 507-547 ms; slices sized to end within 1 tick at
# 414-452 ms; within 2 ticks at 202-282 ms (p99 234-386 ms against 543-659). The live
# show and the 10 000-viewer fan-out measured the same with 2 ticks as with 1 000.
DELIVERY_WITHIN_TICKS = 2


@dataclass
class Snapshot:
    payload: bytes  # JSON of {"show": ..., "chat": [...], "slow_mode_s": n}
    last_key: StreamId
    last_id: str | None
    server_time_ms: int
    fetched_at: float  # monotonic


def next_slice(left: int, per_socket_s: float, yield_s: float, time_left_s: float) -> int:
    """How many of the ``left`` sockets to write before yielding again: the smallest
    slice that still ends the frame in ``time_left_s``, if every later yield takes as long
    as the last (``yield_s``) and every socket as long as the last slice's did. Between
    ``DELIVERY_SLICE_MIN`` and ``DELIVERY_SLICE_MAX``: the largest when time is short."""
    spare_s = time_left_s - left * per_socket_s
    size = DELIVERY_SLICE_MAX if spare_s <= yield_s else math.ceil(left * yield_s / spare_s)
    return min(left, max(DELIVERY_SLICE_MIN, min(DELIVERY_SLICE_MAX, size)))


class Room:
    def __init__(self, hub: Hub, show: str) -> None:
        settings = hub.settings.hub
        self.hub = hub
        self.show = show
        self.viewers: set[HubConnection] = set()
        self.staff: set[HubConnection] = set()
        # Signed-in sockets by user: personal messages (outbid, a ban) find theirs at once.
        self.by_user: dict[str, set[HubConnection]] = {}
        self.window: deque[HubEvent] = deque(maxlen=settings.max_replay)
        self.covered_after: StreamId = (0, 0)  # the window holds every event after this
        self.flushed_id = "0-0"
        self.flushed_key: StreamId = (0, 0)
        self.pending: list[HubEvent] = []
        self.epoch = ""
        self.tick_ms = settings.tick_ms
        self.latest_stock: dict[str, Any] = {}
        self.viewer_count = 0
        self.reactions: dict[str, int] = {}  # taps on this node not yet published
        # Users banned since this room started reading: a join whose standing was read
        # before the ban arrived is refused on entering (its sockets were not here yet).
        self.banned_while_joining: set[str] = set()
        self.empty_since: float | None = time.monotonic()
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._wake = asyncio.Event()
        self._last_flush = 0.0
        self._snapshot: Snapshot | None = None
        self._snapshot_flight: asyncio.Future[Snapshot] | None = None
        self.awards = AwardWatch(hub.runtime, show, self.connections_of)
        self._tasks = [
            asyncio.create_task(self._read(), name=f"hub-read-{show}"),
            asyncio.create_task(self._tick(), name=f"hub-tick-{show}"),
        ]

    # -- membership -------------------------------------------------------------------

    @property
    def size(self) -> int:
        return len(self.viewers) + len(self.staff)

    def add(self, conn: HubConnection) -> None:
        (self.staff if conn.is_staff else self.viewers).add(conn)
        if conn.user is not None:
            self.by_user.setdefault(conn.user, set()).add(conn)
        self.empty_since = None

    def discard(self, conn: HubConnection) -> None:
        self.viewers.discard(conn)
        self.staff.discard(conn)
        if conn.user is not None and (mine := self.by_user.get(conn.user)) is not None:
            mine.discard(conn)
            if not mine:
                del self.by_user[conn.user]
        if not self.viewers and not self.staff and self.empty_since is None:
            self.empty_since = time.monotonic()

    def connections_of(self, user: str) -> list[HubConnection]:
        return list(self.by_user.get(user, ()))

    async def stop(self) -> None:
        self.awards.stop()
        for task in self._tasks:
            await cancel_and_wait(task)
        if self._snapshot_flight is not None and not self._snapshot_flight.done():
            self._snapshot_flight.cancel()
        if not self.ready.done():
            self.ready.cancel()

    # -- reading the stream ----------------------------------------------------------

    async def _load(self) -> str:
        """The epoch, the newest events and the state they lead to (stock, viewers), in
        one atomic read before the first XREAD."""
        redis: Any = self.hub.stream_client  # decode_responses=True: str replies
        size = self.window.maxlen or 0
        stream = keys.show_events(self.show)
        async with redis.pipeline(transaction=True) as pipe:
            pipe.hmget(keys.show(self.show), "epoch", "viewers")
            pipe.hgetall(keys.show_stock(self.show))
            pipe.xrevrange(stream, count=size + 1)
            pipe.exists(stream)
            (epoch, viewers), stock, newest, has_stream = await pipe.execute()
        if epoch is None:
            raise NotFound(f"show {self.show!r} does not exist", field="show")
        self.epoch = epoch
        self.viewer_count = int(viewers or 0)
        self.latest_stock = {sku: int(n) for sku, n in stock.items()}
        if len(newest) > size:
            self.covered_after = parse_stream_id(newest.pop()[0]) or (0, 0)
        elif has_stream:
            # The whole stream was read, but entries before it may have been trimmed
            # (MAXLEN): a resume from before the trim point gets a snapshot.
            info = await redis.xinfo_stream(stream)
            if int(info.get("entries-added", 0)) > int(info.get("length", 0)) and newest:
                ms, seq = parse_stream_id(newest[-1][0]) or (0, 0)
                self.covered_after = (ms, seq - 1) if seq else (ms - 1, 2**64 - 1)
        for entry_id, fields in reversed(newest):
            self._remember(HubEvent.from_entry(entry_id, fields))
        if newest:
            self.flushed_id = newest[0][0]
            self.flushed_key = parse_stream_id(self.flushed_id) or (0, 0)
        return self.flushed_id

    async def _read(self) -> None:
        try:
            last = await self._load()
        except (NotFound, RedisError, OSError) as exc:
            self.ready.set_exception(exc)  # joins waiting on it are refused
            return
        except asyncio.CancelledError:
            self.ready.cancel()
            raise
        self.ready.set_result(None)
        stream = keys.show_events(self.show)
        redis: Any = self.hub.stream_client  # decode_responses=True: str replies
        while True:
            try:
                reply: list[Any] = await redis.xread(
                    {stream: last}, block=READ_BLOCK_MS, count=READ_COUNT
                )
            except (RedisError, OSError) as exc:
                log.warning("reading show %s's events: %s; retrying", self.show, exc)
                await asyncio.sleep(READ_RETRY_S)
                continue
            for _name, entries in reply:
                for entry_id, fields in entries:
                    event = HubEvent.from_entry(entry_id, fields)
                    last = entry_id
                    if event.type == "show_created":
                        # The show was made again (its stream lost or deleted): new epoch.
                        with contextlib.suppress(RedisError, OSError):
                            epoch = await redis.hget(keys.show(self.show), "epoch")
                            self.epoch = epoch or self.epoch
                    self._arrived(event)

    def _arrived(self, event: HubEvent) -> None:
        self.pending.append(event)
        self._wake.set()
        kind = event.type
        if kind in ("muted", "unmuted", "banned", "unbanned"):
            # Personal, at once: the user's sockets on this node are told now.
            user = event.data.get("user")
            if isinstance(user, str):
                if kind == "banned":
                    self.banned_while_joining.add(user)
                elif kind == "unbanned":
                    self.banned_while_joining.discard(user)
                for conn in self.connections_of(user):
                    conn.personal_event(kind, event.data)
        else:
            self.awards.arrived(event)

    # -- ticks ------------------------------------------------------------------------

    async def _tick(self) -> None:
        try:
            await self.ready
        except (NotFound, RedisError, OSError):
            return  # the joins waiting on the room were refused; it is dropped soon
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            delay = self._last_flush + self.tick_ms / 1000 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._last_flush = loop.time()
            try:
                await self.flush()
            except Exception:
                log.exception("flushing show %s's events", self.show)

    def _remember(self, event: HubEvent) -> None:
        window = self.window
        if window.maxlen is not None and len(window) == window.maxlen:
            self.covered_after = window[0].key
        window.append(event)
        if event.type == "stock":
            sku = event.data.get("sku")
            if isinstance(sku, str):
                self.latest_stock[sku] = event.data.get("stock")
        elif event.type == "viewers":
            count = event.data.get("count")
            if isinstance(count, int):
                self.viewer_count = count

    async def flush(self) -> None:
        """Fold what arrived since the last tick and send it: one frame per audience."""
        events, self.pending = self.pending, []
        if not events:
            return
        for event in events:
            self._remember(event)
        newest = events[-1]
        self.flushed_id, self.flushed_key = newest.id, newest.key
        stats = self.hub.stats
        stats.observe_batch(len(events))
        folded = fold(events)
        for_viewers = [e for e in folded if not e.staff_only]
        viewer_frame = staff_frame = None
        if self.viewers and for_viewers:
            viewer_frame = events_frame(self.epoch, newest.id, for_viewers)
        if self.staff:
            staff_frame = events_frame(self.epoch, newest.id, folded)
        # Staff first: they are few, and a pause or a pin's echo should not wait for
        # thousands of viewers' writes.
        if staff_frame is not None:
            await self._deliver(self.staff, staff_frame, all(e.type in COALESCABLE for e in folded))
        if viewer_frame is not None:
            coalescable = all(e.type in COALESCABLE for e in for_viewers)
            await self._deliver(self.viewers, viewer_frame, coalescable)

    async def _deliver(self, audience: set[HubConnection], frame: bytes, coalescable: bool) -> None:
        """Write one frame to an audience a slice of sockets at a time, letting the event
        loop run between slices: a frame to 10 000 sockets held the loop for 80-100 ms,
        and every buy, chat message and Redis reply on the node waited for it (bench/
        RESULTS.md, "A live show"). A socket that left the room meanwhile is skipped.

        Slices are as small as the room's tick allows (``next_slice``): each yield lets
        a flash sale's taps take their next step, but on a loaded node each yield also
        waits for everything else the loop has to do, and the frame must still reach
        its last socket within ``DELIVERY_WITHIN_TICKS`` ticks."""
        if len(audience) <= DELIVERY_SLICE_MIN:
            self.hub.deliver(audience, frame, coalescable)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DELIVERY_WITHIN_TICKS * self.tick_ms / 1000
        conns = list(audience)
        start, size = 0, DELIVERY_SLICE_MIN
        while True:
            began = loop.time()
            part = conns[start : start + size]
            present = part if not start else [c for c in part if c.room is self]
            self.hub.deliver(present, frame, coalescable)
            start += size
            if start >= len(conns):
                return
            per_socket_s = (loop.time() - began) / len(part)
            before_yield = loop.time()
            await asyncio.sleep(0)
            now = loop.time()
            size = next_slice(len(conns) - start, per_socket_s, now - before_yield, deadline - now)

    # -- joining: snapshot or replay ----------------------------------------------------

    def replay_after(self, after: StreamId, *, staff: bool) -> list[HubEvent] | None:
        """The events after ``after`` that were already sent, in order, or None when the
        window no longer holds all of them (the caller sends a snapshot instead)."""
        if after >= self.flushed_key:
            return []
        if after < self.covered_after:
            return None
        missed = [e for e in self.window if e.key > after]
        return missed if staff else [e for e in missed if not e.staff_only]

    def current_state(self) -> dict[str, Any]:
        """What a skipped frame may have carried: stock per product, viewer count."""
        return {"stock": dict(self.latest_stock), "viewers": self.viewer_count}

    def state_frame(self) -> bytes:
        return message_frame({"type": "state", **self.current_state()})

    def fresh_snapshot(self) -> Snapshot | None:
        """The snapshot read for a join of the last moment, if it still serves."""
        cached = self._snapshot
        if (
            cached is not None
            and time.monotonic() - cached.fetched_at < SNAPSHOT_REUSE_S
            and cached.last_key >= self.covered_after
        ):
            return cached
        return None

    async def snapshot(self) -> Snapshot:
        cached = self.fresh_snapshot()
        if cached is not None:
            return cached
        if self._snapshot_flight is None or self._snapshot_flight.done():
            self._snapshot_flight = asyncio.ensure_future(self._fetch_snapshot())
        return await asyncio.shield(self._snapshot_flight)

    async def _fetch_snapshot(self) -> Snapshot:
        redis = self.hub.runtime.redis
        show = await show_snapshot(redis, self.show, self.hub.runtime.scripts)
        last_id = show["last_event_id"]
        last_key = parse_stream_id(last_id) if last_id else (0, 0)
        last_key = last_key or (0, 0)
        # Read after the show's state: a message newer than the snapshot's last event
        # comes in the replay that follows, so it is left out here.
        chat = [
            m
            for m in await moderation.recent_chat(redis, self.show)
            if (parse_stream_id(m["id"]) or (0, 0)) <= last_key
        ]
        chat_state = await moderation.chat_state(redis, self.show)
        payload = orjson.dumps({"show": show, "chat": chat, **chat_state})
        snap = Snapshot(payload, last_key, last_id, show["server_time_ms"], time.monotonic())
        self._snapshot = snap
        return snap
