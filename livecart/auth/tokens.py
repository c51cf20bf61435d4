"""Tokens: HS256 JWTs carrying who someone is (``sub``), their ``role``, the ``show``
that scopes a staff role, and ``exp``.

Verification pins the algorithm to HS256 (so ``alg: none`` and algorithm-confusion
tokens are refused), requires every claim, and checks the claims' shapes too: a token
signed with the right key but carrying a staff role without a show, or an id that could
not be used in a key, is as invalid as a forged one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

import jwt

from livecart.errors import InvalidInput, TokenExpired, TokenInvalid
from livecart.store.keys import ID_PATTERN, check_id

ALGORITHM = "HS256"


class Role(StrEnum):
    VIEWER = "viewer"
    STREAMER = "streamer"
    MODERATOR = "moderator"
    ADMIN = "admin"


# Roles that act on one show's staff side and so must name that show.
SHOW_SCOPED_ROLES = frozenset({Role.STREAMER, Role.MODERATOR})


@dataclass(frozen=True)
class Claims:
    sub: str
    role: Role
    show: str | None
    exp: int


def issue_token(
    secret: str,
    *,
    sub: str,
    role: Role | str,
    show: str | None = None,
    ttl_s: int,
    now: float | None = None,
) -> str:
    """Sign a token; refuse claims that ``verify_token`` would refuse."""
    check_id(sub, "sub")
    try:
        role = Role(role)
    except ValueError:
        raise InvalidInput(f"role {role!r} is not one of {', '.join(Role)}", field="role") from None
    if show is not None:
        check_id(show, "show")
    if role in SHOW_SCOPED_ROLES and show is None:
        raise InvalidInput(f"a {role} token must name its show", field="show")
    if role is Role.ADMIN and show is not None:
        raise InvalidInput("an admin token is not scoped to a show", field="show")
    if isinstance(ttl_s, bool) or not isinstance(ttl_s, int) or ttl_s <= 0:
        raise InvalidInput("ttl must be a positive whole number of seconds", field="ttl")
    issued = int(time.time() if now is None else now)
    payload: dict[str, object] = {
        "sub": sub,
        "role": str(role),
        "iat": issued,
        "exp": issued + ttl_s,
    }
    if show is not None:
        payload["show"] = show
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


# Tokens whose signature and claims were verified, by (secret, token): a viewer's app sends
# the same token with every request, and PyJWT's HS256 check costs about 75 us here, most
# of a sold-out HTTP tap's time in a flash sale (bench/RESULTS.md). A verified token stays
# verified; only its expiry is checked again on each use. Oldest entries go first.
_VERIFIED: dict[tuple[str, str], Claims] = {}
VERIFIED_CACHE_SIZE = 20_000


def verify_token(secret: str, token: str, *, leeway_s: int = 0, now: float | None = None) -> Claims:
    """The token's claims, or ``TokenExpired`` / ``TokenInvalid`` saying what is wrong."""
    if not isinstance(token, str) or not token or len(token) > 4096:
        raise TokenInvalid("token is empty, not a string, or longer than 4096 characters")
    cached = _VERIFIED.get((secret, token))
    if cached is not None:
        if cached.exp + leeway_s < (time.time() if now is None else now):
            raise TokenExpired("token has expired")
        return cached
    claims = _verify(secret, token, leeway_s=leeway_s, now=now)
    if len(_VERIFIED) >= VERIFIED_CACHE_SIZE:
        del _VERIFIED[next(iter(_VERIFIED))]
    _VERIFIED[(secret, token)] = claims
    return claims


def _verify(secret: str, token: str, *, leeway_s: int, now: float | None) -> Claims:
    required = ["sub", "role", "exp"]
    try:
        if now is None:
            payload = jwt.decode(
                token,
                secret,
                algorithms=[ALGORITHM],
                leeway=leeway_s,
                options={"require": required, "verify_iat": False},
            )
        else:
            # PyJWT reads the clock itself; with a fixed `now`, check expiry here.
            payload = jwt.decode(
                token,
                secret,
                algorithms=[ALGORITHM],
                options={"require": required, "verify_iat": False, "verify_exp": False},
            )
            exp = payload.get("exp")
            if isinstance(exp, int) and not isinstance(exp, bool) and exp + leeway_s < now:
                raise jwt.ExpiredSignatureError("Signature has expired")
    except jwt.ExpiredSignatureError:
        raise TokenExpired("token has expired") from None
    except jwt.InvalidTokenError as exc:
        raise TokenInvalid(f"token is not valid: {exc}") from None
    return _claims_from(payload)


def _claims_from(payload: dict[str, object]) -> Claims:
    sub, role, show, exp = (
        payload.get("sub"),
        payload.get("role"),
        payload.get("show"),
        payload.get("exp"),
    )
    if not isinstance(sub, str) or ID_PATTERN.fullmatch(sub) is None:
        raise TokenInvalid("token's sub is not a valid id")
    try:
        parsed_role = Role(role)  # type: ignore[arg-type]
    except ValueError:
        raise TokenInvalid(f"token's role {role!r} is not one of {', '.join(Role)}") from None
    if show is not None and (not isinstance(show, str) or ID_PATTERN.fullmatch(show) is None):
        raise TokenInvalid("token's show is not a valid id")
    if parsed_role in SHOW_SCOPED_ROLES and show is None:
        raise TokenInvalid(f"a {parsed_role} token must name its show")
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise TokenInvalid("token's exp is not a whole number")
    return Claims(sub=sub, role=parsed_role, show=show if isinstance(show, str) else None, exp=exp)
