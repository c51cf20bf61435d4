"""What a tap's reserve costs the node in redis-py: one EVALSHA sent alone, in a
pipeline of 32, and through livecart's ScriptCoalescer; and packing a command with
redis-py's Python packer against hiredis' (livecart's connections).

    python bench/client_bench.py [--calls 20000] [--rounds 2]

CPU is this process's own (``time.process_time``): the client's side only, Redis runs
in its own process. The script is small (a GET, a SET with a TTL) and the call has a
buy's shape: 3 keys and 10 arguments. Writes bench/results/client.md and client.json.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import timeit
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import command_line, markdown_table, start_redis, write_results

SCRIPT = """
local earlier = redis.call('GET', KEYS[1])
if earlier then return {'replay', earlier} end
redis.call('SET', KEYS[1], ARGV[1], 'EX', 60)
return {'refused', 'sold_out', ARGV[2]}
"""
IN_FLIGHT = 32  # concurrent callers, as the taps gate lets in


def call_args(i: int) -> tuple[list[str], list[Any]]:
    keys = [f"{{s:b}}:idem:{i}", "{s:b}:stock", "{s:b}:holds"]
    return keys, [f"fp{i}", "p-plain", 1, -1, 120, 86400, 10000, "", 3600000, "o_1"]


async def timed(calls: int, run: Callable[[], Awaitable[None]]) -> dict[str, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    await run()
    return {
        "cpu_us": (time.process_time() - cpu) / calls * 1e6,
        "wall_us": (time.perf_counter() - wall) / calls * 1e6,
    }


async def reserve_rows(url: str, calls: int) -> list[dict[str, Any]]:
    from livecart.config import Settings
    from livecart.store.batch import ScriptCoalescer
    from livecart.store.client import close_client, make_client

    client = make_client(url, Settings().redis)
    script = client.register_script(SCRIPT)
    await script(keys=["warm"], args=["x", "y"])
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def alone() -> None:
        async def one(i: int) -> None:
            async with gate:
                keys, args = call_args(i)
                await script(keys=keys, args=args)

        await asyncio.gather(*(one(i) for i in range(calls)))

    async def pipelined() -> None:
        async def batch(start: int) -> None:
            async with client.pipeline(transaction=False) as pipe:
                for i in range(start, min(start + IN_FLIGHT, calls)):
                    keys, args = call_args(i)
                    pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
                await pipe.execute()

        await asyncio.gather(*(batch(s) for s in range(0, calls, IN_FLIGHT)))

    async def coalesced() -> None:
        coalescer = ScriptCoalescer(client)

        async def one(i: int) -> None:
            async with gate:
                keys, args = call_args(i)
                await coalescer.call(script, keys, args)

        await asyncio.gather(*(one(i) for i in range(calls)))

    rows = []
    try:
        for name, run in (
            ("EVALSHA alone", alone),
            (f"EVALSHA in pipelines of {IN_FLIGHT}", pipelined),
            ("ScriptCoalescer", coalesced),
        ):
            await client.flushall()
            rows.append({"what": name, "calls": calls, **await timed(calls, run)})
    finally:
        await close_client(client)
    return rows


def packing_rows(count: int) -> list[dict[str, Any]]:
    from redis.asyncio.connection import Connection

    from livecart.store.client import livecart_connection

    keys, args = call_args(1)
    command = ("EVALSHA", "a" * 40, len(keys), *keys, *args)
    rows = []
    for name, connection in (
        ("redis-py's packer", Connection()),
        ("hiredis (livecart's connections)", livecart_connection(Connection)()),
    ):
        seconds = timeit.timeit(lambda c=connection: c.pack_command(*command), number=count)
        per_call = seconds / count * 1e6
        what = f"pack a reserve's EVALSHA: {name}"
        rows.append({"what": what, "calls": count, "cpu_us": per_call, "wall_us": per_call})
    return rows


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="lcclient") as work:
        redis = await start_redis(Path(work), appendfsync="always")
        try:
            rows: list[dict[str, Any]] = []
            for round_no in range(1, args.rounds + 1):
                for row in await reserve_rows(redis.url, args.calls) + packing_rows(args.calls):
                    rows.append({"round": round_no, **row})
        finally:
            await redis.stop()
    table = markdown_table(
        [("round", "round"), ("what", "what"), ("calls", "calls"),
         ("client CPU us a call", "cpu_us"), ("wall us a call", "wall_us")],
        rows,
    )  # fmt: skip
    write_results(
        "client",
        title="redis-py's cost of a tap's reserve, alone and together",
        command=command_line(),
        table=table,
        rows=rows,
        notes=[
            f"{IN_FLIGHT} callers at a time; the bundled valkey-server with appendfsync "
            "always in its own process; client CPU from this process alone.",
        ],
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=2)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
