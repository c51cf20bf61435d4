"""Bad input, generated: the fields an HTTP body or a hub message declares (as the docs
state them), and hypothesis strategies for values that break each field's rule.

A schema is an ``Obj`` of named fields, each a kind (``Id``, ``Text``, ``Whole``...). From
a schema and one body that passes every check, ``bad_bodies`` makes bodies with exactly
one problem, each with the field name a refusal must give: an unknown field, a wrong
type, a value out of range or malformed, or text with a control character. Nested
objects and lists are named as the API names them (``address.city``, ``lineup[0].sku``,
``skus[3]``).

Used by tests/api/test_edge_property.py and tests/hub/test_message_property.py.
"""

from __future__ import annotations

import copy
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

ID_CHARS = string.ascii_letters + string.digits + "_.@+-"
ID = re.compile(r"[A-Za-z0-9_.@+-]{1,64}")
Problem = Literal["unknown", "type", "range", "control"]
PROBLEMS: tuple[Problem, ...] = ("unknown", "type", "range", "control")

# C0 controls, DEL and C1 controls. Multi-line text (a product description) may hold
# line breaks and tabs; a carriage return is left out of those too, since whether CR is
# part of a line break there is not said (see the report of issue 15).
CONTROL_CHARS = "".join(map(chr, [*range(0x20), 0x7F, *range(0x80, 0xA0)]))
MULTILINE_CONTROL_CHARS = "".join(c for c in CONTROL_CHARS if c not in "\n\t\r")

# --- JSON values ------------------------------------------------------------------------

json_scalars: SearchStrategy[Any] = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values: SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=5,
)
_lists = st.lists(json_scalars, max_size=3)
_objects = st.dictionaries(st.text(max_size=6), json_scalars, max_size=3)
_numbers = st.integers(-(2**40), 2**40) | st.floats(allow_nan=False, allow_infinity=False)
not_strings: SearchStrategy[Any] = st.booleans() | _numbers | _lists | _objects
not_wholes: SearchStrategy[Any] = (
    st.text(max_size=8)  # "5" included: a string is not a number, even one of digits
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(-1000, 1000).map(float)  # 2.0: a float, not a whole number
    | st.booleans()
    | _lists
    | _objects
)
not_lists: SearchStrategy[Any] = st.booleans() | _numbers | st.text(max_size=8) | _objects
not_objects: SearchStrategy[Any] = st.booleans() | _numbers | st.text(max_size=8) | _lists
not_bools: SearchStrategy[Any] = _numbers | st.text(max_size=8) | _lists | _objects

malformed_ids: SearchStrategy[str] = (
    st.text(min_size=1, max_size=20).filter(lambda s: ID.fullmatch(s) is None)
    | st.text(alphabet=ID_CHARS, min_size=65, max_size=80)
    | st.just("")
)
plain_words = st.text(alphabet=string.ascii_letters + " ", min_size=1, max_size=8).map(
    lambda s: "w" + s.strip() + "w"
)


def with_control(chars: str = CONTROL_CHARS) -> SearchStrategy[str]:
    """Ordinary text with one control character inside it (not at either end, where a
    field that trims would remove a line break before checking)."""
    return st.builds(lambda a, c, b: a + c + b, plain_words, st.sampled_from(chars), plain_words)


# A bad value and the field suffixes its refusal may name: "" for the field itself,
# "[3]" for an item of a list.
Bad = tuple[Any, tuple[str, ...]]
ITSELF: tuple[str, ...] = ("",)


def _itself(values: SearchStrategy[Any]) -> SearchStrategy[Bad]:
    return values.map(lambda v: (v, ITSELF))


# --- field kinds ------------------------------------------------------------------------


@dataclass(frozen=True)
class Id:
    """An id: 1-64 characters of letters, digits and ``_ . @ + -``."""

    required: bool = False

    def wrong_type(self) -> SearchStrategy[Bad]:
        return _itself(not_strings | st.none() if self.required else not_strings)

    def out_of_range(self) -> SearchStrategy[Bad] | None:
        return _itself(malformed_ids)

    def control(self) -> SearchStrategy[Bad] | None:
        return _itself(with_control())


@dataclass(frozen=True)
class Text:
    """Text of 1..max_len characters (0 allowed when optional); one line unless
    ``multiline``. Whitespace-only counts as empty (fields are trimmed)."""

    max_len: int
    required: bool = False
    multiline: bool = False

    def wrong_type(self) -> SearchStrategy[Bad]:
        return _itself(not_strings | st.none() if self.required else not_strings)

    def out_of_range(self) -> SearchStrategy[Bad] | None:
        too_long = st.integers(1, 5).map(lambda n: "x" * (self.max_len + n))
        if self.required:
            return _itself(too_long | st.sampled_from(["", " ", "   "]))
        return _itself(too_long)

    def control(self) -> SearchStrategy[Bad] | None:
        return _itself(with_control(MULTILINE_CONTROL_CHARS if self.multiline else CONTROL_CHARS))


@dataclass(frozen=True)
class Whole:
    """A JSON integer in [lo, hi]: never a string, a float (2.0 included) or a boolean."""

    lo: int
    hi: int
    required: bool = False
    also_bad: tuple[int, ...] = ()  # in range but refused all the same (a zero delta)

    def wrong_type(self) -> SearchStrategy[Bad]:
        return _itself(not_wholes | st.none() if self.required else not_wholes)

    def out_of_range(self) -> SearchStrategy[Bad] | None:
        outside = st.integers(max_value=self.lo - 1) | st.integers(min_value=self.hi + 1)
        if self.also_bad:
            outside |= st.sampled_from(self.also_bad)
        return _itself(outside)

    def control(self) -> SearchStrategy[Bad] | None:
        return None


@dataclass(frozen=True)
class OneOf:
    """One of a few strings."""

    choices: tuple[str, ...]
    required: bool = False

    def wrong_type(self) -> SearchStrategy[Bad]:
        return _itself(not_strings | st.none() if self.required else not_strings)

    def out_of_range(self) -> SearchStrategy[Bad] | None:
        return _itself(st.text(max_size=12).filter(lambda s: s not in self.choices))

    def control(self) -> SearchStrategy[Bad] | None:
        return None


@dataclass(frozen=True)
class Flag:
    """true or false, never 0/1 or "true"."""

    def wrong_type(self) -> SearchStrategy[Bad]:
        return _itself(not_bools)

    def out_of_range(self) -> SearchStrategy[Bad] | None:
        return None

    def control(self) -> SearchStrategy[Bad] | None:
        return None


@dataclass(frozen=True)
class Url:
    """An http:// or https:// URL, no spaces, at most 2048 characters."""

    required: bool = False

    def wrong_type(self) -> SearchStrategy[Bad]:
        return _itself(not_strings | st.none() if self.required else not_strings)

    def out_of_range(self) -> SearchStrategy[Bad] | None:
        no_scheme = st.sampled_from(
            ["example.com/x", "ftp://example.com/x", "javascript:alert(1)", "//example.com/x"]
        )
        spaced = plain_words.map(lambda w: f"https://example.com/{w} x")
        too_long = st.integers(1, 5).map(lambda n: "https://example.com/" + "x" * (2048 + n))
        return _itself(no_scheme | spaced | too_long)

    def control(self) -> SearchStrategy[Bad] | None:
        return _itself(with_control().map(lambda s: f"https://example.com/{s}"))


@dataclass(frozen=True)
class Pattern:
    """A string with a documented shape (a currency, a country, an email...): ``bad``
    holds strings that break it."""

    bad: SearchStrategy[str]
    required: bool = False

    def wrong_type(self) -> SearchStrategy[Bad]:
        return _itself(not_strings | st.none() if self.required else not_strings)

    def out_of_range(self) -> SearchStrategy[Bad] | None:
        return _itself(self.bad)

    def control(self) -> SearchStrategy[Bad] | None:
        return None


@dataclass(frozen=True)
class IdList:
    """A list of at most ``max_items`` distinct ids (a showcase's SKUs)."""

    max_items: int
    required: bool = False
    existing: tuple[str, ...] = ()  # valid ids to fill the list around the bad one

    def wrong_type(self) -> SearchStrategy[Bad]:
        return _itself(not_lists | st.none() if self.required else not_lists)

    def out_of_range(self) -> SearchStrategy[Bad] | None:
        too_many = st.just(([f"p{i}" for i in range(self.max_items + 1)], ITSELF))
        return too_many | st.builds(self._with_item, st.integers(0, 3), malformed_ids | not_strings)

    def control(self) -> SearchStrategy[Bad] | None:
        return st.builds(self._with_item, st.integers(0, 3), with_control())

    def _with_item(self, at: int, item: Any) -> Bad:
        items: list[Any] = list(self.existing[:at])
        return [*items, item], (f"[{len(items)}]",)


@dataclass(frozen=True)
class Words:
    """A list of at most ``max_items`` distinct words, each 1-50 characters after
    trimming, one line (a show's blocked keywords). A bad item may be named as the list
    or as the item."""

    max_items: int
    required: bool = False

    def wrong_type(self) -> SearchStrategy[Bad]:
        return _itself(not_lists | st.none() if self.required else not_lists)

    def out_of_range(self) -> SearchStrategy[Bad] | None:
        too_many = st.just(([f"w{i}" for i in range(self.max_items + 1)], ITSELF))
        bad_items = not_strings | st.sampled_from(["", "  "]) | st.just("x" * 51)
        return too_many | st.builds(self._with_item, st.integers(0, 3), bad_items)

    def control(self) -> SearchStrategy[Bad] | None:
        return st.builds(self._with_item, st.integers(0, 3), with_control())

    def _with_item(self, at: int, item: Any) -> Bad:
        items: list[Any] = [f"ok{i}" for i in range(at)]
        return [*items, item], ("", f"[{at}]")


Kind = Id | Text | Whole | OneOf | Flag | Url | Pattern | IdList | Words


@dataclass(frozen=True)
class Obj:
    """A JSON object with these fields and no others."""

    fields: Mapping[str, Kind | Obj | ObjList]
    required: bool = False


@dataclass(frozen=True)
class ObjList:
    """A list of objects (a show's lineup); problems are made in its first item."""

    item: Obj
    max_items: int
    required: bool = False
    filler: Callable[[int], Mapping[str, Any]] | None = None  # the i-th of "too many" items


# --- one problem in a valid body --------------------------------------------------------


@dataclass(frozen=True)
class BadBody:
    what: str  # for the failure message
    fields: tuple[str, ...]  # the names the refusal may give (almost always one)
    body: Any


def _name(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _put(body: Any, path: tuple[str | int, ...], value: Any) -> Any:
    changed = copy.deepcopy(body)
    target = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return changed


field_names = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1, max_size=24
)


def bad_bodies(
    schema: Obj,
    valid: Mapping[str, Any],
    problem: Problem,
    *,
    reserved: frozenset[str] = frozenset(),
) -> SearchStrategy[BadBody] | None:
    """Bodies with one ``problem`` somewhere in ``valid`` (None when the schema has no
    field where that problem can be made). ``reserved`` names fields an unknown field
    must not take (a hub message's envelope: ``type``, ``req``)."""
    options = list(_problems(schema, dict(valid), (), "", problem, reserved))
    return st.one_of(options) if options else None


def _problems(
    schema: Obj,
    body: dict[str, Any],
    path: tuple[str | int, ...],
    prefix: str,
    problem: Problem,
    reserved: frozenset[str],
) -> list[SearchStrategy[BadBody]]:
    options: list[SearchStrategy[BadBody]] = []
    here = _get(body, path)
    if problem == "unknown":
        taken = set(schema.fields) | set(reserved)
        options.append(
            st.tuples(field_names.filter(lambda n: n not in taken), json_values).map(
                lambda nv: BadBody(
                    f"unknown field {_name(prefix, nv[0])!r} = {nv[1]!r}",
                    (_name(prefix, nv[0]),),
                    _put(body, (*path, nv[0]), nv[1]),
                )
            )
        )
    for name, kind in schema.fields.items():
        where = (*path, name)
        named = _name(prefix, name)
        if isinstance(kind, Obj):
            if problem == "type":
                wrong = not_objects | st.none() if kind.required else not_objects
                options.append(_bad_at(body, where, named, _itself(wrong)))
            if name in here:
                options += _problems(kind, body, where, named, problem, frozenset())
            continue
        if isinstance(kind, ObjList):
            if problem == "type":
                options.append(_bad_at(body, where, named, _itself(not_lists)))
                if here.get(name):
                    first = f"{named}[0]"
                    options.append(_bad_at(body, (*where, 0), first, _itself(not_objects)))
            if problem == "range" and kind.filler is not None:
                too_many = [dict(kind.filler(i)) for i in range(kind.max_items + 1)]
                options.append(_bad_at(body, where, named, st.just((too_many, ITSELF))))
            if here.get(name):
                options += _problems(
                    kind.item, body, (*where, 0), f"{named}[0]", problem, frozenset()
                )
            continue
        make: SearchStrategy[Bad] | None = None
        if problem == "type":
            make = kind.wrong_type()
        elif problem == "range":
            make = kind.out_of_range()
        elif problem == "control":
            make = kind.control()
        if make is not None:
            options.append(_bad_at(body, where, named, make))
    return options


def _get(body: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        body = body[step]
    return body


def _bad_at(
    body: dict[str, Any], where: tuple[str | int, ...], named: str, bad: SearchStrategy[Bad]
) -> SearchStrategy[BadBody]:
    return bad.map(
        lambda vs: BadBody(
            f"{named} = {_shown(vs[0])}",
            tuple(named + suffix for suffix in vs[1]),
            _put(body, where, vs[0]),
        )
    )


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:100] + f"... ({len(text)} characters)"
