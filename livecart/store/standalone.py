"""``livecart redis-server``: one durable Redis that several livecart nodes share.

The embedded server (``livecart.store.embedded``) belongs to one node and listens on a
unix socket only. Past one node, every node needs the same Redis over TCP, with the
same promise: an order confirmed to a buyer survives a crash (invariant 5). This runs
the same binary with the same durability (AOF, ``appendfsync always``, no RDB
snapshots) in the foreground, on TCP, with its data in a directory of its own.

What it promises:

- It refuses, before starting anything, what would go wrong later: a data directory
  whose parent does not exist, a port out of range or in use, a password that is short
  or cannot be written in a config file, and an address beyond loopback without a
  password (unless ``--allow-unprotected`` says the network is private on purpose).
- One server per data directory, and never one beside a running livecart's embedded
  server: it takes the same ``flock`` on ``DATA_DIR/livecart.lock`` that a node takes,
  and hands it to the server process across ``exec``, so the lock lives exactly as
  long as the server (the kernel drops it when the server dies, even by SIGKILL).
- The data directory of a single node can be served as it is: stop the node, run this
  on its ``redis.data_dir``, point every node's ``redis.url`` at it.
- The password never appears in a command line (``ps``): it is written to a config
  file in the data directory, readable by its owner only.
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from livecart.errors import ConfigError
from livecart.store.access import lock_holder
from livecart.store.embedded import MAX_SOCKET_PATH

#: What makes an acknowledged write durable, as the embedded server runs it: every
#: change in the AOF, fsynced before the reply; the AOF is the durable copy, so no
#: periodic RDB snapshots (they would only add fork pauses).
DURABILITY: tuple[tuple[str, str], ...] = (
    ("appendonly", "yes"),
    ("appendfsync", "always"),
    ("save", '""'),
)

#: The lock file a node's embedded server takes (``EmbeddedRedis.lock_path``).
LOCK_FILE = "livecart.lock"
CONFIG_FILE = "livecart-redis.conf"
SOCKET_FILE = "redis.sock"
DEFAULT_PORT = 6379
DEFAULT_BIND = "127.0.0.1"
MIN_PASSWORD_CHARS = 16
#: Where the password may come from instead of ``--password-file``. Not a
#: ``LIVECART_*`` name: those are settings, and an unknown one stops every command.
PASSWORD_ENV = "REDIS_PASSWORD"


@dataclass(frozen=True)
class StandaloneServer:
    """A checked plan: everything ``exec_server`` needs, refused early if wrong."""

    binary: Path
    data_dir: Path
    port: int
    bind: tuple[str, ...]
    password: str | None
    allow_unprotected: bool

    @property
    def config_path(self) -> Path:
        return self.data_dir / CONFIG_FILE

    @property
    def lock_path(self) -> Path:
        return self.data_dir / LOCK_FILE

    @property
    def socket_path(self) -> Path | None:
        """A unix socket beside the data, as a node's embedded server has, so commands
        such as ``livecart import-catalog`` run on this machine reach it the same way.
        None when the directory's path is too long for one."""
        path = self.data_dir / SOCKET_FILE
        return path if len(str(path).encode()) <= MAX_SOCKET_PATH else None

    def describe(self) -> str:
        """One line for the operator: what runs where, and the URL nodes use."""
        auth = "password required" if self.password else "NO PASSWORD"
        host = self.bind[0]
        if host in ("0.0.0.0", "::"):
            host = "THIS-HOST"
        elif ":" in host:
            host = f"[{host}]"
        userinfo = ":PASSWORD@" if self.password else ""
        return (
            f"livecart redis-server: {self.binary} on {' '.join(self.bind)} port {self.port} "
            f"({auth}), AOF with appendfsync always in {self.data_dir}; nodes use "
            f"LIVECART_REDIS_URL=redis://{userinfo}{host}:{self.port}"
        )

    def config_text(self) -> str:
        """The server's whole configuration, one directive a line."""
        lines = [
            "# Written by `livecart redis-server` at every start; edits are overwritten.",
            f"bind {' '.join(self.bind)}",
            f"port {self.port}",
            f"dir {_quoted(str(self.data_dir))}",
            "daemonize no",
            'logfile ""',
            *(f"{name} {value}" for name, value in DURABILITY),
        ]
        if self.socket_path is not None:
            lines += [f"unixsocket {_quoted(str(self.socket_path))}", "unixsocketperm 700"]
        if self.password is not None:
            lines.append(f"requirepass {_quoted(self.password)}")
        elif self.allow_unprotected:
            # Without this, the server itself refuses every client not on loopback.
            lines.append("protected-mode no")
        return "\n".join(lines) + "\n"


def plan_server(
    *,
    binary: Path,
    data_dir: str,
    port: int,
    bind: Sequence[str],
    password_file: str | None,
    allow_unprotected: bool,
    env: Mapping[str, str],
) -> StandaloneServer:
    """Check every argument and return the plan, or raise ConfigError naming the
    argument and what is allowed. Nothing is created or started here."""
    directory = Path(data_dir).expanduser().absolute()
    if not directory.parent.is_dir():
        raise ConfigError(
            f"--data-dir {data_dir!r}: its parent directory {str(directory.parent)!r} does not "
            "exist; create it first (the data directory itself is created when missing)",
            field="--data-dir",
        )
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"--data-dir {data_dir!r} is not a directory", field="--data-dir")
    if not 1 <= port <= 65535:
        raise ConfigError(f"--port {port} is out of range: expected 1 to 65535", field="--port")
    addresses = tuple(dict.fromkeys(bind)) or (DEFAULT_BIND,)
    for address in addresses:
        _check_address(address)
    password = _read_password(password_file, env)
    exposed = [a for a in addresses if not _is_loopback(a)]
    if exposed and password is None and not allow_unprotected:
        raise ConfigError(
            f"--bind {' '.join(exposed)} reaches beyond this machine, and a Redis without a "
            "password there lets anyone who can connect read and change every order: give "
            f"--password-file FILE (or ${PASSWORD_ENV}), or --allow-unprotected if only "
            "trusted hosts can reach that address",
            field="--bind",
        )
    return StandaloneServer(
        binary=binary,
        data_dir=directory,
        port=port,
        bind=addresses,
        password=password,
        allow_unprotected=allow_unprotected,
    )


def exec_server(plan: StandaloneServer) -> None:
    """Become the server: take the data directory's lock, write the config, check the
    port, then ``exec`` the binary in the foreground. Returns only by raising."""
    try:
        plan.data_dir.mkdir(exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"--data-dir {str(plan.data_dir)!r} cannot be created: {exc.strerror}",
            field="--data-dir",
        ) from None
    lock = _take_lock(plan.lock_path)
    _check_port_free(plan)
    _write_private(plan.config_path, plan.config_text())
    # The lock's descriptor survives exec: the server holds it for as long as it runs.
    os.set_inheritable(lock.fileno(), True)
    print(plan.describe(), file=sys.stderr, flush=True)
    os.execv(plan.binary, [str(plan.binary), str(plan.config_path)])


def _take_lock(lock_path: Path) -> IO[str]:
    lock_file = lock_path.open("a+")
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_file.close()
        holder = lock_holder(lock_path) or "unknown"
        raise ConfigError(
            f"--data-dir {str(lock_path.parent)!r} is in use by a running livecart or "
            f"livecart redis-server (pid {holder}); two servers on one data directory would "
            "corrupt its AOF: stop that one first, or choose another directory",
            field="--data-dir",
        ) from None
    lock_file.seek(0)
    lock_file.truncate()
    lock_file.write(f"{os.getpid()}\n")  # exec keeps the pid: this is the server's
    lock_file.flush()
    return lock_file


def _check_port_free(plan: StandaloneServer) -> None:
    """Say which address and port are taken before the server says it less clearly."""
    for address in plan.bind:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((address, plan.port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise ConfigError(
                        f"--port {plan.port} on {address} is in use; choose another port",
                        field="--port",
                    ) from None
                raise ConfigError(
                    f"--bind {address} with --port {plan.port}: {exc.strerror}", field="--bind"
                ) from None


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (it may hold a password)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an older file may have had wider rights
    with os.fdopen(fd, "w") as f:
        f.write(text)


def _check_address(address: str) -> None:
    if address in ("*", "-::*") or address.startswith("-"):
        raise ConfigError(
            f"--bind {address!r}: give IP addresses (0.0.0.0 for every IPv4 address)",
            field="--bind",
        )
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ConfigError(
            f"--bind {address!r} is not an IP address (such as 127.0.0.1, 10.0.0.5 or ::1)",
            field="--bind",
        ) from None


def _is_loopback(address: str) -> bool:
    return ipaddress.ip_address(address).is_loopback


def _read_password(password_file: str | None, env: Mapping[str, str]) -> str | None:
    from_env = env.get(PASSWORD_ENV)
    if password_file is not None and from_env is not None:
        raise ConfigError(
            f"the password is given twice (--password-file and ${PASSWORD_ENV}); give one",
            field="--password-file",
        )
    if password_file is not None:
        where = f"--password-file {password_file!r}"
        try:
            password = Path(password_file).read_text().rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(
                f"{where} cannot be read: {exc.strerror}", field="--password-file"
            ) from None
        except UnicodeDecodeError:
            raise ConfigError(f"{where} is not text", field="--password-file") from None
    elif from_env is not None:
        where, password = f"${PASSWORD_ENV}", from_env
    else:
        return None
    if len(password) < MIN_PASSWORD_CHARS:
        raise ConfigError(
            f"the password from {where} has {len(password)} characters; use at least "
            f"{MIN_PASSWORD_CHARS} (openssl rand -hex 24 makes one)",
            field="--password-file",
        )
    if any(c.isspace() or c in "\"'\\" or not c.isprintable() for c in password):
        raise ConfigError(
            f"the password from {where} has a space, quote, backslash or control character; "
            "use letters, digits and punctuation only (openssl rand -hex 24 makes one)",
            field="--password-file",
        )
    return password


def _quoted(value: str) -> str:
    """A config-file string; paths and passwords reaching here hold no quote or newline."""
    if any(c in value for c in '"\\\n\r'):
        raise ConfigError(f"{value!r} cannot be written to a Redis config file")
    return f'"{value}"'
