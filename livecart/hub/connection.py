"""One WebSocket session, as a bare ``asyncio.Protocol`` around websockets' sans-I/O
``ServerProtocol``: no task per connection, the handshake and the client's frames are
handled in ``data_received``, and the room writes pre-framed bytes straight to the
transport. Measured against websockets' own server in bench/fanout_bench.py.

uvicorn hands every upgrade request on its HTTP port to this class (``ws=`` takes a
protocol class), so the hub shares the API's port; the app's lifespan state carries the
``Hub``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs, unquote

from redis.exceptions import RedisError
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from livecart.auth.roles import Action, authorize
from livecart.auth.tokens import Claims, Role, verify_token
from livecart.errors import (
    AuthError,
    Forbidden,
    InvalidInput,
    LivecartError,
    NotFound,
    StoreUnavailable,
    TokenExpired,
)
from livecart.hub.handshake import (
    MAX_HEAD_BYTES,
    HandshakeError,
    head_end,
    head_too_large,
    read_upgrade,
    refusal,
)
from livecart.hub.limits import TokenBucket
from livecart.hub.protocol import PATH, CloseCode, decode_inbound, error_message
from livecart.hub.wire import message_frame
from livecart.store.keys import check_id

if TYPE_CHECKING:
    from livecart.hub.node import Hub
    from livecart.hub.room import Room

log = logging.getLogger("livecart.hub")

CLOSE_TIMEOUT_S = 3.0  # a peer that does not finish the closing handshake is cut off
MAX_IN_FLIGHT = 16  # client messages of one socket being handled (or kept for the hello)
STAFF_ROLES = frozenset({Role.STREAMER, Role.MODERATOR, Role.ADMIN})


class HubConnection(asyncio.Protocol):
    # Slots: a node holds one of these per viewer (bench/RESULTS.md, idle memory).
    __slots__ = (
        "_corked",
        "_early",
        "_eof_after_cork",
        "_flood",
        "_fragments",
        "_head",
        "_joining",
        "_max_size",
        "_messages",
        "_tasks",
        "_timers",
        "claims",
        "closing",
        "hub",
        "is_staff",
        "joined",
        "last_seen",
        "loop",
        "proto",
        "room",
        "server_state",
        "show",
        "stale",
        "transport",
        "user",
    )

    def __init__(
        self,
        config: Any = None,
        server_state: Any = None,
        app_state: dict[str, Any] | None = None,
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        hub = (app_state or {}).get("hub")
        self.hub: Hub | None = hub
        self.server_state = server_state
        self._max_size = hub.settings.hub.max_message_bytes if hub is not None else 8192
        # websockets' frame parser, made once the handshake (livecart.hub.handshake) is done.
        self.proto: ServerProtocol | None = None
        self._head = b""
        # While admit() decides, what it writes waits here: the 101 and a refusal's close
        # frame (or the error before it) leave in one write.
        self._corked: list[bytes] | None = None
        self._eof_after_cork = False
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport = cast(asyncio.Transport, None)
        self.show = ""
        self.claims: Claims | None = None
        self.user: str | None = None
        self.is_staff = False
        self.room: Room | None = None
        self.closing = False
        self.stale = False  # skipped frames of stock/counts; gets a state message on drain
        self.last_seen = time.monotonic()
        self.joined: asyncio.Future[None] = self.loop.create_future()
        self._fragments: list[bytes] = []
        # Messages that came before the hello, with the rate's verdict at arrival: the
        # hub answers nothing before the hello. None once they have been handled.
        self._early: list[tuple[str, float]] | None = []
        self._joining: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # client messages being handled
        self._timers: list[asyncio.TimerHandle] = []
        now = time.monotonic()
        rate = hub.settings.hub.messages_per_s if hub is not None else 1.0
        self._messages = TokenBucket(rate, rate * 2, now)
        self._flood = TokenBucket(rate, rate * 2, now)

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if self.server_state is not None:
            self.server_state.connections.add(self)
        if self.hub is not None:
            s = self.hub.settings.hub
            self.transport.set_write_buffer_limits(
                high=s.send_buffer_soft_bytes, low=s.send_buffer_soft_bytes // 4
            )

    def data_received(self, data: bytes) -> None:
        self.last_seen = time.monotonic()
        proto = self.proto
        if proto is None:
            rest = self._read_head(data)
            proto = self.proto
            if proto is None or not rest:
                return
            data = rest
        proto.receive_data(data)
        for event in proto.events_received():
            if isinstance(event, Frame):
                self._frame(event)
        self._send_pending()

    def eof_received(self) -> bool | None:
        if self.proto is None:
            self.transport.close()
            return None
        self.proto.receive_eof()
        self._send_pending()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        # Nothing is written after this: a reply whose task outlived its cancel (redis-py
        # may drop a cancellation on 3.11, see runtime.cancel_and_wait) would otherwise
        # write to a closed transport, which uvloop raises on.
        self.closing = True
        self._leave()
        if self.server_state is not None:
            self.server_state.connections.discard(self)
        if self.hub is not None:
            self.hub.connections.discard(self)
        for timer in self._timers:
            timer.cancel()
        for task in self._tasks:
            task.cancel()
        if self._joining is not None:
            self._joining.cancel()
        self._early = None
        if not self.joined.done():
            self.joined.cancel()

    def resume_writing(self) -> None:
        if self.stale and self.room is not None and not self.closing:
            self.stale = False
            self.write(self.room.state_frame())

    # -- uvicorn's graceful shutdown -------------------------------------------------

    def shutdown(self) -> None:
        if self._open:
            self.close(CloseCode.RESTARTING, "this node is stopping; resume on another")
        else:
            self.transport.close()

    # -- writing ---------------------------------------------------------------------

    def write(self, frame: bytes) -> None:
        """A frame for this socket alone (hello, ack, personal message)."""
        if self.closing or not self._open:
            return
        hub = self.hub
        assert hub is not None
        if self.transport.get_write_buffer_size() > hub.settings.hub.send_buffer_hard_bytes:
            self.close_slow()
            return
        self._out(frame)
        hub.stats.frames_out += 1
        hub.stats.bytes_out += len(frame)

    def send(self, message: dict[str, Any]) -> None:
        self.write(message_frame(message))

    def send_error(self, exc: LivecartError, *, req: str | int | None, kind: str | None) -> None:
        self.send(_error_reply(exc, req=req, kind=kind))

    def deliver_behind(self, frame: bytes, coalescable: bool) -> bool:
        """A room's frame for a socket whose unsent bytes passed the soft limit: skip what
        it will get again, close it (resumable) past the hard limit. True when written."""
        hub = self.hub
        assert hub is not None
        if self.transport.get_write_buffer_size() > hub.settings.hub.send_buffer_hard_bytes:
            self.close_slow()
            return False
        if coalescable:
            self.stale = True
            hub.stats.skipped_slow += 1
            return False
        self.transport.write(frame)
        return True

    def close_slow(self) -> None:
        assert self.hub is not None
        self.hub.stats.closed_slow += 1
        # The close frame waits behind the unsent bytes: a client that is slow but reading
        # gets 4001; one that reads nothing is cut off after CLOSE_TIMEOUT_S (1006). Either
        # way nothing more is written to it, so its buffer stops growing now.
        self.close(CloseCode.SLOW_CONSUMER, "too far behind; resume from your last event id")

    def close(self, code: int, reason: str = "") -> None:
        """Start the closing handshake; the socket leaves its room now, so it gets no
        more frames, and is cut off if the peer does not answer."""
        if self.closing:
            return
        self.closing = True
        self._leave()
        if self.proto is not None and self.proto.state is State.OPEN:
            self.proto.send_close(code, _fit_reason(reason))
            self._send_pending()
        self._timers.append(self.loop.call_later(CLOSE_TIMEOUT_S, self.transport.abort))

    def refuse(self, code: int, exc: LivecartError) -> None:
        """An error message naming the problem, then the close code (browsers do not show
        a refused handshake's reason, so the socket is opened to say why)."""
        self.send_error(exc, req=None, kind=None)
        self.close(code, f"{exc.code}: {exc.message}")

    @property
    def _open(self) -> bool:
        return self.proto is not None and self.proto.state is State.OPEN

    def _out(self, data: bytes) -> None:
        corked = self._corked
        if corked is None:
            self.transport.write(data)
        else:
            corked.append(data)

    def _send_pending(self) -> None:
        proto = self.proto
        if proto is None:
            return
        for chunk in proto.data_to_send():
            if chunk:
                self._out(chunk)
            elif self._corked is not None:
                self._eof_after_cork = True
            else:  # the protocol's end of stream: the server closes TCP first
                self.transport.close()
        if proto.state is not State.OPEN:
            self._leave()

    def _uncork(self) -> None:
        corked, self._corked = self._corked, None
        if corked:
            self.transport.write(b"".join(corked))
        if self._eof_after_cork:
            self.transport.close()

    def _leave(self) -> None:
        room, self.room = self.room, None
        if room is not None:
            room.discard(self)

    # -- handshake -------------------------------------------------------------------

    def _read_head(self, data: bytes) -> bytes | None:
        """Gather the upgrade request's head; once whole, answer it. Returns the bytes
        that followed it when the socket was upgraded."""
        if self.closing:
            return None
        head = self._head + data if self._head else data
        end = head_end(head)
        if end < 0:
            if len(head) > MAX_HEAD_BYTES:
                self._reject(head_too_large())
            else:
                self._head = head
            return None
        self._head = b""
        self._handshake(head[:end])
        return head[end:] if self.proto is not None else None

    def _handshake(self, head: bytes) -> None:
        hub = self.hub
        try:
            upgrade = read_upgrade(head)
        except HandshakeError as exc:
            self._reject(exc)
            return
        if hub is None or not hub.accepting:
            self._reject(HandshakeError(503, "the hub is not running on this node"))
            return
        match = PATH.match(upgrade.path)
        if match is None:
            self._reject(HandshakeError(404, "no WebSocket endpoint here; use /ws/shows/{show}"))
            return
        try:
            self.show = check_id(unquote(match.group(1)), "show")
        except InvalidInput as exc:
            self._reject(HandshakeError(404, exc.message))
            return
        self.proto = ServerProtocol(max_size=self._max_size, state=State.OPEN)
        self._corked = [upgrade.response()]  # the 101 goes out before anything admit() writes
        try:
            params = {k: v[-1] for k, v in parse_qs(upgrade.query).items()}
            hub.admit(self, upgrade.headers, params)
        finally:
            self._uncork()

    def _reject(self, exc: HandshakeError) -> None:
        self.closing = True
        self.transport.write(refusal(exc.status, exc.text, exc.headers))
        self.transport.close()

    def authenticate(self, token: str | None) -> None:
        """Who this socket is; raises AuthError / Forbidden, checked on every connect."""
        hub = self.hub
        assert hub is not None
        auth = hub.settings.auth
        claims = None if not token else verify_token(auth.secret, token, leeway_s=auth.leeway_s)
        authorize(claims, Action.WATCH, self.show, anonymous_viewers=auth.anonymous_viewers)
        self.claims = claims
        self.user = None if claims is None else claims.sub
        self.is_staff = claims is not None and claims.role in STAFF_ROLES

    def start_session(self, last: str | None, epoch: str | None) -> None:
        hub = self.hub
        assert hub is not None
        if not last and hub.welcome_at_once(self):
            self._joined()
            return
        self._joining = asyncio.ensure_future(self._join(last, epoch))

    async def _join(self, last: str | None, epoch: str | None) -> None:
        hub = self.hub
        assert hub is not None
        try:
            await hub.welcome(self, last, epoch)
        except NotFound as exc:
            hub.stats.joins["show_not_found"] += 1
            self.refuse(CloseCode.SHOW_NOT_FOUND, exc)
        except Forbidden as exc:
            hub.stats.joins[exc.code] += 1
            self.refuse(CloseCode.FORBIDDEN, exc)
        except (RedisError, OSError, StoreUnavailable) as exc:
            hub.stats.joins["store_unavailable"] += 1
            log.warning("joining show %s: %s", self.show, exc)
            self.close(CloseCode.INTERNAL, "the store did not answer; resume in a moment")
        else:
            self._joined()
            return
        self._early = None  # the join was refused: what came before it is not handled
        if not self.joined.done():
            self.joined.cancel()

    def _joined(self) -> None:
        assert self.hub is not None
        self.hub.stats.joins["ok"] += 1
        if not self.joined.done():
            self.joined.set_result(None)
        # No await since the hello was written: nothing can come between it and these.
        self._answer_early()

    def _answer_early(self) -> None:
        """Handle the messages that came before the hello, in arrival order. Replies
        decided without the store go out in that order too: their sends are queued on
        the loop behind the first step of each task started before them."""
        early, self._early = self._early, None
        if not early or self.closing:
            return
        for text, wait in early:
            self._answer(text, wait, lambda message: self.loop.call_soon(self.send, message))

    # -- client messages -------------------------------------------------------------

    def _frame(self, frame: Frame) -> None:
        if self.closing:
            return
        opcode = frame.opcode
        if opcode is Opcode.BINARY or (opcode is Opcode.CONT and not self._fragments):
            self.close(CloseCode.UNSUPPORTED_DATA, "binary frames are not part of the protocol")
            return
        if opcode not in (Opcode.TEXT, Opcode.CONT):
            return  # ping, pong and close are answered by the protocol itself
        self._fragments.append(bytes(frame.data))
        if not frame.fin:
            return
        data = b"".join(self._fragments)
        self._fragments.clear()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            self.close(CloseCode.INVALID_DATA, "text messages must be UTF-8")
            return
        self._message(text)

    def _message(self, text: str) -> None:
        hub = self.hub
        assert hub is not None
        now = time.monotonic()
        # Every message counts against the rate when it arrives, malformed ones too.
        wait = self._messages.take(now)
        if wait and self._flood.take(now):
            hub.stats.inbound[("flood", "closed")] += 1
            self.close(CloseCode.POLICY, "too many messages; slow down")
            return
        early = self._early
        if early is None:
            self._answer(text, wait, self.send)
        elif len(early) < MAX_IN_FLIGHT:
            early.append((text, wait))  # answered after the hello
        else:
            hub.stats.inbound[("before_hello", "closed")] += 1
            self.close(CloseCode.POLICY, f"more than {MAX_IN_FLIGHT} messages before the hello")

    def _answer(self, text: str, wait: float, reply: Callable[[dict[str, Any]], object]) -> None:
        """Decode and handle one message whose rate was counted (``wait``: seconds the
        rate asked it to wait, 0.0 when it was within it). Errors decided here go out
        through ``reply``; the rest is handled by the hub."""
        hub = self.hub
        assert hub is not None
        try:
            inbound = decode_inbound(text)
        except InvalidInput as exc:
            hub.stats.inbound[("invalid", exc.code)] += 1
            reply(_error_reply(exc, req=None, kind=None))
            return
        if wait:
            hub.stats.inbound[(hub.known_type(inbound.type), "rate_limited")] += 1
            reply(
                error_message(
                    "rate_limited",
                    "too many messages from this connection",
                    req=inbound.req,
                    kind=inbound.type,
                    extra={"retry_after_ms": int(wait * 1000) + 1},
                )
            )
            return
        if len(self._tasks) >= MAX_IN_FLIGHT:
            hub.stats.inbound[(hub.known_type(inbound.type), "busy")] += 1
            reply(
                error_message(
                    "busy",
                    f"{MAX_IN_FLIGHT} messages of this connection are still being handled",
                    req=inbound.req,
                    kind=inbound.type,
                )
            )
            return
        task = asyncio.ensure_future(hub.handle(self, inbound))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def personal_event(self, kind: str, data: dict[str, Any]) -> None:
        """Moderation that concerns this user, at once (not through the tick)."""
        if kind == "muted":
            self.send({"type": "muted", "until_ms": data.get("until_ms"), "by": data.get("by")})
        elif kind == "unmuted":
            self.send({"type": "unmuted", "by": data.get("by")})
        elif kind == "banned" and not self.is_admin:
            self.refuse(
                CloseCode.FORBIDDEN, Forbidden("you are banned from this show", code="banned")
            )

    @property
    def is_admin(self) -> bool:
        """Admins operate the platform: a show's ban does not keep them out."""
        return self.claims is not None and self.claims.role is Role.ADMIN

    def token_still_valid(self) -> None:
        """Tokens expire during long sessions: every action checks again."""
        claims = self.claims
        hub = self.hub
        if (
            claims is not None
            and hub is not None
            and claims.exp + hub.settings.auth.leeway_s < time.time()
        ):
            raise TokenExpired("your token has expired; reconnect with a new one")


def _error_reply(exc: LivecartError, *, req: str | int | None, kind: str | None) -> dict[str, Any]:
    body = exc.to_dict()
    code, message = body.pop("error"), body.pop("message")
    field = body.pop("field", None)
    return error_message(code, message, req=req, kind=kind, field=field, extra=body)


def _fit_reason(reason: str) -> str:
    """A close reason fits in 123 bytes of UTF-8."""
    encoded = reason.encode()
    if len(encoded) <= 123:
        return reason
    return encoded[:120].decode("utf-8", errors="ignore") + "..."


def auth_error_close(conn: HubConnection, exc: AuthError | Forbidden) -> None:
    code = CloseCode.UNAUTHENTICATED if isinstance(exc, AuthError) else CloseCode.FORBIDDEN
    conn.refuse(code, exc)
