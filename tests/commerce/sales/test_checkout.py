"""One-tap buy: every outcome a page can show, idempotency, payments, and no state
change on refusal. Real Redis, real scripts; the payment provider is the test one."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis, RedisCluster

from livecart.commerce.sales import checkout
from livecart.commerce.sales.checkout import BuyRequest, IdempotencyConflict, Outcome
from livecart.commerce.shows import control as show_control
from livecart.errors import InvalidInput, NotFound
from livecart.runtime import Runtime
from livecart.store import keys
from tests.commerce.conftest import SHOW, Units, assert_units_add_up, seed_show, units


def tap(sku: str = "p-plain", key: str = "k1", **kw: Any) -> BuyRequest:
    return BuyRequest(sku=sku, quantity=kw.pop("quantity", 1), idempotency_key=key, **kw)


async def buy(runtime: Runtime, buyer: str = "ana", request: BuyRequest | None = None) -> Outcome:
    return await checkout.buy(runtime, SHOW, buyer, request or tap())


async def state_of(redis: Redis) -> dict[str, Any]:
    """Everything a refused buy must leave as it was (idempotency records aside, and the
    outbox, which the node's order consumers trim in the background once they have
    applied an earlier order: a refusal writes no order, as the orders zset shows)."""
    state = {}
    for key in sorted(await redis.keys("*")):
        if ":idem:" in key or key.endswith(":outbox"):
            continue
        kind = await redis.type(key)
        if kind == "hash":
            state[key] = await redis.hgetall(key)
        elif kind == "string":
            state[key] = await redis.get(key)
        elif kind == "zset":
            state[key] = await redis.zrange(key, 0, -1, withscores=True)
        elif kind == "stream":
            state[key] = await redis.xlen(key)
        elif kind == "set":
            state[key] = sorted(await redis.smembers(key))
    return state


async def test_a_tap_confirms_an_order_and_moves_units_from_stock_to_sold(
    runtime: Runtime, show: str
) -> None:
    outcome = await buy(runtime, request=tap(quantity=3))
    assert outcome.result == "confirmed" and outcome.order is not None
    order = outcome.order
    assert order["buyer"] == "ana" and order["show"] == SHOW and order["brand"] == "b1"
    assert order["total"] == 3000 and order["currency"] == "EUR"
    assert order["lines"][0] | {"flash_sale": None} == {
        "sku": "p-plain",
        "title": "P-Plain",
        "quantity": 3,
        "unit_price": 1000,
        "line_total": 3000,
        "commission_bps": 1000,
        "commission": 300,
        "flash_sale": None,
        "product": "p-plain",  # a plain product is its own product, with no variant
        "variant": {},
    }
    assert order["attribution"] == {"creator": "c1", "source": "show"}
    assert order["confirmed_at_ms"] >= order["held_at_ms"]
    assert await units(runtime.redis, "p-plain") == Units(47, 0, 3, 50)
    stored = await runtime.redis.get(keys.show_order(SHOW, order["id"]))
    assert orjson.loads(stored) == order
    outbox = await runtime.redis.xrange(keys.show_outbox(SHOW))
    assert [orjson.loads(f["order"])["id"] for _, f in outbox] == [order["id"]]


async def test_retry_with_same_key_returns_the_first_result_and_never_buys_twice(
    runtime: Runtime, show: str
) -> None:
    first = await buy(runtime)
    again = [await buy(runtime) for _ in range(3)]
    assert all(o.result == "confirmed" and o.replayed for o in again)
    assert {o.order["id"] for o in again if o.order} == {first.order["id"]}  # type: ignore[index]
    assert (await units(runtime.redis, "p-plain")).sold == 1
    assert await runtime.redis.zcard(keys.show_orders(SHOW)) == 1


async def test_ten_concurrent_retries_of_one_key_buy_once(runtime: Runtime, show: str) -> None:
    outcomes = await asyncio.gather(*(buy(runtime) for _ in range(10)))
    assert {o.result for o in outcomes} == {"confirmed"}
    assert len({o.order["id"] for o in outcomes if o.order}) == 1
    assert sum(not o.replayed for o in outcomes) == 1
    assert (await units(runtime.redis, "p-plain")).sold == 1


async def test_the_same_key_with_other_parameters_is_refused_and_changes_nothing(
    runtime: Runtime, show: str
) -> None:
    await buy(runtime)
    before = await state_of(runtime.redis)
    for other in (tap(quantity=2), tap(sku="p-limited"), tap(price=1000), tap(ref="c2")):
        with pytest.raises(IdempotencyConflict):
            await buy(runtime, request=other)
    assert await state_of(runtime.redis) == before
    # Another buyer may use the same key: keys are per buyer.
    assert (await buy(runtime, "bob")).result == "confirmed"


async def test_a_retry_racing_the_first_attempt_waits_for_its_outcome(
    runtime: Runtime, show: str
) -> None:
    """The first attempt is still with the payment provider (it stalls until the payment
    timeout); the retry must not buy again but report what the first one ends with."""
    runtime.settings = runtime.settings.with_overrides(
        {"checkout": {"payment_timeout_s": 0.5, "hold_seconds": 5}}
    )
    first = asyncio.create_task(buy(runtime, "stall-sue"))
    await asyncio.sleep(0.1)
    retry = await buy(runtime, "stall-sue")
    assert (await first).result == "payment_error"
    assert retry.result == "payment_error" and retry.replayed
    assert await units(runtime.redis, "p-plain") == Units(50, 0, 0, 50)


@pytest.mark.parametrize(
    ("buyer", "code"), [("decline-dan", "payment_declined"), ("error-eve", "payment_error")]
)
async def test_a_refused_or_failed_payment_releases_the_hold(
    runtime: Runtime, show: str, buyer: str, code: str
) -> None:
    outcome = await buy(runtime, buyer, tap(quantity=2))
    assert outcome.result == code and outcome.sku == "p-plain"
    assert await units(runtime.redis, "p-plain") == Units(50, 0, 0, 50)
    assert await runtime.redis.hlen(keys.show_holds(SHOW)) == 0
    replay = await buy(runtime, buyer, tap(quantity=2))
    assert replay.result == code and replay.replayed


# Every key of the show: they share its hash tag (one slot on a cluster).
SHOW_KEYS = keys.show(SHOW).removesuffix(":show") + ":*"


async def show_keys(raw: Redis) -> list[bytes]:
    if isinstance(raw, RedisCluster):  # KEYS goes to one node unless told otherwise
        return await raw.keys(SHOW_KEYS, target_nodes=RedisCluster.PRIMARIES)  # type: ignore[no-any-return]
    return await raw.keys(SHOW_KEYS)  # type: ignore[no-any-return]


class LosesTheHoldWhilePaying:
    """The test provider, but while it pays, the show's keys go back to how they were
    before the tap: what a failover leaves when it took back the reserve's writes (the
    replica had not received them; a confirm's WAITAOF is what makes a write durable)."""

    def __init__(self, provider: Any, raw: Redis, before: dict[str, bytes | None]) -> None:
        self.provider, self.raw, self.before = provider, raw, before

    def __getattr__(self, name: str) -> Any:
        return getattr(self.provider, name)

    async def authorise(self, **kw: Any) -> Any:
        for key in await show_keys(self.raw):
            if key.decode() not in self.before:
                await self.raw.delete(key)
        for key, dumped in self.before.items():
            await self.raw.restore(key, 0, dumped, replace=True)
        return await self.provider.authorise(**kw)


async def test_a_hold_a_failover_took_back_while_paying_leaves_the_tap_undecided(
    runtime: Runtime, show: str
) -> None:
    # Bytes, not text: DUMP's payload is binary.
    raw: Redis = (
        RedisCluster.from_url(runtime.settings.redis.url)  # type: ignore[assignment]
        if runtime.settings.redis.cluster
        else Redis.from_url(runtime.redis_url)
    )
    try:
        before = {key.decode(): await raw.dump(key) for key in await show_keys(raw)}
        assert keys.show_stock(SHOW) in before
        provider = runtime.payments
        runtime.payments = LosesTheHoldWhilePaying(provider, raw, before)  # type: ignore[assignment]
        lost = await buy(runtime)
        runtime.payments = provider
    finally:
        await raw.aclose()
    # Neither a confirmation nor a refusal: its key remembers nothing, so the buyer's
    # page taps again (in_progress), and the payment taken for the lost hold is voided.
    assert lost.result == "in_progress" and lost.retry_after_ms
    assert len(provider.voided) == 1  # type: ignore[attr-defined]
    assert await units(runtime.redis, "p-plain") == Units(50, 0, 0, 50)
    again = await buy(runtime)
    assert again.result == "confirmed" and not again.replayed
    replay = await buy(runtime)
    assert replay.result == "confirmed" and replay.replayed
    assert replay.order == again.order
    await assert_units_add_up(runtime.redis)


async def test_a_payment_that_stalls_past_the_timeout_is_voided_and_released(
    runtime: Runtime, show: str
) -> None:
    runtime.settings = runtime.settings.with_overrides({"checkout": {"payment_timeout_s": 0.2}})
    outcome = await buy(runtime, "stall-sam")
    assert outcome.result == "payment_error"
    assert len(runtime.payments.voided) == 1  # type: ignore[attr-defined]
    assert (await units(runtime.redis, "p-plain")).stock == 50


async def test_refusals_name_their_reason_and_change_nothing(runtime: Runtime) -> None:
    await seed_show(runtime, start=False)
    cases: list[tuple[str, BuyRequest, str]] = [("not_live", tap(), "ana")]
    before = await state_of(runtime.redis)
    outcome = await buy(runtime, request=tap(key="scheduled"))
    assert outcome.result == "not_live"
    assert await state_of(runtime.redis) == before

    await show_control.start_show(runtime, SHOW)
    await buy(runtime, "lou", tap(sku="p-limited", quantity=2, key="two"))
    cases = [
        ("not_in_lineup", tap(sku="p-ghost", key="a"), "ana"),
        ("sold_out", tap(sku="p-scarce", quantity=4, key="b"), "ana"),
        ("limit_reached", tap(sku="p-limited", quantity=1, key="c"), "lou"),
        ("limit_reached", tap(sku="p-limited", quantity=3, key="d"), "ana"),
        ("price_changed", tap(price=999, key="e"), "ana"),
    ]
    before = await state_of(runtime.redis)
    for code, request, buyer in cases:
        outcome = await buy(runtime, buyer, request)
        assert (outcome.result, outcome.sku) == (code, request.sku), request
    assert await state_of(runtime.redis) == before

    await show_control.set_sales(
        runtime, SHOW, show_control.SalesChange(paused=True, reason="restocking"), actor="mod"
    )
    before = await state_of(runtime.redis)
    assert (await buy(runtime, request=tap(key="f"))).result == "sales_paused"
    assert await state_of(runtime.redis) == before
    await show_control.end_show(runtime, SHOW)
    assert (await buy(runtime, request=tap(key="g"))).result == "not_live"


async def test_a_refusal_is_the_first_result_of_its_key_too(runtime: Runtime, show: str) -> None:
    assert (await buy(runtime, request=tap(sku="p-scarce", quantity=4))).result == "sold_out"
    await show_control.adjust_stock(runtime, SHOW, "p-scarce", 10)
    replay = await buy(runtime, request=tap(sku="p-scarce", quantity=4))
    assert replay.result == "sold_out" and replay.replayed
    assert (await buy(runtime, request=tap(sku="p-scarce", quantity=4, key="k2"))).result == (
        "confirmed"
    )


async def test_an_unknown_show_is_not_found_and_writes_nothing(runtime: Runtime) -> None:
    with pytest.raises(NotFound):
        await checkout.buy(runtime, "nope", "ana", tap())
    # What a node writes by itself, whatever the requests: its heartbeat, the key layout.
    written = await runtime.redis.keys("*")
    assert [k for k in written if not k.startswith(("lc:node", "lc:{cat}:layout"))] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sku": "p-plain"}, "idempotency_key"),
        ({"idempotency_key": "k"}, "sku"),
        ({"sku": "p{1}", "idempotency_key": "k"}, "sku"),
        ({"sku": "p:1", "idempotency_key": "k"}, "sku"),
        ({"sku": "p-plain", "idempotency_key": "k*"}, "idempotency_key"),
        ({"sku": "p-plain", "idempotency_key": "k", "quantity": 0}, "quantity"),
        ({"sku": "p-plain", "idempotency_key": "k", "quantity": -1}, "quantity"),
        ({"sku": "p-plain", "idempotency_key": "k", "quantity": 10**9}, "quantity"),
        ({"sku": "p-plain", "idempotency_key": "k", "quantity": 1.5}, "quantity"),
        ({"sku": "p-plain", "idempotency_key": "k", "quantity": "1"}, "quantity"),
        ({"sku": "p-plain", "idempotency_key": "k", "quantity": True}, "quantity"),
        ({"sku": "p-plain", "idempotency_key": "k", "price": -5}, "price"),
        ({"sku": "p-plain", "idempotency_key": "k", "ref": "c:1"}, "ref"),
        ({"sku": 5, "idempotency_key": "k"}, "sku"),
    ],
)
def test_bad_buy_requests_are_refused_naming_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        BuyRequest.from_dict(body, max_quantity=100)
    assert caught.value.field == field


async def test_per_user_limit_holds_under_one_users_concurrent_taps(
    runtime: Runtime, show: str
) -> None:
    outcomes = await asyncio.gather(
        *(buy(runtime, "lou", tap(sku="p-limited", key=f"t{i}")) for i in range(25))
    )
    results = sorted(o.result for o in outcomes)
    assert results.count("confirmed") == 2
    assert set(results) == {"confirmed", "limit_reached"}
    assert (await units(runtime.redis, "p-limited")).sold == 2
    await assert_units_add_up(runtime.redis)


async def test_an_affiliate_ref_credits_the_linking_creator_and_last_ref_wins(
    runtime: Runtime, show: str
) -> None:
    linked = await buy(runtime, "ana", tap(key="a", ref="c2"))
    assert linked.order["attribution"] == {"creator": "c2", "source": "link"}  # type: ignore[index]
    later = await buy(runtime, "ana", tap(key="b"))
    assert later.order["attribution"] == {"creator": "c2", "source": "link"}  # type: ignore[index]
    own = await buy(runtime, "ana", tap(key="c", ref="c1"))
    assert own.order["attribution"] == {"creator": "c1", "source": "show"}  # type: ignore[index]
    unknown = await buy(runtime, "bob", tap(key="d", ref="nobody"))
    assert unknown.order["attribution"] == {"creator": "c1", "source": "show"}  # type: ignore[index]


async def test_a_ref_older_than_the_window_no_longer_credits(runtime: Runtime, show: str) -> None:
    runtime.settings = runtime.settings.with_overrides({"affiliate": {"ref_window_s": 0}})
    await buy(runtime, "ana", tap(key="a", ref="c2"))
    await asyncio.sleep(0.01)
    later = await buy(runtime, "ana", tap(key="b"))
    assert later.order["attribution"] == {"creator": "c1", "source": "show"}  # type: ignore[index]
