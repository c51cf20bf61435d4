"""Field checks shared by every edge: each refuses with the field's name and the rule.

Used when decoding a request or message into a typed object, before anything is
written (invariant 8: bad input gets a clear error and changes nothing).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from livecart.errors import InvalidInput

CURRENCY = re.compile(r"[A-Z]{3}")


def require_mapping(data: object, field: str) -> Mapping[str, Any]:
    """``data`` when it is a JSON object; ``field`` names it in the refusal (``body`` for
    a whole request body, ``lineup[2]`` for an item)."""
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{field} must be a JSON object", field=field)
    return data


def text(data: Mapping[str, Any], field: str, *, max_len: int, default: str | None = None) -> str:
    """A string of 1..max_len characters (0 allowed when a default is given)."""
    value = data.get(field, default)
    if value is None:
        raise InvalidInput(f"{field} is required", field=field)
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string", field=field)
    if default is None and not value.strip():
        raise InvalidInput(f"{field} must not be empty", field=field)
    if len(value) > max_len:
        raise InvalidInput(f"{field} is longer than {max_len} characters", field=field)
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise InvalidInput(f"{field} contains control characters", field=field)
    return value


def whole(
    data: Mapping[str, Any], field: str, *, lo: int, hi: int, default: int | None = None
) -> int:
    """An integer in [lo, hi]; booleans and floats are refused, not truncated."""
    value = data.get(field, default)
    if value is None:
        raise InvalidInput(f"{field} is required", field=field)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{field} must be a whole number", field=field)
    if not lo <= value <= hi:
        raise InvalidInput(f"{field} must be between {lo} and {hi}", field=field)
    return value


def currency(data: Mapping[str, Any], field: str) -> str:
    value = text(data, field, max_len=3)
    if CURRENCY.fullmatch(value) is None:
        raise InvalidInput(f"{field} must be a three-letter ISO 4217 code such as EUR", field=field)
    return value


def url(data: Mapping[str, Any], field: str, *, max_len: int = 2048) -> str:
    """An http(s) URL, or the empty string when absent."""
    value = text(data, field, max_len=max_len, default="")
    if value and not value.startswith(("https://", "http://")):
        raise InvalidInput(f"{field} must be an http:// or https:// URL", field=field)
    if any(c.isspace() for c in value):
        raise InvalidInput(f"{field} must not contain spaces", field=field)
    return value


def refuse_unknown_fields(data: Mapping[str, Any], allowed: Collection[str], what: str) -> None:
    """Refuse a field the object does not have: a misspelt optional field (say
    ``comission_bps``) must not be dropped silently and the default stored instead."""
    for name in data:
        if name not in allowed:
            raise InvalidInput(
                f"{what} has no field {str(name)[:80]!r}; its fields are {', '.join(allowed)}",
                field=str(name)[:80],
            )
