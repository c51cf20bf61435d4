"""Field checks shared by every edge: each refuses with the field's name and the rule.

Used when decoding a request or message into a typed object, before anything is
written (invariant 8: bad input gets a clear error and changes nothing).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from livecart.errors import InvalidInput

CURRENCY = re.compile(r"[A-Z]{3}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # keeps \t \n \r


@contextmanager
def within(path: str) -> Iterator[None]:
    """Refusals raised inside name their field under ``path``: a lineup entry's bad
    ``quantity`` is ``lineup[2].quantity``, not a top-level ``quantity``."""
    try:
        yield
    except InvalidInput as exc:
        if exc.field is not None and not exc.field.startswith(path):
            exc.field = f"{path}.{exc.field}"
            exc.message = f"{path}: {exc.message}"
        raise


def require_mapping(data: object, field: str) -> Mapping[str, Any]:
    """``data`` when it is a JSON object; ``field`` names it in the refusal (``body`` for
    a whole request body, ``lineup[2]`` for an item)."""
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{field} must be a JSON object", field=field)
    return data


def text(
    data: Mapping[str, Any],
    field: str,
    *,
    max_len: int,
    default: str | None = None,
    multiline: bool = False,
) -> str:
    """A string of 1..max_len characters (0 allowed when a default is given).

    Control characters (C0, DEL and C1) are refused: a title with a line break or an
    escape breaks every page and log line it reaches. ``multiline`` text (a product's
    description) may hold line breaks and tabs, nothing else.
    """
    value = data.get(field, default)
    if value is None:
        raise InvalidInput(f"{field} is required", field=field)
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string", field=field)
    if default is None and not value.strip():
        raise InvalidInput(f"{field} must not be empty", field=field)
    if len(value) > max_len:
        raise InvalidInput(f"{field} is longer than {max_len} characters", field=field)
    check_no_control(value, field, multiline=multiline)
    return value


def check_no_control(value: str, field: str, *, multiline: bool = False) -> None:
    """Refuse C0, DEL and C1 control characters (line breaks and tabs too unless
    ``multiline``: then ``\n``, ``\r\n`` and ``\t`` stay), naming the field and the
    character found."""
    found = (_CONTROL_MULTILINE if multiline else _CONTROL).search(value)
    if found is not None:
        rule = "only line breaks and tabs are allowed" if multiline else "it must be one line"
        raise InvalidInput(
            f"{field} contains a control character (U+{ord(found.group()):04X}); {rule}",
            field=field,
        )


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


def refuse_unknown_fields(
    data: Mapping[str, Any], allowed: Collection[str], what: str, *, path: str = ""
) -> None:
    """Refuse a field the object does not have: a misspelt optional field (say
    ``comission_bps``) must not be dropped silently and the default stored instead.
    ``path`` prefixes the field a nested object's refusal names (``lineup[2]``)."""
    for name in data:
        if name not in allowed:
            shown = str(name)[:80]
            raise InvalidInput(
                f"{what} has no field {shown!r}; its fields are {', '.join(allowed)}",
                field=f"{path}.{shown}" if path else shown,
            )
