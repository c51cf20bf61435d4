"""``livecart`` as a user runs it: a real process, real signals, its own Redis."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from livecart.auth.tokens import Role, verify_token
from livecart.cli import parse_duration
from livecart.config import PLACEHOLDER_SECRET
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
        assert show["state"] == "scheduled" and len(show["lineup"]) == 8
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


def test_a_start_up_that_fails_after_redis_started_leaves_no_server(tmp_path: Path) -> None:
    """The port is taken, so uvicorn cannot bind after the embedded Redis is up."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = LivecartProcess(["demo", "--port", str(port)], cwd=tmp_path)
        code = proc.wait()
    assert code != 0
    assert processes_serving(tmp_path / "data") == []
    # And the lock went with it: the next start is not refused.
    again = demo(tmp_path)
    try:
        again.wait_for_url()
    finally:
        again.signal(signal.SIGINT)
        assert again.wait() == 0


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


def test_token_uses_the_placeholder_secret_when_none_is_set() -> None:
    result = run_cli("token", "--role", "viewer", "--sub", "bob")
    assert verify_token(PLACEHOLDER_SECRET, result.stdout.strip()).sub == "bob"


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
    result = run_cli("token", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_parse_duration_accepts_the_usual_forms() -> None:
    assert parse_duration("90") == 90
    assert parse_duration("15m") == 900
    assert parse_duration("2h") == 7200
    assert parse_duration("1d") == 86400
    assert parse_duration("1h30m") == 5400
    for bad in ("", "h", "2x", "-5", "0"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_config_prints_the_effective_settings_without_secrets() -> None:
    result = run_cli(
        "config", env={"LIVECART_HUB_TICK_MS": "33", "LIVECART_AUTH_SECRET": STRONG_SECRET}
    )
    assert result.returncode == 0
    assert "tick_ms = 33" in result.stdout
    assert STRONG_SECRET not in result.stdout and 'secret = "(set, not shown)"' in result.stdout
