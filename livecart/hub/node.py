"""The hub of one node: its rooms, its sessions, the limits that span them, and the
periodic work (presence, reactions, tick planning, pings). Owned by the app's lifespan;
nothing here is the source of truth (Redis is), so a node may stop at any moment and
its viewers resume on another."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import time
from collections.abc import Collection, Mapping
from typing import Any

import orjson
from redis.exceptions import RedisError

from livecart.config import Settings
from livecart.errors import AuthError, Forbidden, LivecartError, StoreUnavailable
from livecart.hub import moderation
from livecart.hub.commands import HANDLERS, USER_BURSTS, handle
from livecart.hub.connection import HubConnection, auth_error_close
from livecart.hub.events import HubEvent, events_frame, parse_stream_id
from livecart.hub.limits import JoinTurns, TokenBucket
from livecart.hub.protocol import PROTOCOL_VERSION, CloseCode, Inbound
from livecart.hub.room import Room, Snapshot
from livecart.hub.stats import HubCollector, HubStats
from livecart.hub.ticks import plan_ticks
from livecart.hub.wire import PING_FRAME, message_frame, text_frame
from livecart.runtime import Runtime, cancel_all
from livecart.store.client import close_client
from livecart.store.turns import urgent_context, urgent_turns

log = logging.getLogger("livecart.hub")

ROOM_LINGER_S = 30.0  # an empty room keeps its reader and window for resumes this long
REACTIONS_FLUSH_S = 0.25
SNAPSHOT_ATTEMPTS = 3


class Hub:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings: Settings = runtime.settings
        self.node_id = secrets.token_hex(6)
        self.stats = HubStats()
        self.rooms: dict[str, Room] = {}
        self.connections: set[HubConnection] = set()
        self.accepting = False
        s = self.settings.hub
        now = time.monotonic()
        self._joins = JoinTurns(s.max_joins_per_s, s.max_joins_per_s, now)
        self._user_limits: dict[tuple[str, str], TokenBucket] = {}
        self._soft = s.send_buffer_soft_bytes
        self._clock_offset_ms = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping: set[asyncio.Future[None]] = set()  # rooms being stopped
        self._collector = HubCollector(self.stats, lambda: len(self.connections), self._rooms_view)
        # The rooms' blocking reads each hold a connection for up to READ_BLOCK_MS: a
        # client of their own, so they never starve the pool that buys use.
        self.stream_client = runtime.blocking_client()

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        await self._sync_clock()
        self.runtime.metrics.registry.register(self._collector)
        self._tasks = [
            asyncio.create_task(
                self._housekeeping(), name="hub-housekeeping", context=urgent_context()
            ),
            asyncio.create_task(self._pings(), name="hub-pings"),
            asyncio.create_task(
                self._publish_reactions(), name="hub-reactions", context=urgent_context()
            ),
        ]
        self.accepting = True

    async def stop(self) -> None:
        self.accepting = False
        for conn in list(self.connections):
            conn.close(CloseCode.RESTARTING, "this node is stopping; resume on another")
        await cancel_all(self._tasks)
        for show, room in list(self.rooms.items()):
            with contextlib.suppress(LivecartError, RedisError, OSError):
                await moderation.report_presence(
                    self.runtime, show, self.node_id, 0, ttl_ms=self._presence_ttl_ms()
                )
            await room.stop()
        self.rooms.clear()
        with contextlib.suppress(ValueError):
            self.runtime.metrics.registry.unregister(self._collector)
        await close_client(self.stream_client)

    # -- sessions ----------------------------------------------------------------------

    def admit(
        self, conn: HubConnection, headers: Mapping[str, str], params: Mapping[str, str]
    ) -> None:
        """A socket whose handshake succeeded: node limits, then who it is, then join."""
        s = self.settings.hub
        if len(self.connections) >= s.max_connections:
            self.stats.joins["node_full"] += 1
            conn.close(CloseCode.TRY_AGAIN, "this node is full; try another or retry later")
            return
        wait = self._joins.take(time.monotonic())
        if wait:
            self.stats.joins["join_rate"] += 1
            conn.close(
                CloseCode.JOIN_RATE, orjson.dumps({"retry_after_ms": int(wait * 1000) + 1}).decode()
            )
            return
        token = params.get("token")
        header = headers.get("authorization")
        if not token and header is not None:
            scheme, _, value = header.partition(" ")
            token = value.strip() if scheme.lower() == "bearer" else None
        try:
            conn.authenticate(token)
        except (AuthError, Forbidden) as exc:
            self.stats.joins[exc.code] += 1
            auth_error_close(conn, exc)
            return
        self.connections.add(conn)
        conn.start_session(params.get("last"), params.get("epoch"))

    def room_for(self, show: str) -> Room:
        room = self.rooms.get(show)
        if room is not None and room.ready.done() and room.ready.exception() is not None:
            # A show that did not exist when the room was made may exist now.
            del self.rooms[show]
            stopping = asyncio.ensure_future(room.stop())
            self._stopping.add(stopping)
            stopping.add_done_callback(self._stopping.discard)
            room = None
        if room is None:
            room = self.rooms[show] = Room(self, show)
            self.replan()
        return room

    async def welcome(self, conn: HubConnection, last: str | None, epoch: str | None) -> None:
        """Send the hello (snapshot, or what was missed since ``last``) and add the socket
        to its room, with no await between the replay and joining, so the next tick
        carries exactly what follows it."""
        room = self.room_for(conn.show)
        # Shielded: every first join of the show waits on this one future, and a socket
        # that goes away meanwhile (its join cancelled) must not cancel it for the rest.
        await asyncio.shield(room.ready)
        redis = self.runtime.redis
        muted_until: int | None = None
        if conn.user is not None:
            standing = await moderation.standing(redis, conn.show, conn.user, self.redis_now_ms())
            if standing.banned and not conn.is_admin:
                raise Forbidden("you are banned from this show", code="banned")
            muted_until = standing.muted_until_ms
        hello = self._hello(conn, room, muted_until)
        after = parse_stream_id(last) if last else None
        reason = "new" if not last else "bad_id" if after is None else "other_epoch"
        if after is not None and epoch == room.epoch:
            # Staff state is read before the replay is chosen: a change after this read
            # is in the replay (ids after `last`) and is applied on top of it.
            await self._add_staff_state(conn, hello)
            missed = room.replay_after(after, staff=conn.is_staff)
            if missed is not None:
                if conn.closing:
                    return
                hello |= {
                    "mode": "resume",
                    "epoch": room.epoch,
                    "last_event_id": last,
                    "server_time_ms": self.redis_now_ms(),
                    "state": room.current_state(),
                }
                conn.write(message_frame(hello))
                if missed:
                    conn.write(events_frame(room.epoch, room.flushed_id, missed, replay=True))
                self._enter(conn, room)
                return
            reason = "too_old"
        for _ in range(SNAPSHOT_ATTEMPTS):
            snap = await room.snapshot()
            # Read after the snapshot: it is at least as new; a change after the snapshot
            # is in the replay too and sets the same list again.
            await self._add_staff_state(conn, hello)
            missed = room.replay_after(snap.last_key, staff=conn.is_staff)
            if missed is not None:
                break
        else:
            raise StoreUnavailable("the show's events move faster than a snapshot can be read")
        self._send_snapshot(conn, room, hello, reason, snap, missed)

    def welcome_at_once(self, conn: HubConnection) -> bool:
        """The join of a storm, without a task or a read: an anonymous new viewer of a
        room that is ready and holds a fresh snapshot gets its hello now (in the same
        write as the 101). False when anything needs the store; ``welcome`` then runs."""
        if conn.user is not None or conn.is_staff:
            return False
        room = self.rooms.get(conn.show)
        ready = None if room is None else room.ready
        if ready is None or not ready.done() or ready.cancelled() or ready.exception():
            return False
        assert room is not None
        snap = room.fresh_snapshot()
        if snap is None:
            return False
        missed = room.replay_after(snap.last_key, staff=False)
        if missed is None:
            return False
        self._send_snapshot(conn, room, self._hello(conn, room, None), "new", snap, missed)
        return True

    def _hello(self, conn: HubConnection, room: Room, muted_until: int | None) -> dict[str, Any]:
        claims = conn.claims
        return {
            "type": "hello",
            "protocol": PROTOCOL_VERSION,
            "show": conn.show,
            "node": self.node_id,
            "you": {
                "user": conn.user,
                "role": None if claims is None else str(claims.role),
                "muted_until_ms": muted_until,
            },
            "tick_ms": room.tick_ms,
            "limits": self._limits,
        }

    def _send_snapshot(
        self,
        conn: HubConnection,
        room: Room,
        hello: dict[str, Any],
        reason: str,
        snap: Snapshot,
        missed: list[HubEvent],
    ) -> None:
        if conn.closing:
            return
        age_ms = int((time.monotonic() - snap.fetched_at) * 1000)
        hello |= {
            "mode": "snapshot",
            "snapshot_reason": reason,
            "epoch": room.epoch,
            "last_event_id": snap.last_id,
            "server_time_ms": snap.server_time_ms + age_ms,
        }
        head = orjson.dumps(hello)
        conn.write(text_frame(head[:-1] + b',"snapshot":' + snap.payload + b"}"))
        if missed:
            conn.write(events_frame(room.epoch, room.flushed_id, missed, replay=True))
        self._enter(conn, room)

    def _enter(self, conn: HubConnection, room: Room) -> None:
        if conn.closing:
            return
        if conn.user in room.banned_while_joining and not conn.is_admin:
            conn.personal_event("banned", {"user": conn.user})
            return
        conn.room = room
        room.add(conn)

    async def _add_staff_state(self, conn: HubConnection, hello: dict[str, Any]) -> None:
        if conn.is_staff:
            words = await moderation.blocked_keywords(self.runtime.redis, conn.show)
            hello["staff"] = {"blocked_keywords": words}

    @functools.cached_property
    def _limits(self) -> dict[str, Any]:
        """The hello's limits: settings, the same for every hello of this node."""
        s = self.settings.hub
        return {
            "max_message_bytes": s.max_message_bytes,
            "messages_per_s": s.messages_per_s,
            "messages_burst": s.messages_per_s * 2,
            "chat_per_s": s.chat_per_s,
            "chat_burst": USER_BURSTS["chat"],
            "buys_per_s": s.buys_per_s,
            "buys_burst": USER_BURSTS["buy"],
            "reacts_per_s": s.reacts_per_s,
            "reacts_burst": USER_BURSTS["react"],
            "chat_max_chars": s.chat_max_chars,
            "max_quantity": self.settings.checkout.max_quantity,
            "reaction_kinds": list(moderation.REACTION_KINDS),
        }

    # -- fan-out -----------------------------------------------------------------------

    def deliver(self, conns: Collection[HubConnection], frame: bytes, coalescable: bool) -> None:
        """The same bytes to every socket of an audience. The common case is one buffer
        check and one write per socket; sockets that are behind take the slow path."""
        soft = self._soft
        behind: list[HubConnection] = []
        written = 0
        for conn in conns:
            transport = conn.transport
            if transport.get_write_buffer_size() <= soft:
                transport.write(frame)
                written += 1
            else:
                behind.append(conn)
        for conn in behind:
            if conn.deliver_behind(frame, coalescable):
                written += 1
        self.stats.frames_out += written
        self.stats.bytes_out += written * len(frame)

    # -- client messages ---------------------------------------------------------------

    async def handle(self, conn: HubConnection, inbound: Inbound) -> None:
        # A pin or a pause goes before the viewers' taps.
        with urgent_turns() if conn.is_staff else contextlib.nullcontext():
            await handle(self, conn, inbound)

    def known_type(self, kind: str) -> str:
        """The metric label for a message type: unknown types share one label."""
        return kind if kind in HANDLERS else "unknown"

    def user_limit(self, user: str, kind: str, rate: float, burst: float) -> TokenBucket:
        key = (user, kind)
        bucket = self._user_limits.get(key)
        if bucket is None:
            bucket = self._user_limits[key] = TokenBucket(rate, burst, time.monotonic())
        return bucket

    def add_reaction(self, show: str, kind: str) -> None:
        room = self.rooms.get(show)
        if room is not None:
            room.reactions[kind] = room.reactions.get(kind, 0) + 1

    # -- time --------------------------------------------------------------------------

    def redis_now_ms(self) -> int:
        """Redis' clock, as last measured against this node's (for hello's server time)."""
        return int(time.time() * 1000 + self._clock_offset_ms)

    async def _sync_clock(self) -> None:
        before = time.time()
        seconds, micros = await self.runtime.redis.time()
        after = time.time()
        redis_ms = seconds * 1000 + micros / 1000
        self._clock_offset_ms = redis_ms - (before + after) / 2 * 1000

    # -- periodic work -----------------------------------------------------------------

    def _presence_ttl_ms(self) -> int:
        return self.settings.hub.presence_interval_ms * 3

    def replan(self) -> None:
        s = self.settings.hub
        plan = plan_ticks(
            {show: room.size for show, room in self.rooms.items()},
            base_ms=s.tick_ms,
            max_ms=s.max_tick_ms,
            budget_per_s=s.max_deliveries_per_s,
        )
        for show, tick in plan.items():
            self.rooms[show].tick_ms = tick

    def _rooms_view(self) -> dict[str, tuple[int, int]]:
        return {show: (room.size, room.tick_ms) for show, room in self.rooms.items()}

    async def _housekeeping(self) -> None:
        interval = self.settings.hub.presence_interval_ms / 1000
        while True:
            await asyncio.sleep(interval)
            try:
                await self._housekeep()
            except Exception:
                log.exception("hub housekeeping failed; trying again in %.1f s", interval)

    async def _housekeep(self) -> None:
        self.replan()
        now = time.monotonic()
        for show, room in list(self.rooms.items()):
            if room.ready.done() and room.ready.exception() is not None:
                del self.rooms[show]
                await room.stop()
                continue
            try:
                await moderation.report_presence(
                    self.runtime, show, self.node_id, room.size, ttl_ms=self._presence_ttl_ms()
                )
            except (LivecartError, RedisError, OSError) as exc:
                log.warning("reporting presence in show %s: %s", show, exc)
            lingered = room.empty_since is not None and now - room.empty_since > ROOM_LINGER_S
            if room.size == 0 and lingered:
                del self.rooms[show]
                await room.stop()
        for key, bucket in list(self._user_limits.items()):
            if bucket.full(now):
                del self._user_limits[key]
        with contextlib.suppress(RedisError, OSError):
            await self._sync_clock()

    async def _pings(self) -> None:
        """One ping frame (the same bytes) to every socket; a socket silent for two
        intervals (no pong, no message) is cut off: its viewer is gone."""
        interval = self.settings.hub.ping_interval_s
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            for conn in list(self.connections):
                if conn.closing:
                    continue
                if now - conn.last_seen > 2 * interval:
                    conn.close(CloseCode.GOING_AWAY, "no answer to pings")
                else:
                    conn.write(PING_FRAME)

    async def _publish_reactions(self) -> None:
        """Taps are folded per node and show, then written as one event per interval:
        every node sees every reaction (from the stream) without a write per tap."""
        while True:
            await asyncio.sleep(REACTIONS_FLUSH_S)
            for show, room in list(self.rooms.items()):
                if not room.reactions:
                    continue
                counts, room.reactions = room.reactions, {}
                try:
                    await moderation.publish_reactions(self.runtime, show, counts)
                except (LivecartError, RedisError, OSError) as exc:
                    log.warning("publishing reactions in show %s: %s", show, exc)
