"""The ``livecart`` command: serve, demo, token, config.

The CLI runs the node itself (``running``) around uvicorn, with its own signal handling:
SIGINT or SIGTERM stop the HTTP server gracefully first, then the runtime in reverse
order (the embedded Redis last, after its final fsync), and the process exits 0. A
second signal during the drain forces the HTTP server to close at once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
import signal
import sys
from collections.abc import Callable, Iterator, Sequence

import uvicorn
from redis.exceptions import RedisError

from livecart import __version__
from livecart.app import create_app
from livecart.auth.tokens import Role, issue_token
from livecart.commerce.catalog_import import (
    MAX_IMPORT_BYTES,
    ImportFormat,
    format_for_path,
    import_rows,
    read_rows,
    render_report,
)
from livecart.config import Settings, load_settings, production_problems, render_toml
from livecart.demo import banner, seed_demo
from livecart.errors import LivecartError
from livecart.listener import uvicorn_protocols
from livecart.runtime import ReadyHook, running
from livecart.store.access import open_store

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
    return parser


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    problems = production_problems(settings)
    if problems:
        print("livecart: refusing to serve with unsafe settings:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        print("(`livecart demo` runs with the placeholders on purpose.)", file=sys.stderr)
        return 2
    return run_node(settings, ready_hooks=(), announce=_announce_serve)


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


# --- running a node -----------------------------------------------------------------


def run_node(
    settings: Settings,
    *,
    ready_hooks: Sequence[ReadyHook],
    announce: Callable[[Settings, str], str],
) -> int:
    _configure_logging(settings.server.log_level)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(_serve_until_signal(settings, ready_hooks, announce))


async def _serve_until_signal(
    settings: Settings, ready_hooks: Sequence[ReadyHook], announce: Callable[[Settings, str], str]
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
            async with running(settings, ready_hooks) as runtime:
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
                server = _QuietSignalsServer(config)
                serving = asyncio.create_task(server.serve())
                # uvicorn offers no event for "listening"; poll its flag briefly.
                while not server.started and not serving.done():  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
                if server.started:
                    sys.stdout.write(announce(settings, _bound_url(settings, server)))
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


def _bound_url(settings: Settings, server: uvicorn.Server) -> str:
    """The base URL, with the port the OS chose when server.port is 0."""
    if settings.server.port == 0 and not settings.server.public_url and server.servers:
        port = server.servers[0].sockets[0].getsockname()[1]
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
