"""``livecart`` as a user runs it: a real process, real signals, its own Redis."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.applications import Starlette

from livecart import cli
from livecart.auth.tokens import Role, verify_token
from livecart.config import PLACEHOLDER_SECRET, Settings
from livecart.runtime import Runtime
from tests.helpers import (
    STRONG_ADMIN_KEY,
    STRONG_SECRET,
    LivecartProcess,
    get,
    processes_serving,
    wait_until,
)


def demo(tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> LivecartProcess:
    return LivecartProcess(["demo", "--port", "0", *extra], cwd=tmp_path, env=env)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_demo_is_ready_then_stops_on_a_signal_leaving_no_server_behind(
    tmp_path: Path, sig: signal.Signals
) -> None:
    started = time.monotonic()
    proc = demo(tmp_path)
    try:
        url = proc.wait_for_url()
        assert get(f"{url}/readyz").status_code == 200
        ready_after = time.monotonic() - started
        show = get(f"{url}/api/shows/demo-show").json()
        # Eight products, the tee sold in three sizes: ten sellable skus.
        assert show["state"] == "scheduled" and len(show["lineup"]) == 10
        sized = [p["variant"] for p in show["lineup"] if p["product"] == "nw-merino-tee"]
        assert sized == [{"Size": "L"}, {"Size": "M"}, {"Size": "S"}]
        assert show["shipping"] == {"flat": 490, "free_over": 7500}
        assert "export STREAMER=" in proc.stdout and "/api/shows/demo-show" in proc.stdout
        assert processes_serving(tmp_path / "data") != []
        proc.signal(sig)
        assert proc.wait() == 0, proc.stderr
    finally:
        proc.kill()
    assert processes_serving(tmp_path / "data") == []
    assert not (tmp_path / "data" / "redis.sock").exists()
    # Not a timed test of speed: a generous bound that only a hang would break.
    assert ready_after < 30


def test_a_second_demo_start_finds_the_first_ones_data(tmp_path: Path) -> None:
    first = demo(tmp_path)
    url = first.wait_for_url()
    created = get(f"{url}/api/shows/demo-show").json()["created_at_ms"]
    first.signal(signal.SIGINT)
    assert first.wait() == 0

    second = demo(tmp_path)
    try:
        url = second.wait_for_url()
        assert get(f"{url}/api/shows/demo-show").json()["created_at_ms"] == created
    finally:
        second.signal(signal.SIGINT)
        second.wait()


def test_kill_9_of_livecart_takes_its_redis_down_and_the_next_start_recovers(
    tmp_path: Path,
) -> None:
    first = demo(tmp_path)
    first.wait_for_url()
    servers = processes_serving(tmp_path / "data")
    assert len(servers) == 1
    first.kill()  # SIGKILL: no chance to clean up
    # The kernel's parent-death signal stops the orphan; nothing is left running.
    assert wait_until(lambda: processes_serving(tmp_path / "data") == [], timeout=10)

    second = demo(tmp_path)
    try:
        url = second.wait_for_url()
        assert get(f"{url}/readyz").status_code == 200
    finally:
        second.signal(signal.SIGTERM)
        assert second.wait() == 0


def test_kill_9_of_both_leaves_a_stale_socket_that_the_next_start_recovers_from(
    tmp_path: Path,
) -> None:
    first = demo(tmp_path)
    first.wait_for_url()
    (redis_pid,) = processes_serving(tmp_path / "data")
    os.kill(redis_pid, signal.SIGKILL)
    first.kill()
    assert (tmp_path / "data" / "redis.sock").exists()

    second = demo(tmp_path)
    try:
        url = second.wait_for_url()
        assert get(f"{url}/api/shows/demo-show").status_code == 200
    finally:
        second.signal(signal.SIGINT)
        assert second.wait() == 0


def port_in_use_line(port: int) -> str:
    return (
        f"livecart: port {port} on 127.0.0.1 is in use (another livecart or another "
        "program); choose another with --port or server.port"
    )


@pytest.mark.parametrize("command", ["demo", "serve"])
def test_a_taken_port_is_refused_in_one_line_before_anything_starts(
    tmp_path: Path, command: str
) -> None:
    env = {"LIVECART_AUTH_SECRET": STRONG_SECRET, "LIVECART_AUTH_ADMIN_API_KEY": STRONG_ADMIN_KEY}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = LivecartProcess([command, "--port", str(port)], cwd=tmp_path, env=env)
        code = proc.wait()
    assert code == 2
    assert proc.stderr == port_in_use_line(port) + "\n"
    assert proc.stdout == ""
    # Refused before the embedded Redis started: no server, not even a data directory.
    assert not (tmp_path / "data").exists()
    assert processes_serving(tmp_path / "data") == []


def test_a_port_taken_after_redis_started_is_refused_and_redis_stopped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another program binds the port while Redis starts (the node binds early but listens
    only once ready): the start-up unwinds, the Redis goes, and its lock with it."""
    data_dir = tmp_path / "data"
    with socket.socket() as rival:
        rival.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        rival.bind(("127.0.0.1", 0))
        port = rival.getsockname()[1]
        started: list[int] = []

        async def rival_listens(runtime: Runtime) -> None:
            started.extend(processes_serving(data_dir))
            rival.listen()

        settings = Settings().with_overrides(
            {"server": {"port": port}, "redis": {"data_dir": str(data_dir)}}
        )
        code = cli.run_node(settings, ready_hooks=(rival_listens,), announce=lambda s, url: url)
    assert code == 2
    assert len(started) == 1  # the embedded Redis was up when the port was taken
    assert port_in_use_line(port) in capsys.readouterr().err
    assert processes_serving(data_dir) == []
    # And the lock went with it: the next start is not refused.
    again = demo(tmp_path)
    try:
        again.wait_for_url()
    finally:
        again.signal(signal.SIGINT)
        assert again.wait() == 0


def test_an_app_that_fails_to_start_exits_1_and_stops_its_redis(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uvicorn exits the process when the app's start-up fails; the node unwinds instead."""

    @contextlib.asynccontextmanager
    async def failing_lifespan(app: Starlette) -> AsyncIterator[None]:
        raise RuntimeError("the app cannot start")
        yield

    data_dir = tmp_path / "data"
    redis_pids: list[int] = []

    def failing_app(settings: Settings, *, runtime: Runtime) -> Starlette:
        redis_pids.extend(processes_serving(data_dir))
        return Starlette(lifespan=failing_lifespan)

    monkeypatch.setattr(cli, "create_app", failing_app)
    settings = Settings().with_overrides(
        {"server": {"port": 0}, "redis": {"data_dir": str(data_dir)}}
    )
    assert cli.run_node(settings, ready_hooks=(), announce=lambda s, url: url) == 1
    assert len(redis_pids) == 1  # the embedded Redis was up when the app failed
    assert processes_serving(data_dir) == []


def test_two_livecarts_on_one_data_dir_the_second_is_refused_clearly(tmp_path: Path) -> None:
    first = demo(tmp_path)
    try:
        first.wait_for_url()
        second = demo(tmp_path)
        assert second.wait() == 2
        assert "is in use by another livecart" in second.stderr
    finally:
        first.signal(signal.SIGINT)
        assert first.wait() == 0


def test_serve_refuses_the_placeholder_secret(tmp_path: Path) -> None:
    proc = LivecartProcess(["serve", "--port", "0"], cwd=tmp_path)
    assert proc.wait() == 2
    assert "auth.secret is the placeholder" in proc.stderr
    assert "auth.admin_api_key is the placeholder" in proc.stderr
    assert not (tmp_path / "data").exists()


def test_serve_with_a_redis_url_starts_no_redis_of_its_own(
    tmp_path: Path, settings: object
) -> None:
    env = {
        "LIVECART_REDIS_URL": settings.redis.url,  # type: ignore[attr-defined]
        "LIVECART_AUTH_SECRET": STRONG_SECRET,
        "LIVECART_AUTH_ADMIN_API_KEY": STRONG_ADMIN_KEY,
    }
    proc = LivecartProcess(["serve", "--port", "0"], cwd=tmp_path, env=env)
    try:
        url = proc.wait_for_url()
        assert get(f"{url}/readyz").json() == {"status": "ready"}
        assert not (tmp_path / "data").exists()
    finally:
        proc.signal(signal.SIGTERM)
        assert proc.wait() == 0


def test_a_wrong_setting_stops_start_up_with_its_name(tmp_path: Path) -> None:
    proc = LivecartProcess(["demo"], cwd=tmp_path, env={"LIVECART_HUB_TICK_MS": "fast"})
    assert proc.wait() == 2
    assert "hub.tick_ms = 'fast' (from LIVECART_HUB_TICK_MS)" in proc.stderr


def test_an_unreachable_redis_url_stops_start_up_with_the_reason(tmp_path: Path) -> None:
    env = {
        "LIVECART_REDIS_URL": f"unix://{tmp_path}/nothing.sock",
        "LIVECART_REDIS_STARTUP_TIMEOUT_S": "0.5",
    }
    proc = demo(tmp_path, env=env)
    assert proc.wait() == 2
    assert "did not answer within 0.5s" in proc.stderr


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LIVECART_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "livecart", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd="/",
        timeout=30,
    )


def test_token_prints_a_token_that_verifies_with_the_configured_secret() -> None:
    result = run_cli(
        "token",
        "--role",
        "moderator",
        "--show",
        "s1",
        "--sub",
        "alice",
        "--ttl",
        "2h",
        env={"LIVECART_AUTH_SECRET": STRONG_SECRET},
    )
    assert result.returncode == 0, result.stderr
    claims = verify_token(STRONG_SECRET, result.stdout.strip())
    assert (claims.sub, claims.role, claims.show) == ("alice", Role.MODERATOR, "s1")
    assert 7100 < claims.exp - time.time() <= 7200


def test_token_with_demo_signs_with_the_placeholder_for_the_demo_node() -> None:
    result = run_cli("token", "--demo", "--role", "viewer", "--sub", "bob")
    assert result.returncode == 0, result.stderr
    assert verify_token(PLACEHOLDER_SECRET, result.stdout.strip()).sub == "bob"


def test_token_with_demo_and_a_good_secret_signs_with_that_secret() -> None:
    env = {"LIVECART_AUTH_SECRET": STRONG_SECRET}
    result = run_cli("token", "--demo", "--role", "viewer", "--sub", "bob", env=env)
    assert result.returncode == 0, result.stderr
    assert verify_token(STRONG_SECRET, result.stdout.strip()).sub == "bob"


def test_token_refuses_the_placeholder_secret_as_serve_does() -> None:
    result = run_cli("token", "--role", "viewer", "--sub", "bob")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(
        "livecart: no token signed: auth.secret is the placeholder config.toml ships: "
        "set LIVECART_AUTH_SECRET to at least 32 random bytes"
    )
    assert "add --demo" in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.parametrize("demo_flag", [[], ["--demo"]])
def test_token_refuses_a_short_secret_even_for_the_demo(demo_flag: list[str]) -> None:
    env = {"LIVECART_AUTH_SECRET": "abcde"}
    result = run_cli("token", *demo_flag, "--role", "viewer", "--sub", "bob", env=env)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "livecart: no token signed: auth.secret is 5 bytes, too short for HS256: set "
        "LIVECART_AUTH_SECRET to at least 32 random bytes (e.g. `openssl rand -hex 32`)\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "moderator", "--sub", "alice"], "a moderator token must name its show"),
        (["--role", "viewer", "--sub", "al{ice}"], "sub 'al{ice}' is not a valid id"),
        (["--role", "viewer", "--sub", "a", "--ttl", "soon"], "--ttl 'soon' is not a duration"),
        (["--role", "viewer", "--sub", "a", "--ttl", "0s"], "longer than zero"),
        (["--role", "admin", "--sub", "a", "--show", "s1"], "admin token is not scoped"),
        (["--role", "king", "--sub", "a"], "invalid choice: 'king'"),
    ],
)
def test_token_refuses_bad_arguments_clearly(args: list[str], message: str) -> None:
    result = run_cli("token", *args, env={"LIVECART_AUTH_SECRET": STRONG_SECRET})
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_parse_duration_accepts_the_usual_forms() -> None:
    assert cli.parse_duration("90") == 90
    assert cli.parse_duration("15m") == 900
    assert cli.parse_duration("2h") == 7200
    assert cli.parse_duration("1d") == 86400
    assert cli.parse_duration("1h30m") == 5400
    for bad in ("", "h", "2x", "-5", "0"):
        with pytest.raises(ValueError):
            cli.parse_duration(bad)


def test_config_prints_the_effective_settings_without_secrets() -> None:
    result = run_cli(
        "config", env={"LIVECART_HUB_TICK_MS": "33", "LIVECART_AUTH_SECRET": STRONG_SECRET}
    )
    assert result.returncode == 0
    assert "tick_ms = 33" in result.stdout
    assert STRONG_SECRET not in result.stdout and 'secret = "(set, not shown)"' in result.stdout


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pw-9f3k@db.example:6379/0", "redis://:***@db.example:6379/0"),
        ("redis://app:pw-9f3k@db.example:6379/0", "redis://app:***@db.example:6379/0"),
        ("rediss://db.example:6380/0?password=pw-9f3k", "rediss://db.example:6380/0?password=***"),
        ("unix://:pw-9f3k@/run/redis.sock?db=2", "unix://:***@/run/redis.sock?db=2"),
    ],
)
def test_config_shows_no_password_of_the_redis_url(url: str, shown: str) -> None:
    result = run_cli("config", env={"LIVECART_REDIS_URL": url})
    assert result.returncode == 0, result.stderr
    assert "pw-9f3k" not in result.stdout
    assert f'url = "{shown}"' in result.stdout


def test_config_from_a_file_shows_no_password_in_any_url(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[redis]\nurl = "redis://app:pw-9f3k@db.example:6379/0"\n'
        '[server]\npublic_url = "https://preview:pw-9f3k@shop.example/live"\n'
    )
    result = run_cli("config", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "pw-9f3k" not in result.stdout
    assert 'url = "redis://app:***@db.example:6379/0"' in result.stdout
    assert 'public_url = "https://preview:***@shop.example/live"' in result.stdout
