"""Helpers that start real servers: in this process (uvicorn on a free port) or as a
``livecart`` child process, as a user would run it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from starlette.applications import Starlette

from livecart.app import create_app
from livecart.auth.tokens import issue_token
from livecart.config import Settings
from livecart.listener import uvicorn_protocols
from livecart.runtime import Runtime

STRONG_SECRET = "test-secret-0123456789abcdef0123456789abcdef"
STRONG_ADMIN_KEY = "test-admin-key-0123456789"


BEARER_TTL_S = 2 * 3600


def raw_client(settings: Settings) -> Redis:
    """A test's own bytes client on the session's store: a cluster client on a Cluster
    (a plain one would meet MOVED for most keys)."""
    if settings.redis.cluster:
        return RedisCluster.from_url(settings.redis.url)  # type: ignore[return-value]
    return Redis.from_url(settings.redis.url)


async def flush_store(client: Redis) -> None:
    """Empty the session's store: every primary of a Cluster."""
    if isinstance(client, RedisCluster):
        await client.flushall(target_nodes=RedisCluster.PRIMARIES)
    else:
        await client.flushall()


def bearer(sub: str = "ana", role: str = "viewer", show: str | None = None) -> dict[str, str]:
    """An Authorization header with a token signed by the test settings' secret. Modules
    make these at import, before the whole run starts: a token lives two hours, past
    the longest run (CI allows 30 minutes), so none expires before its test."""
    token = issue_token(STRONG_SECRET, sub=sub, role=role, show=show, ttl_s=BEARER_TTL_S)
    return {"Authorization": f"Bearer {token}"}


@dataclass
class LiveServer:
    url: str
    app: Starlette

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime


@contextlib.asynccontextmanager
async def serve_app(settings: Settings) -> AsyncIterator[LiveServer]:
    """``create_app(settings)`` served by uvicorn on a free port, lifespan and all."""
    app = create_app(settings)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="on", log_level="warning", **uvicorn_protocols()
    )
    server = _PromptServer(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("server stopped during start-up")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield LiveServer(url=f"http://127.0.0.1:{port}", app=app)
    finally:
        server.should_exit = True
        server.exit_now.set()
        await task


class _PromptServer(uvicorn.Server):
    """uvicorn's server, whose main loop checks ``should_exit`` every 0.1 s: this one is
    woken at once, so each test's server stops without waiting for the next tick
    (thousands of tests start and stop one)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.exit_now = asyncio.Event()

    async def shutdown(self, sockets: list[Any] | None = None) -> None:
        """uvicorn's shutdown gives open connections 0.1 s to finish, even when there are
        none; with none open the wait is skipped, the rest is uvicorn's own."""
        if self.server_state.connections or sockets:
            await super().shutdown(sockets)
            return
        for server in self.servers:
            server.close()
        await self._wait_tasks_to_complete()
        if not self.force_exit:
            await self.lifespan.shutdown()

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            counter += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.exit_now.wait(), 0.1)


class LivecartProcess:
    """``python -m livecart ARGS`` in its own process, as a user would run it."""

    def __init__(self, args: list[str], cwd: Path, env: Mapping[str, str] | None = None) -> None:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("LIVECART_")}
        full_env.update(env or {})
        self.stdout_path = cwd / f"livecart-{time.monotonic_ns()}.out"
        self.stderr_path = self.stdout_path.with_suffix(".err")
        self._out = self.stdout_path.open("wb")
        self._err = self.stderr_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "livecart", *args],
            cwd=cwd,
            env=full_env,
            stdout=self._out,
            stderr=self._err,
        )

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait_for_url(self, timeout: float = 15.0) -> str:
        """The base URL the process announces once it listens."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(r"http://127\.0\.0\.1:\d+", self.stdout)
            if match:
                return match.group(0)
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"livecart exited with {self.proc.returncode} before listening:\n{self.stderr}"
                )
            time.sleep(0.02)
        raise AssertionError(f"livecart did not announce its URL within {timeout}s:\n{self.stderr}")

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 20.0) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._out.close()
            self._err.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._out.close()
        self._err.close()


def get(url: str, **kwargs: object) -> httpx.Response:
    return httpx.get(url, timeout=5.0, **kwargs)  # type: ignore[arg-type]


def processes_serving(data_dir: Path) -> list[int]:
    """Pids of live redis/valkey servers whose command line names this data directory."""
    found = []
    needle = str(data_dir.resolve()).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            status = (entry / "status").read_text()
        except OSError:
            continue
        if needle in cmdline and b"-server" in cmdline and "State:\tZ" not in status:
            found.append(int(entry.name))
    return found


def wait_until(predicate: object, timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(interval)
    return False


class RawConnection:
    """One keep-alive HTTP/1.1 connection for load: requests one at a time, JSON in and
    out. The storms use it because httpx's pool costs grow with its connection count
    (measured here: 6.5 ms of client CPU per request at 1 000 connections, against the
    server's 0.7 ms), which would make the client, not livecart, the thing measured."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, base_url: str) -> RawConnection:
        host, port = base_url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        return cls(reader, writer)

    async def request(
        self, method: str, path: str, *, json: object = None, headers: Mapping[str, str] = {}
    ) -> tuple[int, Any]:
        body = b"" if json is None else orjson.dumps(json)
        head = [
            f"{method} {path} HTTP/1.1",
            "Host: livecart",
            f"Content-Length: {len(body)}",
            "Content-Type: application/json",
        ]
        head += [f"{name}: {value}" for name, value in headers.items()]
        async with self._lock:
            self._writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            status = int((await self._reader.readline()).split()[1])
            length = 0
            while (line := await self._reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            payload = await self._reader.readexactly(length)
        return status, orjson.loads(payload) if payload else None

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


async def until(check: Callable[[], bool], within: float, what: str) -> float:
    """Seconds until ``check()`` holds; fails naming ``what``."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > within:
            raise AssertionError(f"{what} did not happen within {within}s")
        await asyncio.sleep(0.05)
    return time.monotonic() - start
