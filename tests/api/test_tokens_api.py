"""POST /api/tokens: the merchant's backend gets tokens for its users with the API key."""

from __future__ import annotations

import httpx
import pytest

from livecart.auth.tokens import Role, verify_token
from tests.helpers import STRONG_ADMIN_KEY, STRONG_SECRET, LiveServer

KEY = {"X-API-Key": STRONG_ADMIN_KEY}


async def test_the_admin_key_gets_a_token_that_verifies(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post(
            "/api/tokens",
            headers=KEY,
            json={"sub": "alice", "role": "moderator", "show": "s1", "ttl_s": 600},
        )
    assert response.status_code == 201
    claims = verify_token(STRONG_SECRET, response.json()["token"])
    assert (claims.sub, claims.role, claims.show) == ("alice", Role.MODERATOR, "s1")
    assert response.json()["expires_at"] == claims.exp


@pytest.mark.parametrize(
    "headers", [{}, {"X-API-Key": "wrong"}, {"X-API-Key": STRONG_ADMIN_KEY[:-1]}]
)
async def test_without_the_right_key_the_request_is_refused(
    server: LiveServer, headers: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post("/api/tokens", headers=headers, json={"sub": "a"})
    assert response.status_code == 401
    assert response.json()["error"] == "api_key_invalid"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"not json", "body"),
        (b"[1, 2]", "body"),
        (b'{"role": "viewer"}', "sub"),
        (b'{"sub": "a:b"}', "sub"),
        (b'{"sub": "a", "role": "boss"}', "role"),
        (b'{"sub": "a", "role": "streamer"}', "show"),
        (b'{"sub": "a", "ttl_s": 0}', "ttl_s"),
        (b'{"sub": "a", "ttl_s": "600"}', "ttl_s"),
        (b'{"sub": "a", "ttl_s": 99999999999}', "ttl_s"),
        (b'{"sub": "a", "show": "{x}"}', "show"),
    ],
)
async def test_bad_bodies_are_refused_naming_the_field(
    server: LiveServer, body: bytes, field: str | None
) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post("/api/tokens", headers=KEY, content=body)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid"
    assert response.json().get("field") == field


async def test_an_oversized_body_is_refused(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post("/api/tokens", headers=KEY, content=b"{" + b" " * (1 << 21))
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    assert "larger than" in response.json()["message"]
