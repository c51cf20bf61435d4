"""Live auctions: the streamer puts a unit up with a start price, an increment table, a
duration and a mode; viewers bid with one tap, a custom amount or a maximum (proxy
bid); the leader at the end (Redis TIME) wins and is charged at once.

Who may call what is decided at the edge (livecart.auth.roles); these functions trust
their caller. A bid that is not accepted is a result the page shows (``bid_too_low``
with the new next bid), not an error; malformed input is an error and changes nothing.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from weakref import WeakKeyDictionary

import orjson
from redis.asyncio import Redis

from livecart import validation as v
from livecart.commerce.accounts.buyers import profile_from_record
from livecart.commerce.auctions import awards
from livecart.commerce.auctions.keys import award_keys
from livecart.commerce.sales.checkout import Outcome
from livecart.errors import InvalidInput, LivecartError
from livecart.runtime import Runtime
from livecart.store import keys

MIN_DURATION_S = 5
MAX_DURATION_S = 600
MAX_EXTEND_S = 60
MAX_INCREMENT_ROWS = 20
MAX_AMOUNT = 10**11
MODES = ("sudden_death", "extended")
MAX_LISTED = 200

# A bid that did not lead, as the page shows it (the reply's ``result``).
BID_REFUSALS = frozenset(
    {
        "bid_too_low",
        "auction_ended",
        "auction_cancelled",
        "already_leading",
        "removed",
        "banned",
        "not_live",
        "sales_paused",
        "card_required",
        "bid_limit",
    }
)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


def _increments(d: Mapping[str, Any]) -> list[list[int]]:
    """``increment: N`` or ``increments: [[from, step], ...]`` (first from 0, ascending)."""
    if ("increment" in d) == ("increments" in d):
        raise InvalidInput(
            "give either increment (a whole number) or increments (a table of [from, step])",
            field="increment",
        )
    if "increment" in d:
        return [[0, v.whole(d, "increment", lo=1, hi=MAX_AMOUNT)]]
    rows = d["increments"]
    if not isinstance(rows, list) or not 1 <= len(rows) <= MAX_INCREMENT_ROWS:
        raise InvalidInput(
            f"increments must be a list of 1 to {MAX_INCREMENT_ROWS} [from, step] rows",
            field="increments",
        )
    table: list[list[int]] = []
    for i, row in enumerate(rows):
        field = f"increments[{i}]"
        if not (isinstance(row, list) and len(row) == 2):
            raise InvalidInput(f"{field} must be [from, step]", field=field)
        start = v.whole({f"{field}[0]": row[0]}, f"{field}[0]", lo=0, hi=MAX_AMOUNT)
        step = v.whole({f"{field}[1]": row[1]}, f"{field}[1]", lo=1, hi=MAX_AMOUNT)
        if (i == 0 and start != 0) or (table and start <= table[-1][0]):
            raise InvalidInput(
                f"{field}: the first row starts at 0 and each row above the one before",
                field=field,
            )
        table.append([start, step])
    return table


@dataclass(frozen=True)
class AuctionStart:
    FIELDS: ClassVar[tuple[str, ...]] = (
        "sku",
        "start_price",
        "increment",
        "increments",
        "duration_s",
        "mode",
        "extend_s",
    )

    sku: str
    start_price: int
    increments: tuple[tuple[int, int], ...]
    duration_s: int
    mode: str
    extend_s: int

    @classmethod
    def from_dict(cls, data: object) -> AuctionStart:
        d = v.require_mapping(data, "body")
        mode = d.get("mode", "sudden_death")
        if mode not in MODES:
            raise InvalidInput(f"mode must be one of {', '.join(MODES)}", field="mode")
        if mode == "sudden_death" and "extend_s" in d:
            raise InvalidInput("extend_s is for extended auctions only", field="extend_s")
        return cls(
            sku=keys.check_id(d.get("sku"), "sku"),
            start_price=v.whole(d, "start_price", lo=0, hi=MAX_AMOUNT),
            increments=tuple((row[0], row[1]) for row in _increments(d)),
            duration_s=v.whole(d, "duration_s", lo=MIN_DURATION_S, hi=MAX_DURATION_S),
            mode=mode,
            extend_s=v.whole(d, "extend_s", lo=1, hi=MAX_EXTEND_S, default=10)
            if mode == "extended"
            else 0,
        )


async def start_auction(runtime: Runtime, show: str, start: AuctionStart) -> dict[str, Any]:
    auction = new_id("a")
    reply = await awards.run(
        runtime,
        "auction_start",
        show,
        "auction",
        auction,
        auction,
        start.sku,
        start.start_price,
        orjson.dumps([list(row) for row in start.increments]).decode(),
        start.mode,
        start.extend_s * 1000,
        start.duration_s * 1000,
        awards.maxlen(runtime),
    )
    view: dict[str, Any] = orjson.loads(reply[1])
    return view


@dataclass(frozen=True)
class BidRequest:
    FIELDS: ClassVar[tuple[str, ...]] = ("auction", "amount", "max")

    auction: str
    amount: int
    max: int  # 0: a plain bid; else a proxy bid up to it

    @classmethod
    def from_dict(cls, data: object, *, auction: str | None = None) -> BidRequest:
        d = v.require_mapping(data, "body")
        amount = v.whole(d, "amount", lo=1, hi=MAX_AMOUNT)
        most = 0 if d.get("max") is None else v.whole(d, "max", lo=1, hi=MAX_AMOUNT)
        if most and most < amount:
            raise InvalidInput("max must be at least the amount bid now", field="max")
        named = auction if auction is not None else d.get("auction")
        return cls(auction=keys.check_id(named, "auction"), amount=amount, max=most)


@dataclass(frozen=True)
class BidOutcome:
    result: str  # "leading", "outbid", "max_raised", or one of BID_REFUSALS
    auction: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {"result": self.result, "auction": self.auction}


async def place_bid(runtime: Runtime, show: str, user: str, request: BidRequest) -> BidOutcome:
    """One bid. Where the provider charges a saved card, a bidder without one is refused
    first (``card_required``): a win they could not pay for would only wait for a
    second chance. That check reads the buyer's profile, outside the show's slot, so it
    is made before the script; a card removed in between fails at the charge."""
    bidder = await bidder_of(runtime, user)
    if runtime.payments.name == "stripe" and not bidder.has_card:
        return BidOutcome("card_required", None)
    reply: list[Any] = await runtime.scripts["auction_bid"](
        keys=award_keys(show, "auction", request.auction),
        args=[
            user,
            bidder.name,
            request.amount,
            request.max,
            awards.maxlen(runtime),
            awards.lease_ms(runtime),
            runtime.settings.auctions.max_bids,
        ],
    )
    if reply[0] == "refused":
        code = reply[1]
        if code in ("not_found", "no_auction"):
            raise awards.refused(code)
        if len(reply) > 3 and reply[3]:
            awards.settle_soon(runtime, show, "auction", orjson.loads(reply[3]))
        return BidOutcome(code, orjson.loads(reply[2]))
    return BidOutcome(reply[0], orjson.loads(reply[1]))


@dataclass(frozen=True)
class Bidder:
    name: str  # what other viewers see next to the bid
    has_card: bool


# Bidders as last read, for a moment: in a storm each bidder taps several times within
# seconds, and each read is a Redis round trip on the bid path. Bounded (invariant 7).
# A bidder without the card the provider needs is never kept, so a card saved after
# `card_required` counts at the next tap; a new display name shows within BIDDER_TTL_S.
BIDDER_TTL_S = 30.0
MAX_BIDDERS_KEPT = 20_000
# Kept per Redis client, so a node's cache goes with its store (and a test's with its).
_kept: WeakKeyDictionary[Redis, OrderedDict[str, tuple[float, Bidder]]] = WeakKeyDictionary()


async def bidder_of(runtime: Runtime, user: str) -> Bidder:
    """From the buyer's profile: the display name (the user id when there is no profile,
    as for tokens made by an integration) and whether a card is saved."""
    now = time.monotonic()
    bidders = _kept.setdefault(runtime.redis, OrderedDict())
    kept = bidders.get(user)
    if kept is not None and now - kept[0] < BIDDER_TTL_S:
        return kept[1]
    raw = await runtime.redis.get(keys.buyer_profile(user))
    if raw is None:
        bidder = Bidder(user[:40], False)
    else:
        stored = profile_from_record(raw)
        bidder = Bidder(stored.profile.display_name or user[:40], stored.card is not None)
    if bidder.has_card or runtime.payments.name != "stripe":
        bidders[user] = (now, bidder)
        bidders.move_to_end(user)
        while len(bidders) > MAX_BIDDERS_KEPT:
            bidders.popitem(last=False)
    return bidder


async def cancel_auction(runtime: Runtime, show: str, auction: str, reason: str, by: str) -> Any:
    reply = await awards.run(
        runtime, "award_cancel", show, "auction", auction, reason, by, awards.maxlen(runtime)
    )
    return orjson.loads(reply[1])


async def remove_bidder(
    runtime: Runtime, show: str, auction: str, user: str, by: str
) -> dict[str, Any]:
    reply = await awards.run(
        runtime,
        "auction_remove_bidder",
        show,
        "auction",
        auction,
        user,
        by,
        awards.maxlen(runtime),
    )
    view: dict[str, Any] = orjson.loads(reply[1])
    return view


async def withdraw_banned(runtime: Runtime, show: str, user: str, by: str) -> bool:
    """A user banned from the show leaves its running auction as a removed bidder would
    (their maximum dropped, the lead recomputed): the ban's own script refuses their
    later bids, this takes back the bid already in. A separate step after the ban (the
    ban's script does not know the auction); True when they had bid."""
    auction: str | None = await runtime.redis.hget(keys.show(show), "auction_running")  # type: ignore[assignment]
    if not auction:
        return False
    try:
        await remove_bidder(runtime, show, auction, user, by)
    except LivecartError as exc:
        if exc.code in ("not_bidder", "not_running", "no_auction"):
            return False
        raise
    return True


async def offer_second_chance(
    runtime: Runtime, show: str, auction: str, seconds: int | None
) -> dict[str, Any]:
    """Offer the item to the next-best bidder at their maximum, for ``seconds``."""
    seconds = seconds or runtime.settings.auctions.offer_s
    reply = await awards.run(
        runtime, "auction_offer", show, "auction", auction, seconds * 1000, awards.maxlen(runtime)
    )
    offer: dict[str, Any] = orjson.loads(reply[1])
    return offer


async def accept_offer(runtime: Runtime, show: str, auction: str, user: str) -> Outcome:
    """The offered bidder takes it: charged now, like a buy (the reply is the order)."""
    reply = await awards.run(
        runtime,
        "auction_accept",
        show,
        "auction",
        auction,
        user,
        awards.lease_ms(runtime),
        awards.maxlen(runtime),
    )
    return await awards.settle(runtime, show, "auction", orjson.loads(reply[2]))


async def release(runtime: Runtime, show: str, auction: str, by: str) -> dict[str, Any]:
    reply = await awards.run(
        runtime, "award_release", show, "auction", auction, awards.maxlen(runtime), by
    )
    view: dict[str, Any] = orjson.loads(reply[1])
    return view


async def list_auctions(runtime: Runtime, show: str) -> list[dict[str, Any]]:
    """The show's auctions, oldest first (the newest MAX_LISTED)."""
    ids: list[str] = await runtime.redis.zrange(keys.show_auctions(show), -MAX_LISTED, -1)  # type: ignore[assignment]
    views = [await awards.view(runtime, show, "auction", auction) for auction in ids]
    return [view for view in views if view is not None]


async def list_bids(runtime: Runtime, show: str, auction: str) -> list[dict[str, Any]]:
    """Every accepted bid, in order (amount: what the bidder bid; price: where it put
    the auction, a proxy's answer included; leader: who led after it)."""
    if not await runtime.redis.exists(keys.show_auction(show, auction)):
        raise awards.refused("no_auction")
    raw: list[str] = await runtime.redis.lrange(keys.show_auction_bids(show, auction), 0, -1)  # type: ignore[assignment]
    return [orjson.loads(bid) for bid in raw]
