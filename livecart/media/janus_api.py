"""The few calls livecart makes to one Janus instance's HTTP API (Janus 1.1, Streaming
plugin): sessions, handles, plugin messages and the long poll that brings a viewer's
offer. Every request carries the instance's API secret, which only livecart knows:
viewers never reach this API, livecart relays what they need.
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import orjson

STREAMING = "janus.plugin.streaming"
REQUEST_TIMEOUT_S = 3.0
NO_SUCH_SESSION = 458
NO_SUCH_HANDLE = 459
UNAUTHORIZED = 403


class JanusError(Exception):
    """Janus refused a request (``code`` is Janus' own error code)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{reason} (Janus error {code})")
        self.code = code
        self.reason = reason

    @property
    def session_gone(self) -> bool:
        return self.code in (NO_SUCH_SESSION, NO_SUCH_HANDLE)


class JanusUnreachable(Exception):
    """No answer from the instance: down, restarting, or the URL is wrong."""


class JanusApi:
    """One pool of connections to one instance. A node keeps two per instance: its own
    requests must never queue behind a storm of viewers' long polls (the monitor would
    take a full pool for a dead Janus and stop the stream's RTP to it)."""

    def __init__(self, url: str, api_secret: str, *, max_connections: int = 20) -> None:
        self.url = url.rstrip("/")
        self._secret = api_secret
        self._http = httpx.AsyncClient(
            timeout=REQUEST_TIMEOUT_S,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {**body, "transaction": secrets.token_hex(6)}
        if self._secret:
            body["apisecret"] = self._secret
        try:
            response = await self._http.post(
                self.url + path,
                content=orjson.dumps(body),
                headers={"Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise JanusUnreachable(f"{self.url}: {type(exc).__name__}: {exc}") from None
        return _checked(response)

    async def info(self) -> dict[str, Any]:
        return await self._send("", {"janus": "info"})

    async def create_session(self) -> int:
        reply = await self._send("", {"janus": "create"})
        return int(reply["data"]["id"])

    async def attach(self, session: int) -> int:
        reply = await self._send(f"/{session}", {"janus": "attach", "plugin": STREAMING})
        return int(reply["data"]["id"])

    async def keepalive(self, session: int) -> None:
        await self._send(f"/{session}", {"janus": "keepalive"})

    async def destroy(self, session: int) -> None:
        await self._send(f"/{session}", {"janus": "destroy"})

    async def message(
        self,
        session: int,
        handle: int,
        body: dict[str, Any],
        jsep: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """A plugin request: its ``plugindata.data`` for synchronous requests, the
        whole reply (``ack``) for asynchronous ones. Raises JanusError when the plugin
        refused it."""
        request: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            request["jsep"] = jsep
        reply = await self._send(f"/{session}/{handle}", request)
        if reply.get("janus") == "ack":
            return reply
        return _plugin_data(reply)

    async def next_event(self, session: int, wait_s: float) -> dict[str, Any] | None:
        """One event of the session (long poll), or None when none came in ``wait_s``."""
        params = {"maxev": "1"}
        if self._secret:
            params["apisecret"] = self._secret
        try:
            response = await self._http.get(
                f"{self.url}/{session}", params=params, timeout=wait_s + REQUEST_TIMEOUT_S
            )
        except httpx.TimeoutException:
            return None
        except httpx.HTTPError as exc:
            raise JanusUnreachable(f"{self.url}: {type(exc).__name__}: {exc}") from None
        reply = _checked(response)
        if reply.get("janus") == "keepalive":
            return None
        return reply


def _checked(response: httpx.Response) -> dict[str, Any]:
    try:
        reply: dict[str, Any] = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise JanusUnreachable(
            f"{response.request.url} answered HTTP {response.status_code} that is not "
            "Janus' JSON (is it Janus' HTTP API URL?)"
        ) from None
    if reply.get("janus") == "error":
        error = reply.get("error") or {}
        raise JanusError(int(error.get("code", 0)), str(error.get("reason", "error")))
    return reply


def _plugin_data(reply: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = (reply.get("plugindata") or {}).get("data") or {}
    if "error_code" in data:
        raise JanusError(int(data["error_code"]), str(data.get("error", "plugin error")))
    return data


def plugin_event(event: dict[str, Any]) -> dict[str, Any]:
    """The Streaming plugin's part of an event; raises JanusError for its errors."""
    return _plugin_data(event)
