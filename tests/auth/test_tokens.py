"""Tokens: issued, verified, and every kind of forgery or expiry refused."""

from __future__ import annotations

import base64
import time

import jwt
import orjson
import pytest

from livecart.auth.tokens import Claims, Role, issue_token, verify_token
from livecart.errors import InvalidInput, TokenExpired, TokenInvalid

SECRET = "a-secret-that-is-long-enough-for-hs256!!"


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


def test_issue_then_verify_gives_back_the_claims() -> None:
    token = issue_token(SECRET, sub="alice", role="moderator", show="s1", ttl_s=600, now=1000)
    assert verify_token(SECRET, token, now=1500) == Claims(
        sub="alice", role=Role.MODERATOR, show="s1", exp=1600
    )
    viewer = verify_token(SECRET, issue_token(SECRET, sub="bob", role=Role.VIEWER, ttl_s=60))
    assert viewer.role is Role.VIEWER and viewer.show is None


def test_an_expired_token_is_refused_after_the_leeway() -> None:
    token = issue_token(SECRET, sub="alice", role="viewer", ttl_s=10, now=1000)
    with pytest.raises(TokenExpired):
        verify_token(SECRET, token, now=1011)
    assert verify_token(SECRET, token, now=1011, leeway_s=5).sub == "alice"
    real = issue_token(SECRET, sub="a", role="viewer", ttl_s=1, now=time.time() - 100)
    with pytest.raises(TokenExpired):
        verify_token(SECRET, real)


def test_a_token_verified_once_is_still_checked_for_expiry_and_secret_on_each_use() -> None:
    token = issue_token(SECRET, sub="cached", role="viewer", ttl_s=10, now=5000)
    assert verify_token(SECRET, token, now=5001).sub == "cached"
    assert verify_token(SECRET, token, now=5009).sub == "cached"  # from the cache
    with pytest.raises(TokenExpired):
        verify_token(SECRET, token, now=5011)
    assert verify_token(SECRET, token, now=5011, leeway_s=5).sub == "cached"
    with pytest.raises(TokenInvalid, match="Signature verification failed"):
        verify_token("another-secret-which-is-also-long-enough", token, now=5001)


def test_a_token_signed_with_another_secret_is_refused() -> None:
    token = issue_token("another-secret-which-is-also-long-enough", sub="a", role="admin", ttl_s=60)
    with pytest.raises(TokenInvalid, match="Signature verification failed"):
        verify_token(SECRET, token)


def test_an_altered_payload_is_refused() -> None:
    token = issue_token(SECRET, sub="alice", role="viewer", ttl_s=600)
    header, _, signature = token.split(".")
    payload = b64({"sub": "alice", "role": "admin", "exp": int(time.time()) + 600})
    with pytest.raises(TokenInvalid):
        verify_token(SECRET, f"{header}.{payload}.{signature}")


def test_alg_none_is_refused() -> None:
    header = b64({"alg": "none", "typ": "JWT"})
    payload = b64({"sub": "mallory", "role": "admin", "exp": int(time.time()) + 600})
    with pytest.raises(TokenInvalid):
        verify_token(SECRET, f"{header}.{payload}.")


def test_another_hmac_algorithm_is_refused_even_with_the_right_key() -> None:
    key = SECRET * 2  # long enough that PyJWT does not warn about HS512 key length
    token = jwt.encode({"sub": "a", "role": "admin", "exp": int(time.time()) + 60}, key, "HS512")
    with pytest.raises(TokenInvalid, match="alg value is not allowed"):
        verify_token(key, token)


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"role": "viewer"}, "sub"),
        ({"sub": "a"}, "role"),
        ({"sub": "a", "role": "emperor"}, "role 'emperor'"),
        ({"sub": "a", "role": "moderator"}, "must name its show"),
        ({"sub": "a{b}", "role": "viewer"}, "sub is not a valid id"),
        ({"sub": "a", "role": "viewer", "show": "s:1"}, "show is not a valid id"),
        ({"sub": 7, "role": "viewer"}, "Subject must be a string"),
    ],
)
def test_correctly_signed_tokens_with_bad_claims_are_refused(
    claims: dict[str, object], message: str
) -> None:
    payload = {"exp": int(time.time()) + 60, **claims}
    token = jwt.encode(payload, SECRET, "HS256")
    with pytest.raises(TokenInvalid, match=message):
        verify_token(SECRET, token)


def test_a_token_without_exp_is_refused() -> None:
    token = jwt.encode({"sub": "a", "role": "viewer"}, SECRET, "HS256")
    with pytest.raises(TokenInvalid, match="exp"):
        verify_token(SECRET, token)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "x" * 5000])
def test_garbage_is_refused_as_invalid(garbage: str) -> None:
    with pytest.raises(TokenInvalid):
        verify_token(SECRET, garbage)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"sub": "a", "role": "streamer"}, "show"),
        ({"sub": "a", "role": "admin", "show": "s1"}, "show"),
        ({"sub": "a*", "role": "viewer"}, "sub"),
        ({"sub": "a", "role": "viewer", "show": "{s1}"}, "show"),
        ({"sub": "a", "role": "root"}, "role"),
    ],
)
def test_issue_refuses_what_verify_would_refuse(kwargs: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        issue_token(SECRET, ttl_s=60, **kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field


@pytest.mark.parametrize("ttl", [0, -5, True, 1.5])
def test_issue_refuses_a_ttl_that_is_not_a_positive_whole_number(ttl: object) -> None:
    with pytest.raises(InvalidInput, match="ttl"):
        issue_token(SECRET, sub="a", role="viewer", ttl_s=ttl)  # type: ignore[arg-type]
