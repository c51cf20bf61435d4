"""What the hub's tests share: a live show on a real server, and a small WebSocket client
that keeps the protocol's bookkeeping (last event id, epoch) and matches replies by req.

Import the fixtures a test module needs (``from tests.hub.live import live, settings``).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from livecart.auth.tokens import issue_token
from livecart.config import Settings
from tests.commerce.conftest import PRODUCTS, SHOW, seed_show
from tests.helpers import STRONG_SECRET, LiveServer

__all__ = ["PRODUCTS", "SHOW", "HubClient", "live", "settings", "token", "ws_url"]

Message = dict[str, Any]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test payment provider, and a short tick so tests do not wait on it."""
    return settings.with_overrides(
        {"checkout": {"payment_provider": "test"}, "hub": {"tick_ms": 10}}
    )


@pytest.fixture
async def live(server: LiveServer) -> LiveServer:
    """A server with show s1 live and its four products in the lineup."""
    await seed_show(server.runtime)
    return server


def token(sub: str = "ana", role: str = "viewer", show: str | None = None, ttl_s: int = 600) -> str:
    return issue_token(STRONG_SECRET, sub=sub, role=role, show=show, ttl_s=ttl_s)


def ws_url(server: LiveServer | str, show: str = SHOW, **params: str | None) -> str:
    base = server if isinstance(server, str) else server.url
    query = urlencode({k: v for k, v in params.items() if v is not None})
    url = base.replace("http://", "ws://", 1) + f"/ws/shows/{show}"
    return f"{url}?{query}" if query else url


class HubClient:
    """One socket. ``events`` collects every show event received, in order; ``last`` and
    ``epoch`` are what a real client would resume with."""

    _reqs = itertools.count(1)

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.hello: Message = {}
        self.events: list[Message] = []
        self.others: list[Message] = []  # personal messages not yet taken by a wait
        self.last: str | None = None
        self.epoch: str | None = None

    @classmethod
    async def open(cls, url: str, *, expect_hello: bool = True) -> HubClient:
        client = cls(await connect(url, max_size=None, open_timeout=10))
        if expect_hello:
            client.hello = await client.next_of("hello")
        return client

    async def close(self) -> None:
        await self.ws.close()

    async def __aenter__(self) -> HubClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def send(self, message: Message) -> None:
        await self.ws.send(orjson.dumps(message).decode())

    async def receive(self, within: float = 5.0) -> Message:
        """The next message, with the protocol's bookkeeping applied.

        ``asyncio.timeout``, not ``asyncio.wait_for``: on Python 3.11 wait_for drops a
        cancellation that arrives as its message does (CPython gh-86296), so a caller's
        own ``asyncio.timeout`` around a loop of receives never fired while events kept
        coming, and the loop ran for ever (a CI run hung in tests/e2e/test_nginx.py).
        """
        async with asyncio.timeout(within):
            raw = await self.ws.recv()
        message: Message = orjson.loads(raw)
        kind = message.get("type")
        if kind == "hello":
            self.epoch = message.get("epoch")
            self.last = message.get("last_event_id") or self.last
        elif kind == "events":
            self.epoch = message["epoch"]
            self.last = message["last"]
            self.events.extend(message["events"])
        return message

    async def next_of(self, kind: str, within: float = 5.0) -> Message:
        """The next message of ``kind``; personal messages passed over are kept."""
        for i, message in enumerate(self.others):
            if message.get("type") == kind:
                return self.others.pop(i)
        deadline = asyncio.get_running_loop().time() + within
        while True:
            left = deadline - asyncio.get_running_loop().time()
            message = await self.receive(max(left, 0.001))
            if message.get("type") == kind:
                return message
            if message.get("type") != "events":
                self.others.append(message)

    async def request(self, kind: str, within: float = 10.0, **fields: Any) -> Message:
        """Send a message with a fresh req and return its reply (ack, order or error)."""
        req = f"r{next(self._reqs)}"
        await self.send({"type": kind, "req": req, **fields})
        for i, message in enumerate(self.others):
            if message.get("req") == req:
                return self.others.pop(i)
        deadline = asyncio.get_running_loop().time() + within
        while True:
            left = deadline - asyncio.get_running_loop().time()
            message = await self.receive(max(left, 0.001))
            if message.get("req") == req:
                return message
            if message.get("type") != "events":
                self.others.append(message)

    async def event(
        self, kind: str, where: Callable[[Message], bool] = lambda e: True, within: float = 5.0
    ) -> Message:
        """The first show event of ``kind`` (already received or still to come)."""
        for event in self.events:
            if event["type"] == kind and where(event):
                return event
        deadline = asyncio.get_running_loop().time() + within
        seen = len(self.events)
        while True:
            left = deadline - asyncio.get_running_loop().time()
            message = await self.receive(max(left, 0.001))
            if message.get("type") != "events":
                self.others.append(message)
            for event in self.events[seen:]:
                if event["type"] == kind and where(event):
                    return event
            seen = len(self.events)

    async def closed(self, within: float = 5.0) -> tuple[int | None, str | None]:
        """Read until the server closes; the close code and reason."""
        try:
            async with asyncio.timeout(within):
                async for raw in self.ws:
                    message = orjson.loads(raw)
                    if message.get("type") not in ("events",):
                        self.others.append(message)
        except (TimeoutError, ConnectionClosed, OSError):
            pass  # the close code is what the caller checks
        return self.ws.close_code, self.ws.close_reason
