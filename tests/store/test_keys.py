"""Key names: ids checked before use; a show's keys share one Cluster slot."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.crc import key_slot

from livecart.errors import InvalidInput
from livecart.store import keys

SHOW_KEYS = [keys.show, keys.show_events, keys.show_lineup, keys.show_stock]


@pytest.mark.parametrize(
    "bad",
    ["", "a{b", "a}b", "a:b", "a*", "a?", "a b", "a\nb", "a\x00b", "x" * 65, "é", None, 5, ["a"]],
)
def test_ids_that_could_break_a_key_are_refused_naming_the_field(bad: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        keys.check_id(bad, "sku")
    assert caught.value.field == "sku"


@pytest.mark.parametrize(
    "good", ["s1", "demo-show", "SKU_42.b", "alice@example.com", "a+b", "x" * 64]
)
def test_usual_ids_are_accepted(good: str) -> None:
    assert keys.check_id(good, "id") == good


@pytest.mark.parametrize("make", SHOW_KEYS)
def test_show_keys_refuse_bad_ids(make: object) -> None:
    with pytest.raises(InvalidInput):
        make("s{1}")  # type: ignore[operator]


def test_every_key_of_a_show_is_in_the_same_cluster_slot() -> None:
    for show in ("s1", "demo-show", "z" * 64):
        slots = {key_slot(make(show).encode()) for make in SHOW_KEYS}
        assert len(slots) == 1
        assert all(f"{{s:{show}}}" in make(show) for make in SHOW_KEYS)


def test_different_kinds_of_key_never_collide() -> None:
    names = [
        keys.brand("x"),
        keys.brand_products("x"),
        keys.product("x"),
        keys.creator("x"),
        keys.show("x"),
        keys.show_events("x"),
        keys.show_lineup("x"),
        keys.show_stock("x"),
        keys.shows_index(),
        keys.brands_index(),
    ]
    assert len(set(names)) == len(names)


@given(st.text(max_size=80))
def test_any_text_is_either_refused_or_makes_keys_with_exactly_one_hash_tag(text: str) -> None:
    try:
        keys.check_id(text, "show")
    except InvalidInput:
        assert keys.ID_PATTERN.fullmatch(text) is None
        return
    made = [make(text) for make in SHOW_KEYS]
    assert all(k.count("{") == 1 and k.count("}") == 1 for k in made)
    assert len({key_slot(k.encode()) for k in made}) == 1
