"""Real Janus for tests: Debian's ``janus`` (1.1) started with the configs of docs/janus,
each instance on its own HTTP port and its own UDP ports, in the test run's network
namespace (tests/netns.py).

    janus = JanusServer(tmp_path / "a", http_port=20000, rtp_range=(20001, 20399),
                        api_secret=JANUS_API_SECRET, admin_key=JANUS_ADMIN_KEY, name="janus-a")
    janus.start()              # waits until its API answers "info" with the streaming plugin
    janus.streaming({"request": "list"})   # one request to the Streaming plugin
    janus.kill()               # SIGKILL, as a crash: sessions and mountpoints are gone
    janus.restart()            # same port, configs and log
    janus.stop()

Tests take two running instances from the ``janus_pair`` fixture (import it into the
test module and list it in ``__all__``, as with ``tests.hub.live.live``) and point
livecart at them with ``janus_settings(settings, pair)``.

Found here (Janus 1.1.2, in the namespace): with nothing else said Janus gathers its
one ICE candidate on 10.77.0.1 (libnice skips loopback), but finds no "local IP" for
the SDP's o= and c= lines (it looks for a route out, and the namespace has none) and
writes 127.0.0.1 there. ``-i 10.77.0.1`` makes those lines agree with the candidate;
no ice_enforce_list is needed. Janus answers "info" about 50 ms after exec.

Every instance runs in its own session (Ctrl-C reaches pytest alone) and gets SIGTERM
from the kernel if the test process dies (``PR_SET_PDEATHSIG``, tied to the thread
that forked it: each instance forks from one thread of its own, as tests/cluster.py).
"""

from __future__ import annotations

import contextlib
import itertools
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from livecart.config import Settings
from tests.children import ChildSpawner
from tests.netns import TEST_ADDRESS, network_problem

__all__ = [
    "JANUS_ADMIN_KEY",
    "JANUS_API_SECRET",
    "JanusError",
    "JanusServer",
    "janus_pair",
    "janus_settings",
]

CONFIG_DIR = Path(__file__).resolve().parent.parent / "docs" / "janus"
JANUS_API_SECRET = "test-janus-api-secret-5b1f0c"
JANUS_ADMIN_KEY = "test-janus-admin-key-9d24e7"
HOST = "127.0.0.1"
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0
POLL_S = 0.02

#: Each instance of the fixture gets one block of ports: its HTTP port, then its UDP
#: ports. The blocks lie below the kernel's ephemeral range (32768 and up), so no
#: socket a test opens without a port (aiortc, httpx) can take one of them.
PORT_BLOCK = 400
_BLOCKS_START = 20000
_BLOCKS_END = 32000

_blocks_lock = threading.Lock()
_blocks_taken: set[int] = set()
_transactions = itertools.count(1)


class JanusError(RuntimeError):
    """Janus did not start, stop, or answer as expected."""


def reserve_port_block() -> int:
    """The first port of a free block of ``PORT_BLOCK`` ports (its HTTP port bindable
    now), not handed out again until ``release_port_block``."""
    with _blocks_lock:
        for start in range(_BLOCKS_START, _BLOCKS_END - PORT_BLOCK + 1, PORT_BLOCK):
            if start in _blocks_taken or not _tcp_bindable(start):
                continue
            _blocks_taken.add(start)
            return start
    raise JanusError(f"no free block of {PORT_BLOCK} ports in {_BLOCKS_START}-{_BLOCKS_END}")


def release_port_block(start: int) -> None:
    with _blocks_lock:
        _blocks_taken.discard(start)


def _tcp_bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _set_item(text: str, key: str, value: str | int, source: str) -> str:
    """``text`` (a .jcfg) with the one ``key = ...`` line given ``value``; a config
    without the key fails loudly (docs/janus changed under the fixture)."""
    rendered = str(value) if isinstance(value, int) else f'"{value}"'
    new, count = re.subn(
        rf"^(\s*{re.escape(key)}\s*=\s*).*$",
        lambda m: m.group(1) + rendered,
        text,
        count=1,
        flags=re.MULTILINE,
    )
    if count != 1:
        raise JanusError(f"{source} has no {key} line to set")
    return new


class JanusServer:
    """One ``janus`` process with docs/janus's configs, rewritten for this instance:
    configs_folder, the HTTP port, the secrets and two disjoint UDP ranges made from
    ``rtp_range``: its first three quarters for WebRTC (janus.jcfg media.rtp_port_range:
    one port per viewer), the last quarter for mountpoints (the Streaming plugin's
    rtp_port_range: two per show). Its log is ``base_dir/janus.log``, kept across
    restarts."""

    def __init__(
        self,
        base_dir: Path,
        http_port: int,
        rtp_range: tuple[int, int],
        api_secret: str,
        admin_key: str,
        name: str,
        *,
        binary: str = "janus",
    ) -> None:
        low, high = rtp_range
        if high - low < 7:
            raise ValueError(f"rtp_range {rtp_range} is too small to split in two")
        self.base_dir = Path(base_dir)
        self.http_port = http_port
        middle = low + (high - low + 1) * 3 // 4
        self.webrtc_ports = (low, middle - 1)
        self.mountpoint_ports = (middle, high)
        self.api_secret = api_secret
        self.admin_key = admin_key
        self.name = name
        self.binary = binary
        self.proc: subprocess.Popen[bytes] | None = None
        self._spawner: ChildSpawner | None = None
        self._client: httpx.Client | None = None
        self._write_configs()

    # -- what tests look at ----------------------------------------------------------

    @property
    def url(self) -> str:
        """The Janus HTTP API, as livecart's media.janus_urls names it."""
        return f"http://{HOST}:{self.http_port}/janus"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "janus.log"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.alive and self.proc is not None else None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.alive else "stopped"
        return f"<JanusServer {self.name} {self.url} {state}>"

    # -- lifecycle -------------------------------------------------------------------

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start Janus and wait until "info" answers with the Streaming plugin loaded."""
        problem = network_problem()
        if problem is not None:
            raise JanusError(f"Janus runs in the test network namespace only: {problem}")
        if self.alive:
            raise JanusError(f"{self.name} is running already")
        if shutil.which(self.binary) is None:
            raise JanusError(f"{self.binary} is not installed (tests/run installs Debian's janus)")
        if self._spawner is None:
            self._spawner = ChildSpawner(self.name)
        command = [
            self.binary,
            "--configs-folder", str(self.base_dir),
            "--config", str(self.base_dir / "janus.jcfg"),
            "--interface", TEST_ADDRESS,  # the SDP's o= and c= lines (see above)
            "--server-name", self.name,
            "--log-file", str(self.log_path),
            "--disable-stdout",
            "--disable-colors",
            "--debug-timestamps",
        ]  # fmt: skip
        # The log file also takes what Janus says before its logger starts.
        self.proc = self._spawner.spawn(command, self.base_dir, self.log_path)
        try:
            self._wait_ready(time.monotonic() + timeout)
        except BaseException:
            self.kill()
            raise

    def stop(self) -> None:
        """SIGTERM (SIGKILL if Janus hangs) and wait; then free the spawner thread."""
        self._close_client()
        proc = self.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._spawner is not None:
            self._spawner.close()
            self._spawner = None

    def kill(self) -> None:
        """SIGKILL, as a crash, and reap it. Its sessions and mountpoints are gone."""
        self._close_client()
        proc = self.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        if proc is not None:
            proc.wait()

    def restart(self, timeout: float = START_TIMEOUT_S) -> None:
        """Stop it if it runs, then start it again: same port, configs and log."""
        if self.alive:
            self.stop()
        self.start(timeout)

    # -- the HTTP API ----------------------------------------------------------------

    def api(self, path: str, body: dict[str, Any], *, secret: str | None = None) -> Any:
        """POST ``body`` to ``url + path`` with a transaction and the API secret (or
        ``secret``); the decoded JSON answer, whatever it says."""
        payload = {
            **body,
            "transaction": f"t{next(_transactions)}",
            "apisecret": self.api_secret if secret is None else secret,
        }
        response = self._http().post(self.url + path, json=payload)
        response.raise_for_status()
        return response.json()

    def streaming(self, body: dict[str, Any]) -> dict[str, Any]:
        """One synchronous request to the Streaming plugin (create, list, info,
        destroy...) in a session of its own; the plugin's data. ``admin_key`` is added."""
        session = self._ok(self.api("", {"janus": "create"}))["data"]["id"]
        try:
            attached = self.api(
                f"/{session}", {"janus": "attach", "plugin": "janus.plugin.streaming"}
            )
            handle = self._ok(attached)["data"]["id"]
            answer = self._ok(
                self.api(
                    f"/{session}/{handle}",
                    {"janus": "message", "body": {"admin_key": self.admin_key, **body}},
                )
            )
            data: dict[str, Any] = answer["plugindata"]["data"]
            return data
        finally:
            with contextlib.suppress(httpx.HTTPError):
                self.api(f"/{session}", {"janus": "destroy"})

    def mountpoint_ids(self) -> list[int]:
        """The ids of the Streaming mountpoints this instance has now."""
        listed = self.streaming({"request": "list"})
        return sorted(int(m["id"]) for m in listed.get("list", []))

    # -- internals -------------------------------------------------------------------

    def _write_configs(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        sources = sorted(CONFIG_DIR.glob("*.jcfg"))
        if not sources:
            raise JanusError(f"no Janus configs in {CONFIG_DIR}")
        settings: dict[str, list[tuple[str, str | int]]] = {
            "janus.jcfg": [
                ("configs_folder", str(self.base_dir)),
                ("api_secret", self.api_secret),
                ("rtp_port_range", "{}-{}".format(*self.webrtc_ports)),
            ],
            "janus.transport.http.jcfg": [("port", self.http_port), ("ip", HOST)],
            "janus.plugin.streaming.jcfg": [
                ("admin_key", self.admin_key),
                ("rtp_port_range", "{}-{}".format(*self.mountpoint_ports)),
            ],
        }
        for source in sources:
            text = source.read_text()
            for key, value in settings.pop(source.name, []):
                text = _set_item(text, key, value, source.name)
            (self.base_dir / source.name).write_text(text)
        if settings:
            raise JanusError(f"{CONFIG_DIR} lacks {', '.join(settings)}")

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(timeout=5.0)
        return self._client

    def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _ok(self, answer: Any) -> Any:
        if not isinstance(answer, dict) or answer.get("janus") != "success":
            raise JanusError(f"{self.name} answered {answer!r}")
        data = answer.get("plugindata", {}).get("data", {})
        if isinstance(data, dict) and "error" in data:
            raise JanusError(f"{self.name}'s streaming plugin answered {data!r}")
        return answer

    def _wait_ready(self, deadline: float) -> None:
        proc = self.proc
        assert proc is not None
        while True:
            if proc.poll() is not None:
                raise JanusError(f"{self.name} exited with {proc.returncode}:\n{self.log_tail()}")
            try:
                info = self.api("", {"janus": "info"})
            except httpx.HTTPError:
                info = None
            if isinstance(info, dict) and info.get("janus") == "server_info":
                if "janus.plugin.streaming" not in info.get("plugins", {}):
                    raise JanusError(f"{self.name} has no streaming plugin:\n{self.log_tail()}")
                return
            if time.monotonic() > deadline:
                raise JanusError(f"{self.name} did not answer info:\n{self.log_tail()}")
            time.sleep(POLL_S)


def janus_settings(settings: Settings, instances: Sequence[JanusServer]) -> Settings:
    """``settings`` pointing livecart at ``instances`` (all with the same secrets)."""
    return settings.with_overrides(
        {
            "media": {
                "janus_urls": " ".join(janus.url for janus in instances),
                "janus_api_secret": instances[0].api_secret,
                "janus_admin_key": instances[0].admin_key,
            }
        }
    )


@pytest.fixture
def janus_pair(tmp_path: Path) -> Iterator[tuple[JanusServer, JanusServer]]:
    """Two running Janus instances (janus-a, janus-b) with the same secrets, on free
    ports, stopped after the test (a start that fails raises with the log's tail).
    Function scope: a Janus starts in about 50 ms, and each test gets fresh ones."""
    problem = network_problem()
    if problem is not None:
        pytest.fail(f"Janus tests need the test network namespace: {problem}")
    blocks: list[int] = []
    instances: list[JanusServer] = []
    try:
        for name in ("janus-a", "janus-b"):
            start = reserve_port_block()
            blocks.append(start)
            janus = JanusServer(
                tmp_path / name,
                http_port=start,
                rtp_range=(start + 1, start + PORT_BLOCK - 1),
                api_secret=JANUS_API_SECRET,
                admin_key=JANUS_ADMIN_KEY,
                name=name,
            )
            instances.append(janus)
            janus.start()
        yield instances[0], instances[1]
    finally:
        for janus in instances:
            janus.stop()
        for start in blocks:
            release_port_block(start)
