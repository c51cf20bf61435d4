"""Liveness, readiness and metrics: what an orchestrator and a scraper ask a node."""

from __future__ import annotations

import asyncio

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from livecart.api.edge import json_response, runtime_of
from livecart.api.endpoint import endpoint
from livecart.metrics import CONTENT_TYPE
from livecart.store.readiness import store_problem
from livecart.store.turns import urgent_turns

READY_PING_TIMEOUT_S = 2.0


async def healthz(request: Request) -> Response:
    """The process is up and serving HTTP; says nothing about Redis, on purpose."""
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    """200 when Redis can take orders now, 503 with the reason when it cannot (see
    ``store.readiness``: on a Cluster every shard is probed). What keeps the
    large-audience video paths (Janus, HLS) from working is listed under ``video``
    without making the node unready: the shop and the node's own WHEP still work."""
    runtime = runtime_of(request)
    timeout = min(READY_PING_TIMEOUT_S, runtime.settings.redis.socket_timeout_s)
    try:
        # Urgent: a load balancer must not see a node in a busy sale as down.
        with urgent_turns():
            async with asyncio.timeout(timeout):
                problem = await store_problem(runtime.redis, runtime.settings.redis)
    except TimeoutError:
        problem = f"redis did not answer within {timeout:g}s"
    except (RedisError, OSError) as exc:
        problem = f"redis: {exc}"
    video = request.state.media.problems() if hasattr(request.state, "media") else []
    extra = {"video": video} if video else {}
    if problem is None:
        return json_response({"status": "ready", **extra})
    return json_response({"status": "unready", "reason": problem, **extra}, status=503)


async def metrics(request: Request) -> Response:
    runtime = runtime_of(request)
    with urgent_turns():
        await runtime.metrics.refresh(runtime.redis, runtime.embedded)
    return Response(runtime.metrics.render(), media_type=CONTENT_TYPE)


routes = [
    endpoint("/healthz", "GET", healthz),
    endpoint("/readyz", "GET", readyz),
    endpoint("/metrics", "GET", metrics),
]
