"""Buyers over HTTP: sign up from a viewer page (public, rate-limited per client
address) and read or change one's own profile with one's token.

The token a sign-up returns is an ordinary viewer token whose ``sub`` is the new
buyer's id; the page keeps it on the device. Every body is decoded strictly before
anything is written: a bad request names its fields and creates nothing.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from livecart.api.edge import json_response, require_claims, runtime_of
from livecart.api.endpoint import Body, endpoint
from livecart.commerce.accounts import buyers
from livecart.errors import NotFound

MAX_PROFILE_BYTES = 8192
PROFILE = Body(
    "a buyer",
    buyers.PROFILE_FIELDS,
    lambda d, s: buyers.Profile.from_dict(d),
    max_bytes=MAX_PROFILE_BYTES,
)


async def sign_up(request: Request, profile: buyers.Profile) -> Response:
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


async def put_me(request: Request, profile: buyers.Profile) -> Response:
    claims = require_claims(request)
    stored, created = await buyers.put_profile(runtime_of(request).redis, claims.sub, profile)
    return json_response(stored.to_dict(), status=201 if created else 200)


routes = [
    endpoint("/api/buyers", "POST", sign_up, body=PROFILE),
    endpoint("/api/me", "GET", get_me),
    endpoint("/api/me", "PUT", put_me, body=PROFILE),
]
