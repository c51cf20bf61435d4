"""Moves between a brand's inventory and a show: each step once per move id, refusals
that change nothing, and a show that refuses after the take reversing the move."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from livecart.commerce.catalog.products import Product, Variant, save_product
from livecart.commerce.inventory import moves
from livecart.commerce.sales.checkout import BuyRequest, CartAdd, buy, cart_add
from livecart.commerce.shows.control import add_to_lineup, end_show
from livecart.errors import Conflict, InvalidInput, NotFound
from livecart.runtime import Runtime
from livecart.store import keys
from tests.commerce.conftest import assert_units_add_up, units
from tests.commerce.inventory.conftest import ON_HAND, on_hand
from tests.keyspace import differences, snapshot

SHOW = "s1"


async def stock_events(redis: Redis, show: str = SHOW) -> list[str]:
    entries: list[tuple[str, dict[str, str]]] = await redis.xrange(keys.show_events(show))  # type: ignore[assignment]
    return [f["data"] for _, f in entries if f["type"] == "stock"]


async def test_a_move_to_a_show_takes_units_off_hand_and_adds_them_to_stock(
    runtime: Runtime, tracked: str
) -> None:
    redis = runtime.redis
    events_before = len(await stock_events(redis))
    result = await moves.move_to_show(runtime, SHOW, "p-plain", 30, "m-1")
    assert result.created
    assert result.move.state == "applied" and result.move.moved == 30
    assert result.move.kind == "to_show" and result.move.units == 30
    assert await on_hand(redis) == ON_HAND - 30
    u = await units(redis, "p-plain")
    assert (u.stock, u.allocated) == (80, 80)
    events = await stock_events(redis)
    assert len(events) == events_before + 1 and '"stock":80' in events[-1]
    assert await redis.hgetall(keys.show_moves(SHOW)) == {"m-1": "applied:30"}
    assert await redis.zcard(keys.brand_moves_pending("b1")) == 0
    await assert_units_add_up(redis)


async def test_a_move_retried_with_the_same_id_applies_once(runtime: Runtime, tracked: str) -> None:
    redis = runtime.redis
    first = await moves.move_to_show(runtime, SHOW, "p-plain", 10, "m-again")
    for _ in range(3):
        again = await moves.move_to_show(runtime, SHOW, "p-plain", 10, "m-again")
        assert not again.created and again.move == first.move
    assert await on_hand(redis) == ON_HAND - 10
    assert (await units(redis, "p-plain")).allocated == 60
    assert len(await stock_events(redis)) == 1


async def test_a_move_id_used_for_another_move_is_refused(runtime: Runtime, tracked: str) -> None:
    await moves.move_to_show(runtime, SHOW, "p-plain", 10, "m-x")
    with pytest.raises(Conflict) as refused:
        await moves.move_to_show(runtime, SHOW, "p-plain", 11, "m-x")
    assert refused.value.field == "id"
    with pytest.raises(Conflict):
        await moves.return_from_show(runtime, SHOW, "p-plain", 10, "m-x")
    assert await on_hand(runtime.redis) == ON_HAND - 10


async def test_more_units_than_on_hand_is_refused_naming_sku_and_changes_nothing(
    runtime: Runtime, tracked: str, raw: Redis
) -> None:
    before = await snapshot(raw)
    with pytest.raises(Conflict) as refused:
        await moves.move_to_show(runtime, SHOW, "p-plain", ON_HAND + 1)
    assert refused.value.code == "insufficient_inventory"
    assert refused.value.field == "sku"
    assert str(ON_HAND) in refused.value.message
    assert differences(before, await snapshot(raw)) == []


@pytest.mark.parametrize(
    ("sku", "error", "code"),
    [
        ("p-nothing", NotFound, "not_found"),  # no product sells under it
        ("p-other", InvalidInput, "invalid"),  # brand b2's
        ("p-scarce", Conflict, "not_tracked"),  # b1's, in the lineup, not in inventory
    ],
)
async def test_a_sku_the_brand_cannot_move_is_refused_and_changes_nothing(
    runtime: Runtime, tracked: str, raw: Redis, sku: str, error: type[Exception], code: str
) -> None:
    before = await snapshot(raw)
    for attempt in (
        moves.move_to_show(runtime, SHOW, sku, 1),
        moves.return_from_show(runtime, SHOW, sku, 1),
    ):
        with pytest.raises(error) as refused:
            await attempt
        assert getattr(refused.value, "code", None) == code
        assert getattr(refused.value, "field", None) == "sku"
    assert differences(before, await snapshot(raw)) == []


async def test_a_tracked_sku_not_in_the_lineup_is_refused(runtime: Runtime, tracked: str) -> None:
    await save_product(
        runtime.redis, Product(sku="p-new", brand="b1", title="New", price=100, currency="EUR")
    )
    await moves.set_on_hand(runtime, "b1", "p-new", 5)
    for attempt in (
        moves.move_to_show(runtime, SHOW, "p-new", 1),
        moves.return_from_show(runtime, SHOW, "p-new", 1),
    ):
        with pytest.raises(NotFound) as refused:
            await attempt
        assert refused.value.code == "not_in_lineup"
    assert await on_hand(runtime.redis, "p-new") == 5


async def test_a_move_to_an_ended_show_is_refused_before_anything_moves(
    runtime: Runtime, tracked: str, raw: Redis
) -> None:
    await end_show(runtime, SHOW)
    await moves.sweep_inventory(runtime)  # let the ended show's returns settle first
    before = await snapshot(raw)
    with pytest.raises(Conflict) as refused:
        await moves.move_to_show(runtime, SHOW, "p-plain", 5)
    assert refused.value.code == "show_ended"
    assert differences(before, await snapshot(raw)) == []


async def test_a_show_that_ends_after_the_take_reverses_the_move(
    runtime: Runtime, tracked: str
) -> None:
    """The take (brand slot) and the show's step are two scripts: a show ending between
    them refuses the units, which go back on hand, and a retry gets the same answer."""
    redis = runtime.redis
    reply = await runtime.scripts["move_take"](
        keys=moves._brand_keys("b1"), args=["m-late", SHOW, "p-plain", 7]
    )
    assert reply[0] == "taken"
    assert await on_hand(redis) == ON_HAND - 7
    await end_show(runtime, SHOW)
    for _ in range(2):
        with pytest.raises(Conflict) as refused:
            await moves.move_to_show(runtime, SHOW, "p-plain", 7, "m-late")
        assert refused.value.code == "show_ended"
    move = await moves.get_move(redis, "b1", "m-late")
    assert move is not None and move.state == "reversed" and move.reason == "show_ended"
    assert await on_hand(redis) == ON_HAND  # the 7 are back
    assert await redis.hget(keys.show_moves(SHOW), "m-late") == "refused:show_ended"
    assert (await units(redis, "p-plain")).allocated == 50  # nothing was added


async def test_a_return_takes_only_units_neither_held_nor_sold(
    runtime: Runtime, tracked: str
) -> None:
    redis = runtime.redis
    outcome = await buy(
        runtime, SHOW, "ana", BuyRequest(sku="p-plain", quantity=3, idempotency_key="k1")
    )
    assert outcome.result == "confirmed"
    await cart_add(runtime, SHOW, "bob", CartAdd(sku="p-plain", quantity=2))
    result = await moves.return_from_show(runtime, SHOW, "p-plain", None, "r-all")
    assert result.move.state == "returned" and result.move.moved == 45
    assert await on_hand(redis) == ON_HAND + 45
    u = await units(redis, "p-plain")
    assert (u.stock, u.held, u.sold, u.allocated) == (0, 2, 3, 5)
    await assert_units_add_up(redis)


async def test_a_return_of_some_units_takes_at_most_the_stock(
    runtime: Runtime, tracked: str
) -> None:
    redis = runtime.redis
    first = await moves.return_from_show(runtime, SHOW, "p-plain", 20, "r-20")
    assert first.move.moved == 20
    second = await moves.return_from_show(runtime, SHOW, "p-plain", 40, "r-40")
    assert second.move.moved == 30  # only 30 were left
    assert await on_hand(redis) == ON_HAND + 50
    u = await units(redis, "p-plain")
    assert (u.stock, u.allocated) == (0, 0)


async def test_an_exact_return_of_more_than_the_stock_moves_nothing(
    runtime: Runtime, tracked: str
) -> None:
    with pytest.raises(Conflict) as refused:
        await moves.return_from_show(runtime, SHOW, "p-plain", 51, "r-exact", exact=True)
    assert refused.value.code == "not_enough_stock"
    assert await on_hand(runtime.redis) == ON_HAND
    assert (await units(runtime.redis, "p-plain")).allocated == 50


async def test_a_return_retried_with_the_same_id_credits_once(
    runtime: Runtime, tracked: str
) -> None:
    redis = runtime.redis
    first = await moves.return_from_show(runtime, SHOW, "p-plain", 10, "r-once")
    for _ in range(3):
        again = await moves.return_from_show(runtime, SHOW, "p-plain", 10, "r-once")
        assert not again.created and again.move == first.move
    assert await on_hand(redis) == ON_HAND + 10
    assert (await units(redis, "p-plain")).allocated == 40


async def test_on_hand_can_be_set_only_for_the_brands_sellable_skus(
    runtime: Runtime, tracked: str, raw: Redis
) -> None:
    assert await moves.set_on_hand(runtime, "b1", "p-plain", 7) == ON_HAND
    assert await on_hand(runtime.redis) == 7
    before = await snapshot(raw)
    with pytest.raises(InvalidInput) as other:
        await moves.set_on_hand(runtime, "b1", "p-other", 1)
    assert other.value.field == "sku"
    with pytest.raises(NotFound) as unknown:
        await moves.set_on_hand(runtime, "b1", "p-nothing", 1)
    assert unknown.value.field == "sku"
    assert differences(before, await snapshot(raw)) == []


async def test_the_report_counts_units_on_hand_and_out_in_shows(
    runtime: Runtime, tracked: str
) -> None:
    await moves.move_to_show(runtime, SHOW, "p-plain", 10)
    await cart_add(runtime, SHOW, "bob", CartAdd(sku="p-plain", quantity=2))
    await buy(runtime, SHOW, "ana", BuyRequest(sku="p-plain", quantity=1, idempotency_key="k"))
    report = await moves.inventory_report(runtime, "b1")
    # 60 in the show: 57 available, 2 held (out), 1 sold (gone)
    assert report == [{"sku": "p-plain", "on_hand": 90, "in_shows": 59, "moving_to_shows": 0}]


async def test_a_variant_is_kept_and_moved_under_its_own_sku(
    runtime: Runtime, tracked: str, raw: Redis
) -> None:
    """Inventory is per sellable sku: a variant's, never the product's that has them."""
    tee = Product(
        sku="tee",
        brand="b1",
        title="Tee",
        price=1500,
        currency="EUR",
        options=("Size",),
        variants=(Variant(sku="tee-s", values=("S",)), Variant(sku="tee-m", values=("M",))),
    )
    await save_product(runtime.redis, tee)
    await add_to_lineup(runtime, SHOW, "tee-s", 4)
    await moves.set_on_hand(runtime, "b1", "tee-s", 10)
    result = await moves.move_to_show(runtime, SHOW, "tee-s", 6)
    assert result.move.state == "applied"
    assert await on_hand(runtime.redis, "tee-s") == 4
    assert (await units(runtime.redis, "tee-s")).allocated == 10
    before = await snapshot(raw)
    with pytest.raises(InvalidInput) as refused:
        await moves.set_on_hand(runtime, "b1", "tee", 1)
    assert refused.value.field == "sku" and "tee-s" in refused.value.message
    assert differences(before, await snapshot(raw)) == []


async def test_ending_returns_the_stock_at_once_and_the_sweep_then_finds_nothing(
    runtime: Runtime, tracked: str
) -> None:
    await moves.move_to_show(runtime, SHOW, "p-plain", 10)
    await end_show(runtime, SHOW)
    assert await moves.return_ended_show_stock(runtime, SHOW) == 60
    assert await moves.return_ended_show_stock(runtime, SHOW) == 0
    assert (await moves.sweep_inventory(runtime)).returned == 0
    assert await on_hand(runtime.redis) == ON_HAND + 50
    assert (await units(runtime.redis, "p-plain")).allocated == 0


async def test_a_live_show_keeps_its_stock_when_asked_to_return_an_ended_shows(
    runtime: Runtime, tracked: str
) -> None:
    assert await moves.return_ended_show_stock(runtime, SHOW) == 0
    assert (await units(runtime.redis, "p-plain")).allocated == 50


async def test_an_exact_return_without_an_id_is_refused_before_anything_is_recorded(
    runtime: Runtime, tracked: str, raw: Redis
) -> None:
    before = await snapshot(raw)
    with pytest.raises(Conflict) as refused:
        await moves.return_from_show(runtime, SHOW, "p-plain", 51, exact=True)
    assert refused.value.code == "not_enough_stock"
    assert differences(before, await snapshot(raw)) == []
