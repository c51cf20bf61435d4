"""The ``livecart`` command: serve, demo, token, config, import-catalog, redis-server.

The CLI runs the node itself (``running``) around uvicorn, with its own signal handling:
SIGINT or SIGTERM stop the HTTP server gracefully first, then the runtime in reverse
order (the embedded Redis last, after its final fsync), and the process exits 0. A
second signal during the drain forces the HTTP server to close at once.

Exit codes (README, "Exit codes"): 0 done or stopped cleanly; 1 an unforeseen failure
(the HTTP server did not start, see the log; or a traceback); 2 refused, with one line
saying why and nothing left running (bad arguments or settings, an unsafe secret, the
port or data directory in use, Redis unreachable); 130 a signal during start-up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import os
import re
import signal
import socket
import sys
from collections.abc import Callable, Iterator, Sequence

import uvicorn
from redis.exceptions import RedisError

from livecart import __version__, collector
from livecart.app import NODE_WORKERS, create_app
from livecart.auth.tokens import Role, issue_token
from livecart.commerce.catalog.imports import (
    MAX_IMPORT_BYTES,
    ImportFormat,
    format_for_path,
    import_rows,
    read_rows,
    render_report,
)
from livecart.config import (
    PLACEHOLDER_SECRET,
    Settings,
    load_settings,
    production_problems,
    render_toml,
    secret_problem,
)
from livecart.demo import banner, seed_demo
from livecart.errors import LivecartError
from livecart.listener import uvicorn_protocols
from livecart.runtime import ReadyHook, Runtime, running
from livecart.store.access import open_store
from livecart.store.embedded import resolve_server_binary
from livecart.store.standalone import DEFAULT_BIND as DEFAULT_REDIS_BIND
from livecart.store.standalone import DEFAULT_PORT as DEFAULT_REDIS_PORT
from livecart.store.standalone import PASSWORD_ENV as REDIS_PASSWORD_ENV
from livecart.store.standalone import exec_server, plan_server

log = logging.getLogger("livecart")

DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def parse_duration(text: str) -> int:
    """``90``, ``90s``, ``15m``, ``2h``, ``1d``, ``1h30m`` -> seconds (positive)."""
    text = text.strip()
    if text.isdigit():
        seconds = int(text)
    else:
        match = DURATION.fullmatch(text)
        if match is None or not text:
            raise ValueError(f"{text!r} is not a duration such as 90s, 15m, 2h, 1d or 1h30m")
        d, h, m, s = (int(g or 0) for g in match.groups())
        seconds = d * 86400 + h * 3600 + m * 60 + s
    if seconds <= 0:
        raise ValueError("a duration must be longer than zero")
    return seconds


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
        overrides: dict[str, dict[str, object]] = {}
        if getattr(args, "host", None) is not None:
            overrides.setdefault("server", {})["host"] = args.host
        if getattr(args, "port", None) is not None:
            overrides.setdefault("server", {})["port"] = args.port
        if overrides:
            settings = settings.with_overrides(overrides)
        result: int = args.run(args, settings)
        return result
    except LivecartError as exc:
        print(f"livecart: {exc.message}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="livecart", description="Real-time live-shopping server.")
    parser.add_argument("--version", action="version", version=f"livecart {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, run: Callable[[argparse.Namespace, Settings], int], help: str
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.add_argument("--config", metavar="PATH", help="config file (default ./config.toml)")
        sub.set_defaults(run=run)
        return sub

    for name, run, help in (
        ("serve", _serve, "Run a livecart node."),
        ("demo", _demo, "Run a node with a demo brand, creator, catalog and show."),
    ):
        sub = command(name, run, help)
        sub.add_argument("--host", help="override server.host")
        sub.add_argument("--port", type=int, help="override server.port (0: any free port)")

    token = command("token", _token, "Print a signed token.")
    token.add_argument("--role", required=True, choices=[str(r) for r in Role])
    token.add_argument("--sub", required=True, help="the user id the token speaks for")
    token.add_argument("--show", help="the show a streamer or moderator token is for")
    token.add_argument("--ttl", help="lifetime such as 30m, 2h, 7d (default auth.token_ttl_s)")
    token.add_argument(
        "--demo",
        action="store_true",
        help="allow the placeholder secret: a token for `livecart demo`'s node",
    )

    config = command("config", _config, "Print the effective settings as TOML.")
    config.add_argument("--defaults", action="store_true", help="print the defaults instead")

    catalog_import = command(
        "import-catalog",
        _import_catalog,
        "Import products from a JSON or CSV file: valid rows are created or replaced, the "
        "others reported. Exits 0 when the file was read (even with rejected rows), 2 when "
        "it cannot be read or the store cannot be reached.",
    )
    catalog_import.add_argument("file", metavar="FILE", help="a .json or .csv file")
    catalog_import.add_argument(
        "--format", choices=["json", "csv"], help="the file's format (default: from its extension)"
    )

    redis_server = command(
        "redis-server",
        _redis_server,
        "Run a durable Redis (the bundled valkey-server, or redis.server_binary) in the "
        "foreground on TCP, for several livecart nodes to share: AOF with fsync before "
        "every reply, data in --data-dir. An address beyond loopback needs a password.",
    )
    redis_server.add_argument(
        "--data-dir", required=True, metavar="DIR", help="where the AOF lives (created if missing)"
    )
    redis_server.add_argument(
        "--port",
        dest="redis_port",
        type=int,
        default=DEFAULT_REDIS_PORT,
        metavar="PORT",
        help=f"TCP port (default {DEFAULT_REDIS_PORT})",
    )
    redis_server.add_argument(
        "--bind",
        action="append",
        default=[],
        metavar="ADDR",
        help=f"IP address to listen on; repeat for several (default {DEFAULT_REDIS_BIND})",
    )
    redis_server.add_argument(
        "--password-file",
        metavar="FILE",
        help=f"file holding the password clients must give (or ${REDIS_PASSWORD_ENV})",
    )
    redis_server.add_argument(
        "--allow-unprotected",
        action="store_true",
        help="listen beyond loopback without a password (only on a network no one else reaches)",
    )
    return parser


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    problems = production_problems(settings)
    if problems:
        print("livecart: refusing to serve with unsafe settings:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        print("(`livecart demo` runs with the placeholders on purpose.)", file=sys.stderr)
        return 2
    return run_node(settings, ready_hooks=(_warn_if_builtin_payments,), announce=_announce_serve)


async def _warn_if_builtin_payments(runtime: Runtime) -> None:
    """``builtin`` is the default, so a node can go live without anyone deciding how
    buyers pay: say so at every start, where an operator reads the log."""
    if runtime.settings.checkout.payment_provider == "builtin":
        log.warning(
            "checkout.payment_provider is 'builtin': EVERY PAYMENT IS APPROVED without "
            "charging anyone (the merchant collects later). Set it to 'stripe' to charge "
            "buyers' cards (docs/payments.md)"
        )


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    return run_node(settings, ready_hooks=(seed_demo,), announce=_announce_demo)


def _announce_serve(settings: Settings, base_url: str) -> str:
    return f"livecart {__version__} serving at {base_url} (ready: {base_url}/readyz)\n"


def _announce_demo(settings: Settings, base_url: str) -> str:
    data_dir = settings.redis.data_dir if settings.embedded_redis else None
    return banner(base_url, settings.auth.secret, settings.auth.admin_api_key, data_dir)


def _token(args: argparse.Namespace, settings: Settings) -> int:
    try:
        ttl_s = parse_duration(args.ttl) if args.ttl else settings.auth.token_ttl_s
    except ValueError as exc:
        print(f"livecart: --ttl {exc}", file=sys.stderr)
        return 2
    # A token signed with a secret `serve` refuses is accepted by no real node: refuse it
    # as `serve` does, but for the demo's node, which runs on the placeholder on purpose.
    placeholder = settings.auth.secret == PLACEHOLDER_SECRET
    problem = secret_problem(settings.auth.secret)
    if problem and not (args.demo and placeholder):
        hint = ", or add --demo for a token for `livecart demo`'s node" if placeholder else ""
        print(f"livecart: no token signed: {problem}{hint}", file=sys.stderr)
        return 2
    print(
        issue_token(settings.auth.secret, sub=args.sub, role=args.role, show=args.show, ttl_s=ttl_s)
    )
    return 0


def _config(args: argparse.Namespace, settings: Settings) -> int:
    print(render_toml(None if args.defaults else settings, redact=True), end="")
    return 0


def _import_catalog(args: argparse.Namespace, settings: Settings) -> int:
    try:
        fmt = ImportFormat(args.format) if args.format else format_for_path(args.file)
        with open(args.file, "rb") as f:
            data = f.read(MAX_IMPORT_BYTES + 1)
        rows = read_rows(data, fmt)
    except OSError as exc:
        print(f"livecart: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    except LivecartError as exc:
        print(f"livecart: cannot import {args.file}: {exc.message}", file=sys.stderr)
        return 2

    async def run() -> str:
        async with open_store(settings) as store:
            report = await import_rows(store.redis, rows)
            return f"{render_report(report, args.file)}(written to {store.source})\n"

    try:
        print(asyncio.run(run()), end="")
    except RedisError as exc:
        print(
            f"livecart: Redis failed during the import of {args.file}: {exc}. Rows written "
            "before it failed stay; importing the same file again is safe.",
            file=sys.stderr,
        )
        return 2
    return 0


def _redis_server(args: argparse.Namespace, settings: Settings) -> int:
    """Checks everything, then becomes the server (exec): its exit is the command's."""
    plan = plan_server(
        binary=resolve_server_binary(settings.redis.server_binary),
        data_dir=args.data_dir,
        port=args.redis_port,
        bind=args.bind,
        password_file=args.password_file,
        allow_unprotected=args.allow_unprotected,
        env=os.environ,
    )
    exec_server(plan)
    return 1  # not reached: exec_server replaces this process or raises


# --- running a node -----------------------------------------------------------------


def run_node(
    settings: Settings,
    *,
    ready_hooks: Sequence[ReadyHook],
    announce: Callable[[Settings, str], str],
) -> int:
    _configure_logging(settings.server.log_level)
    host, port = settings.server.host, settings.server.port
    try:
        sockets = _bind_listeners(host, port)
    except OSError as exc:
        print(f"livecart: {_listen_problem(exc, host, port)}", file=sys.stderr)
        return 2
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            return runner.run(_serve_until_signal(settings, sockets, ready_hooks, announce))
    finally:
        for sock in sockets:
            sock.close()


async def _serve_until_signal(
    settings: Settings,
    sockets: list[socket.socket],
    ready_hooks: Sequence[ReadyHook],
    announce: Callable[[Settings, str], str],
) -> int:
    main_task = asyncio.current_task()
    assert main_task is not None
    server: uvicorn.Server | None = None
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if server is None:
            main_task.cancel()  # still starting: unwind what has started
        elif signals == 1:
            log.info("stopping: draining connections (signal again to force)")
            server.should_exit = True
        else:
            server.force_exit = True

    loop = asyncio.get_running_loop()
    with _signal_handlers(loop, on_signal):
        try:
            async with running(settings, ready_hooks, NODE_WORKERS) as runtime:
                app = create_app(settings, runtime=runtime)
                config = uvicorn.Config(
                    app,
                    host=settings.server.host,
                    port=settings.server.port,
                    **uvicorn_protocols(),  # httptools + the hub for every upgrade
                    lifespan="on",
                    log_config=None,
                    access_log=settings.server.log_level == "debug",
                    timeout_graceful_shutdown=int(settings.server.shutdown_timeout_s),
                )
                try:
                    for sock in sockets:
                        sock.listen(config.backlog)
                except OSError as exc:  # taken while the runtime started; it unwinds now
                    host, port = settings.server.host, settings.server.port
                    print(f"livecart: {_listen_problem(exc, host, port)}", file=sys.stderr)
                    return 2
                server = _QuietSignalsServer(config)
                serving = asyncio.create_task(server.serve(sockets))
                # uvicorn offers no event for "listening"; poll its flag briefly.
                while not server.started and not serving.done():  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
                if server.started:
                    collector.settle_after_start()
                    sys.stdout.write(announce(settings, _bound_url(settings, sockets)))
                    sys.stdout.flush()
                await serving
                if not server.started:
                    log.error("the HTTP server did not start (see above)")
                    return 1
        except asyncio.CancelledError:
            log.info("start-up interrupted; stopped cleanly")
            return 130
        except LivecartError as exc:
            log.error("cannot start: %s", exc.message)
            return 2
    log.info("stopped")
    return 0


class _QuietSignalsServer(uvicorn.Server):
    """uvicorn without its own signal capture: livecart owns SIGINT and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's start-up, but a failure returns instead of exiting the process.

        uvicorn logs why and calls ``sys.exit(3)``; raised in a task, that escapes the
        event loop with a traceback before the runtime (the embedded Redis) unwinds. Here
        ``serve`` just returns unstarted, and the caller stops the rest in order.
        """
        try:
            await super().startup(sockets)
        except SystemExit:
            self.should_exit = True


def _bind_listeners(host: str, port: int) -> list[socket.socket]:
    """Sockets bound to host and port (every address the host resolves to), unlistened.

    Bound before anything starts, so a taken port is refused before the embedded Redis
    starts; listened on only once the node is ready, so a client that comes meanwhile is
    refused at once rather than left waiting. Options as asyncio's ``create_server``.
    """
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _listen_problem(exc: OSError, host: str, port: int) -> str:
    """One line: why the node cannot listen at host and port, and what to change."""
    where = f"port {port} on {host or 'every address'}"
    change_port = "choose another with --port or server.port"
    if isinstance(exc, socket.gaierror):
        return (
            f"cannot listen on {host!r}: {exc.strerror}; "
            "set --host or server.host to an address of this machine"
        )
    if exc.errno == errno.EADDRINUSE:
        return f"{where} is in use (another livecart or another program); {change_port}"
    if exc.errno == errno.EACCES:
        return f"{where} needs privileges this process lacks (ports below 1024 do); {change_port}"
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"cannot listen on {host}: it is not an address of this machine; "
            "set --host or server.host to one of its addresses"
        )
    return f"cannot listen on {where}: {exc.strerror}"


@contextlib.contextmanager
def _signal_handlers(
    loop: asyncio.AbstractEventLoop, handler: Callable[[], None]
) -> Iterator[None]:
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, handler)
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _bound_url(settings: Settings, sockets: Sequence[socket.socket]) -> str:
    """The base URL, with the port the OS chose when server.port is 0."""
    if settings.server.port == 0 and not settings.server.public_url and sockets:
        port = sockets[0].getsockname()[1]
        settings = settings.with_overrides({"server": {"port": port}})
    return settings.base_url


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # aioice logs every ICE check at INFO: several lines per viewer that joins. Kept for
    # debug; livecart.media says what matters (an ingest started or ended, and why).
    if level != "debug":
        for name in ("aioice", "aiortc"):
            logging.getLogger(name).setLevel(logging.WARNING)
