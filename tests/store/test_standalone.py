"""``livecart redis-server``: a real process on a free port, written to through redis-py,
killed with SIGKILL and started again on the same data directory."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.exceptions import AuthenticationError, ResponseError

from livecart.config import Settings
from livecart.errors import EmbeddedRedisError
from livecart.store.access import open_store
from livecart.store.embedded import EmbeddedRedis, bundled_server_binary
from livecart.store.standalone import CONFIG_FILE, LOCK_FILE
from tests.helpers import LivecartProcess

PASSWORD = "a-long-test-password-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServerCommand:
    """``livecart redis-server ARGS`` as a process, and a client on it once it answers."""

    def __init__(self, cwd: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = LivecartProcess(["redis-server", *args], cwd=cwd, env=env)

    def client(self, port: int, password: str | None = None, timeout: float = 15.0) -> redis.Redis:
        client = redis.Redis(port=port, password=password, decode_responses=True)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                return client
            except redis.ConnectionError:
                if self.process.proc.poll() is not None:
                    raise AssertionError(
                        f"exited with {self.process.proc.returncode}:\n{self.process.stderr}"
                        f"\n{self.process.stdout}"
                    ) from None
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def refused(self) -> str:
        """The one line a refusal prints; asserts the command exited 2."""
        assert self.process.wait(20) == 2, self.process.stderr
        return self.process.stderr


@pytest.fixture
def started() -> Iterator[list[RedisServerCommand]]:
    """Commands a test starts; each is killed at the end."""
    commands: list[RedisServerCommand] = []
    yield commands
    for command in commands:
        command.process.kill()


def test_acknowledged_writes_survive_a_kill_9_and_a_restart(
    tmp_path: Path, started: list[RedisServerCommand]
) -> None:
    port, data = free_port(), tmp_path / "shared"
    first = RedisServerCommand(tmp_path, "--data-dir", str(data), "--port", str(port))
    started.append(first)
    client = first.client(port)
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    assert client.config_get("appendfsync") == {"appendfsync": "always"}
    assert client.config_get("save") == {"save": ""}
    pipe = client.pipeline(transaction=False)
    for i in range(2000):
        pipe.hset(f"order:{i}", mapping={"state": "confirmed", "n": i})
    assert all(pipe.execute())  # every write acknowledged
    client.close()

    first.process.proc.send_signal(signal.SIGKILL)  # the server itself: exec kept the pid
    first.process.wait()
    second = RedisServerCommand(tmp_path, "--data-dir", str(data), "--port", str(port))
    started.append(second)
    client = second.client(port)
    try:
        assert client.dbsize() == 2000
        assert client.hgetall("order:1999") == {"state": "confirmed", "n": "1999"}
    finally:
        client.close()
    second.process.signal(signal.SIGTERM)
    assert second.process.wait(20) == 0


def test_a_password_is_required_and_never_on_the_command_line(
    tmp_path: Path, started: list[RedisServerCommand]
) -> None:
    port = free_port()
    password_file = tmp_path / "redis-password"
    password_file.write_text(PASSWORD + "\n")
    data = tmp_path / "d"
    command = RedisServerCommand(
        tmp_path,
        "--data-dir",
        str(data),
        "--port",
        str(port),
        "--password-file",
        str(password_file),
    )
    started.append(command)
    client = command.client(port, password=PASSWORD)
    assert client.set("k", "v")
    client.close()
    with pytest.raises((AuthenticationError, ResponseError)):
        redis.Redis(port=port).get("k")
    cmdline = Path(f"/proc/{command.process.proc.pid}/cmdline").read_bytes()
    assert PASSWORD.encode() not in cmdline
    assert (data / CONFIG_FILE).stat().st_mode & 0o777 == 0o600
    assert (
        f"(password required), AOF with appendfsync always in {data}; nodes use "
        f"LIVECART_REDIS_URL=redis://:PASSWORD@127.0.0.1:{port}"
    ) in command.process.stderr


def test_the_password_can_come_from_the_environment(
    tmp_path: Path, started: list[RedisServerCommand]
) -> None:
    port = free_port()
    command = RedisServerCommand(
        tmp_path,
        *("--data-dir", str(tmp_path / "d"), "--port", str(port)),
        env={"REDIS_PASSWORD": PASSWORD},
    )
    started.append(command)
    assert command.client(port, password=PASSWORD).ping()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--data-dir", "/no/such/parent/data"],
            "--data-dir '/no/such/parent/data': its parent directory '/no/such/parent' does not "
            "exist",
        ),
        (["--data-dir", "d", "--port", "0"], "--port 0 is out of range: expected 1 to 65535"),
        (["--data-dir", "d", "--port", "65536"], "--port 65536 is out of range"),
        (["--data-dir", "d", "--bind", "localhost"], "--bind 'localhost' is not an IP address"),
        (
            ["--data-dir", "d", "--bind", "0.0.0.0"],
            "--bind 0.0.0.0 reaches beyond this machine, and a Redis without a password",
        ),
        (
            ["--data-dir", "d", "--password-file", "missing"],
            "--password-file 'missing' cannot be read: No such file or directory",
        ),
    ],
)
def test_bad_arguments_are_refused_by_name_and_start_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    command = RedisServerCommand(tmp_path, *args)
    stderr = command.refused()
    assert stderr.startswith("livecart: "), stderr
    assert message in stderr, stderr
    assert not (tmp_path / "d").exists()


def test_a_short_password_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("short\n")
    stderr = RedisServerCommand(
        tmp_path, "--data-dir", "d", "--password-file", "pw", "--bind", "0.0.0.0"
    ).refused()
    assert "the password from --password-file 'pw' has 5 characters; use at least 16" in stderr


def test_a_port_in_use_is_refused_by_name(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        stderr = RedisServerCommand(tmp_path, "--data-dir", "d", "--port", str(port)).refused()
    assert f"--port {port} on 127.0.0.1 is in use" in stderr


async def test_a_data_dir_held_by_a_running_livecart_is_refused(data_dir: Path) -> None:
    node = EmbeddedRedis(data_dir, binary=bundled_server_binary())
    await node.start()  # the lock names the livecart holding it: this test process
    try:
        stderr = RedisServerCommand(
            data_dir.parent, "--data-dir", str(data_dir), "--port", str(free_port())
        ).refused()
    finally:
        await node.stop()
    assert (
        f"--data-dir {str(data_dir)!r} is in use by a running livecart or livecart "
        f"redis-server (pid {os.getpid()})"
    ) in stderr, stderr


async def test_a_node_is_refused_the_data_dir_the_standalone_server_holds(
    data_dir: Path, started: list[RedisServerCommand]
) -> None:
    port = free_port()
    command = RedisServerCommand(data_dir.parent, "--data-dir", str(data_dir), "--port", str(port))
    started.append(command)
    client = command.client(port)
    node = EmbeddedRedis(data_dir, binary=bundled_server_binary())
    assert node.lock_path.name == LOCK_FILE
    pid = command.process.proc.pid
    with pytest.raises(EmbeddedRedisError, match=rf"in use by another livecart \(pid {pid}\)"):
        await node.start()
    assert client.ping()  # the server it was refused beside still serves
    client.close()


async def test_local_commands_reach_it_on_its_socket_as_they_reach_a_nodes(
    data_dir: Path, started: list[RedisServerCommand]
) -> None:
    port = free_port()
    command = RedisServerCommand(data_dir.parent, "--data-dir", str(data_dir), "--port", str(port))
    started.append(command)
    client = command.client(port)
    client.set("written-over-tcp", "1")
    embedded = Settings().with_overrides({"redis": {"url": "", "data_dir": str(data_dir)}})
    async with open_store(embedded) as store:
        assert f"(pid {command.process.proc.pid})" in store.source
        assert await store.redis.get("written-over-tcp") == "1"
    client.close()
