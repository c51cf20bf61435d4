"""The merchant API's key check: constant-time, on every request."""

from __future__ import annotations

import hmac

from livecart.errors import ApiKeyInvalid

HEADER = "x-api-key"


def check_api_key(expected: str, presented: str | None) -> None:
    if not presented:
        raise ApiKeyInvalid("this endpoint needs the admin API key in the X-API-Key header")
    if not hmac.compare_digest(expected.encode(), presented.encode()):
        raise ApiKeyInvalid("the API key is not valid")
