"""The Starlette app: ``create_app(settings)`` and the lifespan that runs a node."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from livecart.api import (
    catalog,
    checkout,
    creators,
    health,
    orders,
    show_control,
    shows,
    tokens,
    webhooks,
)
from livecart.api.edge import EXCEPTION_HANDLERS
from livecart.config import Settings
from livecart.runtime import ReadyHook, Runtime, running


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
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if runtime is not None:
            app.state.runtime = runtime
            yield
            return
        async with running(settings, ready_hooks) as started:
            app.state.runtime = started
            yield

    return Starlette(
        routes=[
            *health.routes,
            *shows.routes,
            *show_control.routes,
            *checkout.routes,
            *catalog.routes,
            *creators.routes,
            *orders.routes,
            *webhooks.routes,
            *tokens.routes,
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
