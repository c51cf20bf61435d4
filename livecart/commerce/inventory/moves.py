"""A brand's inventory, and units moved between it and its shows (issue 11).

A brand may hold stock of a sellable sku at catalog level: ``lc:{b:BRAND}:inventory``
maps the sku to units on hand. A sku with a field there is *tracked*: its units reach a
show only by a move from the inventory, and go back by a move to it. An untracked sku
behaves as before (a lineup entry or restock creates units in the show).

The inventory lives in the brand's slot and a show's stock in the show's slot, so no
script may touch both (invariant 6). A move is two idempotent steps keyed by its id,
with the brand's record as the source of truth for what is in flight:

- to a show: the brand takes the units and records the move ``taken`` (move_take.lua);
  the show adds them once per move id, or refuses (ended, not in the lineup) and
  remembers that (move_in.lua); the brand marks the move ``applied``, or ``reversed``
  with the units back on hand (move_settle.lua).
- from a show: the brand records the intent ``returning`` (move_intent.lua); the show
  takes up to the units asked (never held or sold units) once per move id and
  remembers how many (move_out.lua); the brand credits exactly that many, once, and
  marks the move ``returned`` (move_settle.lua).

Every step answers a retry with what it did the first time, so a caller that dies
between steps leaves a pending move that ``sweep_inventory`` (every node runs it)
finishes by running the remaining steps again. For every tracked sku, on hand + units
in moves not yet settled + the sku's allocation over the brand's shows is constant.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from livecart.commerce.catalog.products import get_sellable
from livecart.commerce.sales.keys import sale_keys
from livecart.errors import Conflict, InvalidInput, LivecartError, NotFound
from livecart.runtime import Runtime
from livecart.store import keys
from livecart.store.clock import redis_now_ms

log = logging.getLogger("livecart.inventory")

MAX_ON_HAND = 1_000_000_000
SETTLE_AFTER_MS = 5_000  # a pending move this old is the sweep's to finish
SWEEP_INTERVAL_S = 2.0
SWEEP_BATCH = 200  # pending moves finished per brand per pass
# An ended show stays watched this long after it ended: units a cancelled order puts
# back into it still reach the brand. After that, only a new move brings it back.
ENDED_SHOW_WATCH_MS = 30 * 24 * 3600 * 1000
# A settled move is remembered this long (a retry with its id within it is answered, not
# moved again); then its records in the brand's and the show's slots are dropped, so
# neither grows without bound (invariant 7).
MOVE_RETENTION_MS = 7 * 24 * 3600 * 1000

FINAL_STATES = ("applied", "reversed", "returned")

_REFUSALS: dict[str, tuple[type[LivecartError], str, str | None]] = {
    "not_found": (NotFound, "the show does not exist", "show"),
    "show_ended": (Conflict, "the show has ended", None),
    "not_in_lineup": (NotFound, "the product is not in this show's lineup", "sku"),
    "not_enough_stock": (Conflict, "the show does not have that many units available", None),
}


def _refused(code: str) -> LivecartError:
    kind, message, field = _REFUSALS[code]
    return kind(message, field=field, code=code)


@dataclass(frozen=True)
class Move:
    """One move as the brand's record has it. ``units`` is what was asked (None: all of
    the show's stock); ``moved`` what reached its side once settled."""

    id: str
    kind: str  # "to_show" | "from_show"
    show: str
    sku: str
    units: int | None
    exact: bool
    state: str  # "taken" -> "applied" | "reversed"; "returning" -> "returned"
    moved: int
    reason: str | None  # the show's refusal code, when it refused
    created_at_ms: int
    updated_at_ms: int

    @classmethod
    def from_json(cls, raw: str | bytes) -> Move:
        d = orjson.loads(raw)
        units = int(d["units"])
        return cls(
            id=d["id"],
            kind=d["kind"],
            show=d["show"],
            sku=d["sku"],
            units=None if units < 0 else units,
            exact=bool(d.get("exact", False)),
            state=d["state"],
            moved=int(d["moved"]),
            reason=d["reason"] or None,
            created_at_ms=int(d["created_ms"]),
            updated_at_ms=int(d["updated_ms"]),
        )

    @property
    def settled(self) -> bool:
        return self.state in FINAL_STATES

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "show": self.show,
            "sku": self.sku,
            "units": self.units,
            "state": self.state,
            "moved": self.moved,
            "reason": self.reason,
            "created_at_ms": self.created_at_ms,
            "updated_at_ms": self.updated_at_ms,
        }


@dataclass(frozen=True)
class MoveResult:
    move: Move
    created: bool  # False: the id named a move made before, answered as it stands


def new_move_id() -> str:
    """A fresh move id, for a caller that gave none."""
    return f"mv-{secrets.token_hex(12)}"


def derived_move_id(*parts: str) -> str:
    """A move id made from what identifies the move (a show, a sku, a purpose), so a
    request retried, or two nodes' sweeps seeing the same state, ask for one move."""
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:40]
    return f"mv-{digest}"


def _brand_keys(brand: str) -> list[str]:
    return [
        keys.brand_inventory(brand),
        keys.brand_moves(brand),
        keys.brand_moves_pending(brand),
        keys.brand_move_shows(brand),
        keys.brand_moves_settled(brand),
    ]


def _show_keys(show: str) -> list[str]:
    return [*sale_keys(show), keys.show_moves(show)]


def _maxlen(runtime: Runtime) -> int:
    return runtime.settings.hub.stream_max_events


async def is_tracked(redis: Redis, brand: str, sku: str) -> bool:
    """True when the brand keeps ``sku`` in inventory (its units reach shows by moves)."""
    return bool(await redis.hexists(keys.brand_inventory(brand), sku))


async def _check_brand_sku(redis: Redis, brand: str, sku: str) -> None:
    """Refuse (naming ``sku``) a sku that is not one of ``brand``'s sellable skus: 404
    when nothing sells under it, 400 for a product sold by variants or another brand's."""
    sellable = await get_sellable(redis, sku)
    if sellable.product.brand != brand:
        raise InvalidInput(
            f"product {sku!r} belongs to brand {sellable.product.brand!r}, not {brand!r}",
            field="sku",
        )


# --- on hand ------------------------------------------------------------------------


async def set_on_hand(runtime: Runtime, brand: str, sku: str, units: int) -> int:
    """Set the units on hand after a stock count (the sku becomes tracked); returns the
    units on hand before (0 when it was not tracked). Units in flight are not counted
    on hand: a count taken while a move runs is the merchant's to reconcile."""
    redis = runtime.redis
    await _check_brand_sku(redis, brand, sku)
    if not await is_tracked(redis, brand, sku):
        await _watch_shows_selling(redis, brand, sku)
    # The brand index spans brands: written beside the brand's own key, never by a
    # brand script (invariant 6); SADD is idempotent.
    await redis.sadd(keys.inventory_brands(), brand)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hget(keys.brand_inventory(brand), sku)
        pipe.hset(keys.brand_inventory(brand), sku, units)
        before, _ = await pipe.execute()
    return int(before or 0)


async def _watch_shows_selling(redis: Redis, brand: str, sku: str) -> None:
    """A sku that becomes tracked may already be in shows, given units the old way: the
    sweep watches those shows too, so their unsold units come back when they end."""
    shows: list[str] = await redis.zrange(keys.brand_shows(brand), 0, -1)  # type: ignore[assignment]
    if not shows:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for show in shows:
            pipe.hexists(keys.show_lineup(show), sku)
        selling = await pipe.execute()
    watched = [show for show, has in zip(shows, selling, strict=True) if has]
    if watched:
        now = await redis_now_ms(redis)
        await redis.zadd(keys.brand_move_shows(brand), dict.fromkeys(watched, now), nx=True)


async def inventory_report(runtime: Runtime, brand: str) -> list[dict[str, Any]]:
    """Per tracked sku: units on hand, units out in shows (available or held there, not
    sold) and units in moves not yet settled. The shows are read after the inventory,
    not atomically with it: a move running meanwhile may show on one side only."""
    redis = runtime.redis
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hgetall(keys.brand_inventory(brand))
        pipe.zrange(keys.brand_move_shows(brand), 0, -1)
        pipe.zrange(keys.brand_moves_pending(brand), 0, -1)
        on_hand, shows, pending = await pipe.execute()
    skus = sorted(on_hand)
    out = dict.fromkeys(skus, 0)
    if skus and shows:
        async with redis.pipeline(transaction=False) as pipe:
            for show in shows:
                pipe.hmget(keys.show_stock(show), skus)
                pipe.hmget(keys.show_held(show), skus)
            counts = await pipe.execute()
        for stock, held in zip(counts[0::2], counts[1::2], strict=True):
            for sku, available, holding in zip(skus, stock, held, strict=True):
                out[sku] += int(available or 0) + int(holding or 0)
    in_flight = dict.fromkeys(skus, 0)
    if pending:
        raws = await redis.hmget(keys.brand_moves(brand), pending)
        for raw in raws:
            if raw is None:
                continue
            move = Move.from_json(raw)
            if move.kind == "to_show" and move.sku in in_flight:
                in_flight[move.sku] += move.units or 0
    return [
        {
            "sku": sku,
            "on_hand": int(on_hand[sku]),
            "in_shows": out[sku],
            "moving_to_shows": in_flight[sku],
        }
        for sku in skus
    ]


# --- moves --------------------------------------------------------------------------


@dataclass(frozen=True)
class _ShowFacts:
    brand: str
    state: str
    in_lineup: bool


async def _show_facts(redis: Redis, show: str, sku: str) -> _ShowFacts:
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hmget(keys.show(show), ["brand", "state"])
        pipe.hexists(keys.show_lineup(show), sku)
        (brand, state), in_lineup = await pipe.execute()
    if brand is None:
        raise _refused("not_found")
    return _ShowFacts(brand=brand, state=state, in_lineup=bool(in_lineup))


async def _checked(redis: Redis, show: str, sku: str, move_id: str | None, *, to_show: bool) -> str:
    """The show's brand, after refusing early (nothing written) what the scripts would
    refuse: a sku not the brand's, not in the lineup, a show that ended (for a move to
    it), a sku the brand does not track. The scripts check again: these can change.
    A move id the brand already knows skips these: the move is answered as it stands
    (a retry after the show ended must hear how its move ended, not be turned away)."""
    facts = await _show_facts(redis, show, sku)
    if move_id is not None and await redis.hexists(keys.brand_moves(facts.brand), move_id):
        return facts.brand
    await _check_brand_sku(redis, facts.brand, sku)
    if not facts.in_lineup:
        raise _refused("not_in_lineup")
    if to_show and facts.state == "ended":
        raise _refused("show_ended")
    if not await is_tracked(redis, facts.brand, sku):
        raise _not_tracked(facts.brand, sku)
    return facts.brand


def _not_tracked(brand: str, sku: str) -> Conflict:
    return Conflict(
        f"brand {brand!r} does not keep {sku!r} in inventory; "
        f"set its units on hand first (PUT /api/brands/{brand}/inventory/{sku})",
        field="sku",
        code="not_tracked",
    )


def _brand_refusal(reply: list[Any], brand: str, sku: str, move_id: str) -> LivecartError:
    code = reply[1]
    if code == "not_tracked":
        return _not_tracked(brand, sku)
    if code == "insufficient_inventory":
        return Conflict(
            f"brand {brand!r} has {int(reply[2])} units of {sku!r} on hand",
            field="sku",
            code="insufficient_inventory",
        )
    return Conflict(f"move id {move_id!r} was used for another move", field="id")


async def move_to_show(
    runtime: Runtime, show: str, sku: str, units: int, move_id: str | None = None
) -> MoveResult:
    """Move ``units`` of ``sku`` from the show's brand's inventory to the show.

    Refused with nothing changed: an unknown sku, one of another brand, one not in the
    lineup, an ended show, an untracked sku, fewer units on hand (409
    ``insufficient_inventory`` naming sku). A show that refuses after the units were
    taken (it ended meanwhile) gets the move reversed, and the refusal is raised.
    """
    brand = await _checked(runtime.redis, show, sku, move_id, to_show=True)
    move_id = move_id or new_move_id()
    return await _begin_and_finish(runtime, brand, "move_take", [move_id, show, sku, units])


async def return_from_show(
    runtime: Runtime,
    show: str,
    sku: str,
    units: int | None = None,
    move_id: str | None = None,
    *,
    exact: bool = False,
) -> MoveResult:
    """Move unsold, unheld units of ``sku`` from the show back to its brand's inventory:
    up to ``units``, or all of the show's stock of it when None. With ``exact``, fewer
    than ``units`` available is refused (``not_enough_stock``) and nothing moves."""
    brand = await _checked(runtime.redis, show, sku, move_id, to_show=False)
    if exact and units is not None and move_id is None:
        # Refuse early what move_out would refuse, so a refusal records no move (the
        # script still checks: a buy may take the stock in between).
        available = int(await runtime.redis.hget(keys.show_stock(show), sku) or 0)
        if available < units:
            raise _refused("not_enough_stock")
    move_id = move_id or new_move_id()
    return await _return(runtime, brand, show, sku, units, move_id, exact=exact)


async def _return(
    runtime: Runtime,
    brand: str,
    show: str,
    sku: str,
    units: int | None,
    move_id: str,
    *,
    exact: bool = False,
) -> MoveResult:
    args = [move_id, show, sku, -1 if units is None else units, "1" if exact else "0"]
    return await _begin_and_finish(runtime, brand, "move_intent", args)


async def _begin_and_finish(
    runtime: Runtime, brand: str, script: str, args: list[Any]
) -> MoveResult:
    move_id, sku = args[0], args[2]
    reply = await runtime.scripts[script](keys=_brand_keys(brand), args=args)
    if reply[0] == "refused":
        raise _brand_refusal(reply, brand, sku, move_id)
    move = await finish_move(runtime, brand, Move.from_json(reply[1]))
    _raise_refusal_of(move)
    return MoveResult(move=move, created=reply[0] != "exists")


def _raise_refusal_of(move: Move) -> None:
    """A move the show refused is answered with the show's refusal, on a retry too."""
    if move.reason and move.reason in _REFUSALS:
        raise _refused(move.reason)


async def finish_move(runtime: Runtime, brand: str, move: Move) -> Move:
    """Run what is left of ``move``: the show's step (answered from the show's memory
    when it already ran) and the brand's settlement. Safe to run any number of times,
    by any number of nodes at once; returns the move as settled."""
    if move.settled:
        return move
    if move.kind == "to_show":
        reply = await runtime.scripts["move_in"](
            keys=_show_keys(move.show),
            args=[move.id, move.sku, move.units or 0, _maxlen(runtime)],
        )
        applied, _, code = _outcome(reply)
        settle: list[str | int] = ["applied", 0, ""] if applied else ["reversed", 0, code]
    else:
        units = -1 if move.units is None else move.units
        reply = await runtime.scripts["move_out"](
            keys=_show_keys(move.show),
            args=[move.id, move.sku, units, "1" if move.exact else "0", _maxlen(runtime)],
        )
        _, taken, code = _outcome(reply)
        settle = ["returned", taken, code]
    settled = await runtime.scripts["move_settle"](keys=_brand_keys(brand), args=[move.id, *settle])
    if settled[0] == "missing":  # the record cannot vanish while pending; say so loudly
        raise RuntimeError(f"inventory move {move.id} of brand {brand} has no record")
    return Move.from_json(settled[1])


def _outcome(reply: list[Any]) -> tuple[bool, int, str]:
    """(applied, units taken from the show, refusal code or '') from a show step's
    reply, or from the outcome it stored the first time (``seen``)."""
    if reply[0] == "seen":
        kind, _, rest = str(reply[1]).partition(":")
        if kind == "applied":
            return True, 0, ""
        if kind == "refused":
            return False, 0, rest
        taken, _, code = rest.partition(":")
        return False, int(taken), code
    if reply[0] == "applied":
        return True, 0, ""
    if reply[0] == "refused":
        return False, 0, str(reply[1])
    return False, int(reply[1]), str(reply[2])


async def get_move(redis: Redis, brand: str, move_id: str) -> Move | None:
    raw = await redis.hget(keys.brand_moves(brand), move_id)
    return None if raw is None else Move.from_json(raw)


# --- the sweep ----------------------------------------------------------------------


@dataclass
class SweepReport:
    finished: int = 0  # pending moves this pass settled
    returned: int = 0  # units brought back from ended shows
    forgotten: int = 0  # settled moves past MOVE_RETENTION_MS, dropped


async def sweep_inventory(
    runtime: Runtime,
    *,
    settle_after_ms: int = SETTLE_AFTER_MS,
    retention_ms: int = MOVE_RETENTION_MS,
) -> SweepReport:
    """One pass over every brand that tracks inventory: finish moves pending longer
    than ``settle_after_ms`` (their caller died, or Redis did under it), then bring
    back the stock of tracked skus from the brand's ended shows."""
    redis = runtime.redis
    report = SweepReport()
    brands: set[str] = await redis.smembers(keys.inventory_brands())  # type: ignore[assignment]
    for brand in sorted(brands):
        now = await redis_now_ms(redis)
        due: list[str] = await redis.zrangebyscore(  # type: ignore[assignment]
            keys.brand_moves_pending(brand), "-inf", now - settle_after_ms, start=0, num=SWEEP_BATCH
        )
        for move_id in due:
            move = await get_move(redis, brand, move_id)
            if move is None:
                continue
            await finish_move(runtime, brand, move)
            report.finished += 1
        report.forgotten += await _forget_settled_moves(redis, brand, now - retention_ms)
        try:
            report.returned += await _return_ended_shows_stock(runtime, brand, now)
        except LivecartError as exc:  # one brand's refusal must not stop the others'
            log.warning("inventory sweep: brand %s: %s", brand, exc)
    return report


async def _forget_settled_moves(redis: Redis, brand: str, settled_before_ms: int) -> int:
    """Drop up to SWEEP_BATCH moves settled before ``settled_before_ms``: the show's
    memory of the move first, then the brand's record. In that order, a crash between
    leaves the brand's record, which still answers its id, and the next pass finishes."""
    old: list[str] = await redis.zrangebyscore(  # type: ignore[assignment]
        keys.brand_moves_settled(brand), "-inf", settled_before_ms, start=0, num=SWEEP_BATCH
    )
    for move_id in old:
        move = await get_move(redis, brand, move_id)
        if move is not None:
            await redis.hdel(keys.show_moves(move.show), move_id)
        async with redis.pipeline(transaction=True) as pipe:
            pipe.hdel(keys.brand_moves(brand), move_id)
            pipe.zrem(keys.brand_moves_settled(brand), move_id)
            await pipe.execute()
    return len(old)


async def _return_ended_shows_stock(runtime: Runtime, brand: str, now: int) -> int:
    """Return the stock of tracked skus from the brand's ended shows; forget a show
    that ended more than ENDED_SHOW_WATCH_MS ago and holds none of it any more."""
    redis = runtime.redis
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hkeys(keys.brand_inventory(brand))
        pipe.zrange(keys.brand_move_shows(brand), 0, -1)
        skus, shows = await pipe.execute()
    if not skus:
        return 0
    returned = 0
    for show in shows:
        moved, done_with = await _return_if_ended(runtime, brand, show, skus, now)
        returned += moved
        if done_with:
            await redis.zrem(keys.brand_move_shows(brand), show)
    return returned


async def _return_if_ended(
    runtime: Runtime, brand: str, show: str, skus: list[str], now: int
) -> tuple[int, bool]:
    """When ``show`` has ended, return its stock of ``skus`` to ``brand``. Returns the
    units this call moved, and whether the show can be forgotten (gone, or ended more
    than ENDED_SHOW_WATCH_MS ago with none of the skus available or held)."""
    redis = runtime.redis
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hmget(keys.show(show), ["state", "ended_at"])
        for key in (keys.show_stock, keys.show_held, keys.show_sold, keys.show_allocated):
            pipe.hmget(key(show), skus)
        (state, ended_at), stock, held, sold, allocated = await pipe.execute()
    if state is None:
        return 0, True
    if state != "ended":
        return 0, False
    returned = 0
    for i, sku in enumerate(skus):
        if int(stock[i] or 0) <= 0:
            continue
        # The id names this state of the show: two sweeps that saw it ask for one
        # move. An ended show's allocation only shrinks, so a state never comes back.
        move_id = derived_move_id(
            "ended", show, sku, *(str(c[i] or 0) for c in (allocated, stock, held, sold))
        )
        result = await _return(runtime, brand, show, sku, None, move_id)
        returned += result.move.moved if result.created else 0
    left = sum(int(n or 0) for n in (*stock, *held))
    return returned, left == 0 and bool(ended_at) and now - int(ended_at) > ENDED_SHOW_WATCH_MS


async def return_ended_show_stock(runtime: Runtime, show: str) -> int:
    """Right after a show ends: return its stock of the skus its brand tracks (the
    sweep would, a moment later; both ask for the same moves). Returns units moved."""
    redis = runtime.redis
    brand: str | None = await redis.hget(keys.show(show), "brand")  # type: ignore[assignment]
    if brand is None:
        return 0
    skus: list[str] = await redis.hkeys(keys.brand_inventory(brand))  # type: ignore[assignment]
    if not skus:
        return 0
    moved, _ = await _return_if_ended(runtime, brand, show, skus, await redis_now_ms(redis))
    return moved


# --- what a show's lineup and restocks ask of a tracked sku --------------------------


def lineup_move_id(show: str, sku: str) -> str:
    """The id of the move that gives a tracked sku its first units in a show (at the
    show's creation or when it joins the lineup): one per show and sku, so a retried
    request moves them once."""
    return derived_move_id("lineup", show, sku)


async def tracked_of(redis: Redis, brand: str, skus: list[str]) -> dict[str, int]:
    """The skus among ``skus`` that ``brand`` tracks, with their units on hand."""
    if not skus:
        return {}
    counts = await redis.hmget(keys.brand_inventory(brand), skus)
    return {sku: int(n) for sku, n in zip(skus, counts, strict=True) if n is not None}


def require_on_hand(brand: str, sku: str, on_hand: int, units: int, *, field: str = "sku") -> None:
    """Refuse early (409 ``insufficient_inventory`` naming ``field``, the request's name
    for the sku) a request that needs more units of a tracked sku than are on hand."""
    if on_hand < units:
        raise Conflict(
            f"brand {brand!r} has {on_hand} units of {sku!r} on hand, not {units}",
            field=field,
            code="insufficient_inventory",
        )


async def run_inventory_sweep(runtime: Runtime) -> None:
    """Every node runs this; any number may at once (every step is keyed by move id)."""
    while True:
        try:
            report = await sweep_inventory(runtime)
            if report.finished or report.returned:
                log.info(
                    "inventory sweep: finished %d pending moves, returned %d units of ended shows",
                    report.finished,
                    report.returned,
                )
        except RedisError as exc:
            log.warning("inventory sweep: Redis did not answer (%s); trying again", exc)
        await asyncio.sleep(SWEEP_INTERVAL_S)
