"""Buyers over HTTP: sign up from a viewer page (public, rate-limited per client
address) and read or change one's own profile with one's token.

The token a sign-up returns is an ordinary viewer token whose ``sub`` is the new
buyer's id; the page keeps it on the device. Every body is decoded strictly before
anything is written: a bad request names its fields and creates nothing.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from livecart.api.edge import json_response, read_json, require_claims, runtime_of
from livecart.commerce import buyers
from livecart.errors import NotFound

MAX_PROFILE_BYTES = 8192


async def sign_up(request: Request) -> Response:
    profile = buyers.Profile.from_dict(await read_json(request, MAX_PROFILE_BYTES))
    # Behind a proxy, uvicorn's proxy headers (trusted addresses only) set this.
    address = request.client.host if request.client else "unknown"
    created = await buyers.create_buyer(runtime_of(request), profile, address)
    return json_response(
        {
            "buyer": created.stored.to_dict(),
            "token": created.token,
            "expires_at": created.expires_at,
        },
        status=201,
    )


async def get_me(request: Request) -> Response:
    claims = require_claims(request)
    stored = await buyers.get_profile(runtime_of(request).redis, claims.sub)
    if stored is None:
        raise NotFound(f"user {claims.sub!r} has no profile yet: PUT /api/me", field="profile")
    return json_response(stored.to_dict())


async def put_me(request: Request) -> Response:
    claims = require_claims(request)
    profile = buyers.Profile.from_dict(await read_json(request, MAX_PROFILE_BYTES))
    stored, created = await buyers.put_profile(runtime_of(request).redis, claims.sub, profile)
    return json_response(stored.to_dict(), status=201 if created else 200)


routes = [
    Route("/api/buyers", sign_up, methods=["POST"]),
    Route("/api/me", get_me, methods=["GET"]),
    Route("/api/me", put_me, methods=["PUT"]),
]
