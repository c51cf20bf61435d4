"""Giveaways: the streamer gives one unit away; viewers enter with one tap while it runs
(one entry each, banned viewers refused); at the end (Redis TIME) or when the streamer
draws, the script picks the winner uniformly among the entrants, and the winner gets
an order at price 0 (shipping free, or paid by the winner with their card)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from livecart import validation as v
from livecart.commerce.auctions import awards
from livecart.commerce.auctions.auctions import (
    MAX_DURATION_S,
    MAX_LISTED,
    MIN_DURATION_S,
    bidder_of,
    new_id,
)
from livecart.commerce.auctions.keys import award_keys
from livecart.errors import Conflict, InvalidInput
from livecart.runtime import Runtime
from livecart.store import keys

SHIPPING = ("free", "winner_pays")


@dataclass(frozen=True)
class GiveawayStart:
    FIELDS: ClassVar[tuple[str, ...]] = ("sku", "duration_s", "shipping")

    sku: str
    duration_s: int
    shipping: str

    @classmethod
    def from_dict(cls, data: object) -> GiveawayStart:
        d = v.require_mapping(data, "body")
        shipping = d.get("shipping", "free")
        if shipping not in SHIPPING:
            raise InvalidInput(f"shipping must be one of {', '.join(SHIPPING)}", field="shipping")
        return cls(
            sku=keys.check_id(d.get("sku"), "sku"),
            duration_s=v.whole(d, "duration_s", lo=MIN_DURATION_S, hi=MAX_DURATION_S),
            shipping=shipping,
        )


async def start_giveaway(runtime: Runtime, show: str, start: GiveawayStart) -> dict[str, Any]:
    giveaway = new_id("g")
    reply = await awards.run(
        runtime,
        "giveaway_start",
        show,
        "giveaway",
        giveaway,
        giveaway,
        start.sku,
        start.duration_s * 1000,
        start.shipping,
        awards.maxlen(runtime),
    )
    view: dict[str, Any] = orjson.loads(reply[1])
    return view


class EntryRefused(Conflict):
    """An entry the page explains: the giveaway ended, the viewer is banned, ..."""

    MESSAGES: ClassVar[dict[str, str]] = {
        "giveaway_ended": "the giveaway has ended",
        "giveaway_cancelled": "the giveaway was cancelled",
        "banned": "you were banned from this show; you cannot enter its giveaways",
        "not_live": "the show is not live",
        "giveaway_full": "the giveaway has taken all the entries it can",
    }

    def __init__(self, code: str) -> None:
        super().__init__(self.MESSAGES[code], code=code)


@dataclass(frozen=True)
class Entry:
    entered: bool  # False: this user was already in (an entry counts once)
    giveaway: dict[str, Any]
    refusal: str | None = None  # one of EntryRefused.MESSAGES


async def enter(runtime: Runtime, show: str, giveaway: str, user: str) -> Entry:
    entrant = await bidder_of(runtime, user)
    reply: list[Any] = await runtime.scripts["giveaway_enter"](
        keys=award_keys(show, "giveaway", giveaway),
        args=[
            user,
            entrant.name,
            awards.maxlen(runtime),
            awards.lease_ms(runtime),
            awards.rand52(),
            runtime.settings.auctions.max_entrants,
        ],
    )
    if reply[0] == "refused":
        code = reply[1]
        if code in ("not_found", "no_giveaway"):
            raise awards.refused(code)
        if len(reply) > 3 and reply[3]:
            awards.settle_soon(runtime, show, "giveaway", orjson.loads(reply[3]))
        return Entry(False, orjson.loads(reply[2]), refusal=code)
    return Entry(reply[0] == "entered", orjson.loads(reply[1]))


async def draw(runtime: Runtime, show: str, giveaway: str, *, redraw: bool = False) -> Any:
    """End it now and draw (``redraw``: the drawn winner did not pay; draw another among
    those not drawn yet). The winner is charged (or, with nothing to pay, given the
    order) in the background; the reply is the view with the winner."""
    reply = await awards.run(
        runtime,
        "giveaway_draw",
        show,
        "giveaway",
        giveaway,
        awards.maxlen(runtime),
        awards.lease_ms(runtime),
        awards.rand52(),
        "1" if redraw else "0",
    )
    if reply[0] == "charge":
        awards.settle_soon(runtime, show, "giveaway", orjson.loads(reply[2]))
    return orjson.loads(reply[1])


async def cancel_giveaway(runtime: Runtime, show: str, giveaway: str, reason: str, by: str) -> Any:
    reply = await awards.run(
        runtime, "award_cancel", show, "giveaway", giveaway, reason, by, awards.maxlen(runtime)
    )
    return orjson.loads(reply[1])


async def release(runtime: Runtime, show: str, giveaway: str, by: str) -> Any:
    reply = await awards.run(
        runtime, "award_release", show, "giveaway", giveaway, awards.maxlen(runtime), by
    )
    return orjson.loads(reply[1])


async def list_giveaways(runtime: Runtime, show: str) -> list[dict[str, Any]]:
    ids: list[str] = await runtime.redis.zrange(keys.show_giveaways(show), -MAX_LISTED, -1)  # type: ignore[assignment]
    views = [await awards.view(runtime, show, "giveaway", giveaway) for giveaway in ids]
    return [view for view in views if view is not None]
