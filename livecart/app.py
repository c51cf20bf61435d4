"""The Starlette app: ``create_app(settings)`` and the lifespan that runs a node."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette

from livecart.api import (
    auctions,
    buyers,
    catalog,
    checkout,
    creators,
    health,
    hls,
    inventory,
    media,
    order_export,
    order_lifecycle,
    orders,
    pages,
    payments,
    shipping,
    show_control,
    shows,
    tokens,
    webhooks,
)
from livecart.api.edge import EXCEPTION_HANDLERS
from livecart.commerce.inventory.moves import run_inventory_sweep
from livecart.commerce.orders.outbox import run_order_consumers
from livecart.commerce.orders.webhooks import run_webhook_deliveries
from livecart.commerce.sales.holds import run_hold_reaper, run_takeovers
from livecart.commerce.shows.listing import index_existing_shows
from livecart.config import Settings
from livecart.hub.node import Hub
from livecart.media.node import MediaNode
from livecart.nodes import run_heartbeat
from livecart.runtime import ReadyHook, Runtime, Worker, running

# What every node runs until it stops. Any number of nodes may run each of these at
# once: each claims its work atomically in Redis.
NODE_WORKERS: tuple[Worker, ...] = (
    run_heartbeat,
    run_takeovers,  # of nodes whose heartbeat lapsed: livecart.nodes
    run_hold_reaper,
    run_order_consumers,
    run_webhook_deliveries,
    run_inventory_sweep,
    index_existing_shows,  # once per data set, then it ends
)


def create_app(
    settings: Settings,
    *,
    runtime: Runtime | None = None,
    ready_hooks: Sequence[ReadyHook] = (),
) -> Starlette:
    """The app. Its lifespan runs the node, unless the caller already runs it.

    The CLI passes ``runtime`` so that start-up errors (data directory in use, Redis
    unreachable) are reported as one clear line rather than through the ASGI lifespan,
    and so that the embedded Redis outlives the HTTP server's graceful drain.
    """

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        # The hub travels in the lifespan state: uvicorn hands that state to the
        # WebSocket protocol class (livecart.hub.connection), which is not ASGI. The
        # media node too: handlers read it as request.state.media.
        if runtime is not None:
            app.state.runtime = runtime
            async with _parts_running(runtime) as parts:
                app.state.media = parts["media"]
                yield parts
            return
        async with running(settings, ready_hooks, NODE_WORKERS) as started:
            app.state.runtime = started
            async with _parts_running(started) as parts:
                app.state.media = parts["media"]
                yield parts

    return Starlette(
        routes=[
            *health.routes,
            *shows.routes,
            *show_control.routes,
            *inventory.routes,
            *checkout.routes,
            *auctions.routes,
            *catalog.routes,
            *shipping.routes,
            *creators.routes,
            *orders.routes,
            *order_lifecycle.routes,
            *order_export.routes,
            *webhooks.routes,
            *tokens.routes,
            *buyers.routes,
            *payments.routes,
            *media.routes,
            *hls.routes,
            *pages.routes,
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )


@asynccontextmanager
async def _parts_running(runtime: Runtime) -> AsyncIterator[dict[str, Any]]:
    """The hub and the media node, started in order and stopped in reverse."""
    hub = Hub(runtime)
    await hub.start()
    try:
        media_node = MediaNode(runtime)
        await media_node.start()
        try:
            yield {"hub": hub, "media": media_node}
        finally:
            await media_node.stop()
    finally:
        await hub.stop()
