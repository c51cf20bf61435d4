"""What uvicorn runs on livecart's one port: its httptools HTTP protocol, with a limit on
how long a new connection may take to send its request headers, and the hub's WebSocket
protocol for every upgrade request.

uvicorn gives a connection that sends nothing (or half a request line) unlimited time;
10 000 such sockets would hold 10 000 file descriptors for nothing (invariant 7: every
wait is bounded). The limit covers the first request only; between keep-alive requests
uvicorn's own ``timeout_keep_alive`` applies.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from livecart.hub.connection import HubConnection

DEFAULT_HEADER_TIMEOUT_S = 10.0


class HeaderTimeoutHttp(HttpToolsProtocol):
    """httptools' protocol that closes a connection whose first request headers are not
    complete within ``server.header_timeout_s``."""

    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        hub = self.app_state.get("hub")
        timeout = hub.settings.server.header_timeout_s if hub else DEFAULT_HEADER_TIMEOUT_S
        self._header_timer = self.loop.call_later(timeout, self._headers_too_late)

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_late(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def uvicorn_protocols() -> dict[str, Any]:
    """The ``http`` and ``ws`` arguments of ``uvicorn.Config`` for a livecart node."""
    return {"http": HeaderTimeoutHttp, "ws": HubConnection}
