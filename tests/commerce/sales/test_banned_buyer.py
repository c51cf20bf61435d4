"""A buyer banned from a show buys nothing in it, by any path: the tap, the cart and its
checkout are refused ``banned`` by the same scripts that take the units, so a ban and a
buy cannot race. A refusal changes nothing in the show; like every refusal of a buy or
checkout it is remembered as the first outcome of its idempotency key."""

from __future__ import annotations

import orjson
import pytest

from livecart.commerce.sales import checkout
from livecart.commerce.sales.checkout import CartAdd, CartRefused
from livecart.commerce.shows import control as show_control
from livecart.hub import moderation
from livecart.runtime import Runtime
from livecart.store import keys
from tests.commerce.conftest import SHOW, assert_units_add_up
from tests.commerce.sales.test_checkout import buy, state_of, tap


async def ban(runtime: Runtime, user: str = "ana") -> None:
    assert await moderation.ban(runtime, SHOW, user, by="mo") is True


async def unban(runtime: Runtime, user: str = "ana") -> None:
    assert await moderation.unban(runtime, SHOW, user, by="mo") is True


async def test_a_banned_buyer_s_tap_is_refused_banned_and_changes_nothing(
    runtime: Runtime, show: str
) -> None:
    await ban(runtime)
    before = await state_of(runtime.redis)
    outcome = await buy(runtime, request=tap(quantity=2, key="k1"))
    assert (outcome.result, outcome.sku, outcome.replayed) == ("banned", "p-plain", False)
    assert await state_of(runtime.redis) == before
    # Remembered as the key's first outcome, as every refusal is.
    stored = await runtime.redis.get(keys.show_idempotency(SHOW, "ana", "k1"))
    assert stored is not None
    record = orjson.loads(stored)
    assert record["result"] == {"status": "refused", "code": "banned", "sku": "p-plain"}
    # Other buyers are not concerned.
    assert (await buy(runtime, "ben", tap(key="k1"))).result == "confirmed"


async def test_a_ban_outranks_paused_sales_and_a_show_that_is_not_live(
    runtime: Runtime, show: str
) -> None:
    await ban(runtime)
    await show_control.set_sales(
        runtime, SHOW, show_control.SalesChange(paused=True, reason=""), actor="mo"
    )
    assert (await buy(runtime, request=tap(key="paused"))).result == "banned"
    await show_control.end_show(runtime, SHOW)
    assert (await buy(runtime, request=tap(key="ended"))).result == "banned"


async def test_a_banned_buyer_cannot_add_to_a_cart_nor_check_out_one_made_before(
    runtime: Runtime, show: str
) -> None:
    cart = await checkout.cart_add(runtime, SHOW, "ana", CartAdd(sku="p-plain", quantity=2))
    assert cart["total"] == 2000
    await ban(runtime)
    before = await state_of(runtime.redis)
    with pytest.raises(CartRefused) as refused:
        await checkout.cart_add(runtime, SHOW, "ana", CartAdd(sku="p-limited", quantity=1))
    assert refused.value.code == "banned" and refused.value.http_status == 409
    assert refused.value.field is None
    outcome = await checkout.checkout_cart(runtime, SHOW, "ana", "co-1")
    assert (outcome.result, outcome.sku) == ("banned", None)
    assert await state_of(runtime.redis) == before  # the cart is as it was, still held
    await assert_units_add_up(runtime.redis)

    # Unbanned, the cart checks out (with a new key: the refusal is co-1's outcome).
    await unban(runtime)
    replay = await checkout.checkout_cart(runtime, SHOW, "ana", "co-1")
    assert (replay.result, replay.replayed) == ("banned", True)
    done = await checkout.checkout_cart(runtime, SHOW, "ana", "co-2")
    assert done.result == "confirmed" and done.order is not None
    assert done.order["total"] == 2000
    await assert_units_add_up(runtime.redis)


async def test_once_unbanned_the_buyer_buys_again(runtime: Runtime, show: str) -> None:
    await ban(runtime)
    assert (await buy(runtime, request=tap(key="k1"))).result == "banned"
    await unban(runtime)
    assert (await buy(runtime, request=tap(key="k2"))).result == "confirmed"
    cart = await checkout.cart_add(runtime, SHOW, "ana", CartAdd(sku="p-plain", quantity=1))
    assert cart["total"] == 1000
    await assert_units_add_up(runtime.redis)


async def test_a_ban_after_a_confirmed_tap_does_not_undo_it_and_its_retry_replays_it(
    runtime: Runtime, show: str
) -> None:
    first = await buy(runtime, request=tap(key="k1"))
    assert first.result == "confirmed"
    await ban(runtime)
    again = await buy(runtime, request=tap(key="k1"))
    assert (again.result, again.replayed) == ("confirmed", True)
    assert again.order is not None and first.order is not None
    assert again.order["id"] == first.order["id"]
