"""The naive peer of the flash-sale bench: a buy endpoint as a Starlette user writes it
with redis-py's optimistic locking (WATCH/MULTI/EXEC), on uvicorn in its own process.

    python bench/naive_shop.py --redis unix:///path/redis.sock [--port 0] [--pool 64]
                               [--retries 10]

It prints ``http://127.0.0.1:PORT`` once it listens (as ``livecart serve`` does).

``POST /shows/{show}/buy`` with ``Authorization: Bearer TOKEN`` (an HS256 token signed
with bench.common.SECRET, decoded with PyJWT, its ``sub`` the buyer) and
``{"sku": ..., "quantity": 1, "idempotency_key": ...}``:

- WATCH the stock key and the buyer's idempotency key; GET the idempotency key: set,
  the tap's first order is answered again (``replayed``); GET the stock: below the
  quantity, ``409 sold_out`` (nothing written, so a retried key that found no stock
  says ``sold_out`` again). Otherwise MULTI: DECRBY the stock, HSET the order hash, SET
  the idempotency key to the order id (check-then-set, under the WATCH): EXEC.
- A WatchError (another buy changed the stock first) retries from the WATCH, at once,
  up to ``--retries`` times; then ``409 {"result": "conflict"}``, the answer a user of
  the pattern gives ("busy, tap again"). A Redis error is ``500``.
- No payment step: livecart authorises with its test provider between its two scripts;
  this peer only writes, which favours it.

Keys (one show): ``naive:{SHOW}:stock`` (units left), ``naive:{SHOW}:order:ID`` (hash:
buyer, sku, quantity, created_ms), ``naive:{SHOW}:idem:BUYER:KEY`` (order id, 24 h).
The pool is a ``BlockingConnectionPool`` of ``--pool`` connections (livecart's default
``redis.max_connections`` is 64): a buy waits for a free connection rather than
opening thousands.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import socket
import sys
import time
from pathlib import Path

import jwt
import orjson
import uvicorn
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError, WatchError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import SECRET

IDEMPOTENCY_TTL_S = 86_400


def stock_key(show: str) -> str:
    return f"naive:{{{show}}}:stock"


def order_key(show: str, order_id: str) -> str:
    return f"naive:{{{show}}}:order:{order_id}"


def idempotency_key(show: str, buyer: str, key: str) -> str:
    return f"naive:{{{show}}}:idem:{buyer}:{key}"


def answer(status: int, body: dict[str, object]) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def create_app(redis: Redis, retries: int) -> Starlette:
    async def buy(request: Request) -> Response:
        show = request.path_params["show"]
        try:
            claims = jwt.decode(
                request.headers.get("authorization", "").removeprefix("Bearer "),
                SECRET,
                algorithms=["HS256"],
            )
        except jwt.InvalidTokenError:
            return answer(401, {"error": "token_invalid"})
        buyer = str(claims["sub"])
        body = orjson.loads(await request.body())
        sku, key = str(body["sku"]), str(body["idempotency_key"])
        quantity = int(body.get("quantity", 1))
        stock, idem = stock_key(show), idempotency_key(show, buyer, key)
        try:
            async with redis.pipeline(transaction=True) as pipe:
                for _ in range(retries + 1):
                    try:
                        await pipe.watch(stock, idem)
                        earlier = await pipe.get(idem)
                        if earlier is not None:
                            await pipe.reset()  # type: ignore[no-untyped-call]
                            order_id = earlier.decode() if isinstance(earlier, bytes) else earlier
                            order = {"id": order_id, "buyer": buyer, "sku": sku}
                            return answer(
                                201, {"result": "confirmed", "replayed": True, "order": order}
                            )
                        left = int(await pipe.get(stock) or 0)
                        if left < quantity:
                            await pipe.reset()  # type: ignore[no-untyped-call]
                            return answer(409, {"result": "sold_out", "replayed": False})
                        order_id = f"o_{secrets.token_hex(10)}"
                        pipe.multi()  # type: ignore[no-untyped-call]
                        pipe.decrby(stock, quantity)
                        pipe.hset(
                            order_key(show, order_id),
                            mapping={
                                "buyer": buyer,
                                "sku": sku,
                                "quantity": quantity,
                                "created_ms": int(time.time() * 1000),
                            },
                        )
                        pipe.set(idem, order_id, ex=IDEMPOTENCY_TTL_S)
                        await pipe.execute()
                        order = {"id": order_id, "buyer": buyer, "sku": sku}
                        return answer(
                            201, {"result": "confirmed", "replayed": False, "order": order}
                        )
                    except WatchError:
                        continue
        except RedisError as exc:
            return answer(500, {"error": "store_unavailable", "message": str(exc)[:200]})
        return answer(409, {"result": "conflict", "replayed": False})

    return Starlette(routes=[Route("/shows/{show}/buy", buy, methods=["POST"])])


async def serve(redis_url: str, port: int, pool_size: int, retries: int) -> None:
    pool = BlockingConnectionPool.from_url(redis_url, max_connections=pool_size, timeout=20)
    redis = Redis(connection_pool=pool)
    config = uvicorn.Config(
        create_app(redis, retries),
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(config.backlog)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve([sock]))
    while not server.started and not serving.done():  # noqa: ASYNC110 (uvicorn has no event)
        await asyncio.sleep(0.01)
    print(f"http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    await serving
    await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis", required=True, help="redis:// or unix:// URL")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--pool", type=int, default=64, help="Redis connections at most")
    parser.add_argument("--retries", type=int, default=10, help="WatchError retries per buy")
    args = parser.parse_args()
    import uvloop

    uvloop.run(serve(args.redis, args.port, args.pool, args.retries))


if __name__ == "__main__":
    main()
