"""Token issuing for the merchant's backend: it knows its users; livecart signs for them."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livecart import validation as v
from livecart.api.edge import json_response, read_json, require_admin, runtime_of
from livecart.auth.tokens import issue_token
from livecart.store.keys import check_id

MAX_TTL_S = 366 * 86400


async def create_token(request: Request) -> Response:
    require_admin(request)
    settings = runtime_of(request).settings
    body = v.require_mapping(await read_json(request), "body")
    sub = check_id(body.get("sub"), "sub")
    ttl_s = v.whole(body, "ttl_s", lo=1, hi=MAX_TTL_S, default=settings.auth.token_ttl_s)
    now = int(time.time())
    token = issue_token(
        settings.auth.secret,
        sub=sub,
        role=body.get("role", "viewer"),
        show=body.get("show"),
        ttl_s=ttl_s,
        now=now,
    )
    return json_response({"token": token, "expires_at": now + ttl_s}, status=201)


routes = [Route("/api/tokens", create_token, methods=["POST"])]
