"""What every benchmark of the suite shares: processes and their CPU, the machine's idle
time, a Redis, a livecart node, and where results go.

Results: each benchmark writes ``bench/results/NAME.md`` (the table, the command, the
machine) and ``bench/results/NAME.json`` (every row, every figure) with
``write_results``; bench/RESULTS.md keeps the latest tables with a reading of each.

CPU is read from the kernel's own counters for one process (``/proc/PID/stat``: user and
system time, not its children), so a server's figure never includes the clients' or
Redis' work.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS_DIR = ROOT / "bench" / "results"
SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
ADMIN_KEY = "bench-admin-key-0123456789"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


# --- one process's CPU and memory ---------------------------------------------------


@dataclass(frozen=True)
class CpuTimes:
    user: float  # seconds
    system: float

    @property
    def total(self) -> float:
        return self.user + self.system

    def __sub__(self, other: CpuTimes) -> CpuTimes:
        return CpuTimes(self.user - other.user, self.system - other.system)

    def __add__(self, other: CpuTimes) -> CpuTimes:
        return CpuTimes(self.user + other.user, self.system + other.system)


ZERO_CPU = CpuTimes(0.0, 0.0)


def cpu_times(pid: int) -> CpuTimes:
    """utime and stime of one process (not its children)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return CpuTimes(int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK)


def rss_bytes(pid: int) -> int:
    """Resident set size of one process (``/proc/PID/statm``)."""
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE


def raise_open_files() -> None:
    """Up to the hard limit (20 000 here): 10 000 viewers need a socket each."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --- the machine ----------------------------------------------------------------------


def machine_ticks() -> tuple[int, int]:
    """(idle, total) jiffies of all cores since boot (``/proc/stat``)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return idle, sum(fields)


class MachineIdle:
    """The machine's idle share between ``start`` and ``stop`` (0.0 to 1.0): near 0 means
    something (the clients, the server) was short of CPU and the row's figures are the
    machine's, not the server's."""

    def __init__(self) -> None:
        self._at = machine_ticks()
        self.idle = float("nan")

    def start(self) -> None:
        self._at = machine_ticks()

    def stop(self) -> float:
        idle, total = machine_ticks()
        spent = total - self._at[1]
        self.idle = (idle - self._at[0]) / spent if spent else float("nan")
        return self.idle


def machine() -> dict[str, Any]:
    """What a result was measured on."""
    meminfo = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(int(meminfo[1]) / 1024 / 1024),
        "python": sys.version.split()[0],
        "commit": commit + ("+changes" if dirty else ""),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


# --- statistics ---------------------------------------------------------------------


def percentile(ordered: Sequence[float], p: float) -> float:
    """The p-quantile of already sorted samples (nan when there are none)."""
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")


# --- WebSocket frames as a lean client reads them -----------------------------------


def next_frame(data: bytes, pos: int) -> tuple[int, int, int] | None:
    """The server frame starting at ``pos`` (unmasked; 2, 4 or 10 byte header) as
    (opcode, payload start, payload end), or None while it is not whole in ``data``."""
    n = len(data)
    if n - pos < 2:
        return None
    length = data[pos + 1] & 0x7F
    head = 2
    if length == 126:
        if n - pos < 4:
            return None
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        head = 4
    elif length == 127:
        if n - pos < 10:
            return None
        length = int.from_bytes(data[pos + 2 : pos + 10], "big")
        head = 10
    end = pos + head + length
    if end > n:
        return None
    return data[pos] & 0x0F, pos + head, end


# --- helper processes ---------------------------------------------------------------


class Child:
    """A helper process speaking lines on stdin/stdout: a peer server, a client group."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=full_env,
            cwd=ROOT,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def line(self, within: float = 120.0) -> str:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), within)
        if not line:
            raise RuntimeError(f"{self.proc.args} exited with {self.proc.wait()}")
        return line.strip()

    async def json_line(self, within: float = 120.0) -> Any:
        return json.loads(await self.line(within))

    def tell(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --- Redis and livecart -------------------------------------------------------------


async def start_redis(directory: Path, appendfsync: str = "everysec") -> Any:
    """The bundled valkey-server in ``directory``; ``await redis.stop()`` when done."""
    from livecart.store.embedded import EmbeddedRedis, bundled_server_binary

    redis = EmbeddedRedis(directory, binary=bundled_server_binary(), appendfsync=appendfsync)
    await redis.start()
    return redis


def bench_settings(redis_url: str) -> Any:
    """Settings for the bench's own in-process runtime (seeding, driving events)."""
    from livecart.config import Settings

    return Settings().with_overrides(
        {
            "redis": {"url": redis_url},
            "auth": {"secret": SECRET, "admin_api_key": ADMIN_KEY},
            "server": {"log_level": "warning"},
        }
    )


def livecart_env(redis_url: str, **overrides: str) -> dict[str, str]:
    """The environment of a ``livecart serve`` under test: this bench's Redis and
    secrets, pings off (they would be deliveries of their own), then ``overrides``
    (``LIVECART_HUB_MAX_JOINS_PER_S="100000"`` ...)."""
    env = {
        "LIVECART_REDIS_URL": redis_url,
        "LIVECART_AUTH_SECRET": SECRET,
        "LIVECART_AUTH_ADMIN_API_KEY": ADMIN_KEY,
        "LIVECART_SERVER_LOG_LEVEL": "warning",
        "LIVECART_HUB_PING_INTERVAL_S": "3600",
    }
    env.update(overrides)
    return env


async def start_livecart(redis_url: str, workdir: Path, **overrides: str) -> Any:
    """A ``livecart serve`` process on a free port; returns the ``LivecartProcess`` (its
    ``proc.pid``; ``url`` set to the base URL). Stop it with ``stop_livecart``."""
    from tests.helpers import LivecartProcess

    node = LivecartProcess(
        ["serve", "--port", "0"], cwd=workdir, env=livecart_env(redis_url, **overrides)
    )
    node.url = await asyncio.to_thread(node.wait_for_url)  # type: ignore[attr-defined]
    return node


def stop_livecart(node: Any) -> None:
    node.signal(signal.SIGTERM)
    try:
        node.wait(20)
    finally:
        node.kill()


# --- results --------------------------------------------------------------------------


def markdown_table(columns: Sequence[tuple[str, str]], rows: Sequence[Mapping[str, Any]]) -> str:
    """``columns`` are (header, key); numbers are right-aligned and given the precision
    their size deserves; a missing or None value is "-"."""

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, int):
            return f"{value}"
        if isinstance(value, float):
            if value != value:  # nan
                return "-"
            magnitude = abs(value)
            if magnitude >= 100:
                return f"{value:.0f}"
            if magnitude >= 10:
                return f"{value:.1f}"
            return f"{value:.2f}"
        return str(value)

    cells = [[cell(row.get(key)) for _, key in columns] for row in rows]
    numeric = [
        all(isinstance(row.get(key), int | float) or row.get(key) is None for row in rows)
        for _, key in columns
    ]
    header = "| " + " | ".join(h for h, _ in columns) + " |"
    rule = "|" + "|".join("---:" if num else "---" for num in numeric) + "|"
    body = ["| " + " | ".join(line) + " |" for line in cells]
    return "\n".join([header, rule, *body])


def write_results(
    name: str,
    *,
    title: str,
    command: str,
    table: str,
    rows: Sequence[Mapping[str, Any]],
    notes: Sequence[str] = (),
    settings: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``bench/results/NAME.md`` and ``NAME.json`` and print the markdown."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    where = machine()
    md = [
        f"# {title}",
        "",
        f"Command: `{command}`",
        "",
        f"Run {where['date']} at commit {where['commit']}, {where['cores']} cores, "
        f"{where['memory_gib']} GiB, Python {where['python']}.",
        "",
        table,
    ]
    if notes:
        md += ["", *(f"- {note}" for note in notes)]
    text = "\n".join(md) + "\n"
    (RESULTS_DIR / f"{name}.md").write_text(text)
    document = {
        "title": title,
        "command": command,
        "machine": where,
        "settings": dict(settings or {}),
        "rows": list(rows),
        "notes": list(notes),
    }
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    print(text)
    return path


def command_line() -> str:
    """How this benchmark was started, for its results."""
    return "python " + " ".join([os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])
