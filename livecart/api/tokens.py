"""Token issuing for the merchant's backend: it knows its users; livecart signs for them."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from livecart import validation as v
from livecart.api.edge import json_response, runtime_of
from livecart.api.endpoint import Body, endpoint
from livecart.auth.tokens import Role, issue_token
from livecart.config import Settings
from livecart.errors import InvalidInput
from livecart.store.keys import check_id

MAX_TTL_S = 366 * 86400


@dataclass(frozen=True)
class TokenRequest:
    sub: str
    role: Role
    show: str | None
    ttl_s: int

    @classmethod
    def decode(cls, d: Mapping[str, Any], settings: Settings) -> TokenRequest:
        role = d.get("role", "viewer")
        if not isinstance(role, str) or role not in {r.value for r in Role}:
            raise InvalidInput(f"role must be one of {', '.join(Role)}", field="role")
        show = d.get("show")
        return cls(
            sub=check_id(d.get("sub"), "sub"),
            role=Role(role),
            show=None if show is None else check_id(show, "show"),
            ttl_s=v.whole(d, "ttl_s", lo=1, hi=MAX_TTL_S, default=settings.auth.token_ttl_s),
        )


TOKEN_REQUEST = Body("a token request", ("sub", "role", "show", "ttl_s"), TokenRequest.decode)


async def create_token(request: Request, wanted: TokenRequest) -> Response:
    settings = runtime_of(request).settings
    now = int(time.time())
    token = issue_token(
        settings.auth.secret,
        sub=wanted.sub,
        role=wanted.role,
        show=wanted.show,
        ttl_s=wanted.ttl_s,
        now=now,
    )
    return json_response({"token": token, "expires_at": now + wanted.ttl_s}, status=201)


routes = [endpoint("/api/tokens", "POST", create_token, body=TOKEN_REQUEST, admin=True)]
