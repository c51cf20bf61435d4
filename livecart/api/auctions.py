"""Auctions and giveaways over HTTP: the streamer (token) or the merchant (API key) runs
them, moderators cancel them and remove bidders, viewers bid, enter and accept a second
chance with their token, the merchant lists auctions and their bids. The same actions
as the hub's messages (docs/protocol.md), through the same functions.

A bid that did not lead is not an error of the request: it answers 200 with its
``result`` (``bid_too_low`` and the new next bid, ``auction_ended``, ...), as a buy does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from livecart import validation as v
from livecart.api.checkout import outcome_response
from livecart.api.edge import authorized, buyer_of, json_response, runtime_of, staff_actor
from livecart.api.endpoint import Body, endpoint
from livecart.auth.roles import Action
from livecart.commerce.auctions import auctions, awards, giveaways
from livecart.commerce.shows.control import MAX_REASON
from livecart.config import Settings
from livecart.errors import TokenMissing


def _ids(request: Request, *names: str) -> list[str]:
    return [request.path_params[name] for name in names]  # checked by the endpoint


def _bid(d: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    return dict(d)


def _reason(d: Mapping[str, Any], settings: Settings) -> str:
    return v.text(d, "reason", max_len=MAX_REASON, default="")


def _seconds(d: Mapping[str, Any], settings: Settings) -> int | None:
    return v.whole(d, "seconds", lo=10, hi=3600) if "seconds" in d else None


AUCTION_START = Body(
    "an auction", auctions.AuctionStart.FIELDS, lambda d, s: auctions.AuctionStart.from_dict(d)
)
GIVEAWAY_START = Body(
    "a giveaway", giveaways.GiveawayStart.FIELDS, lambda d, s: giveaways.GiveawayStart.from_dict(d)
)
BID = Body("a bid", ("amount", "max"), _bid)
REASON = Body("a reason", ("reason",), _reason)
OFFER = Body("an offer", ("seconds",), _seconds)


def _staff_reader(request: Request, show: str) -> None:
    """The merchant (API key) or the show's staff: bids name who bid."""
    staff_actor(request, Action.STOP_AUCTION, show)


# -- auctions ---------------------------------------------------------------------------


async def start_auction(request: Request, start: auctions.AuctionStart) -> Response:
    (show,) = _ids(request, "show")
    staff_actor(request, Action.RUN_AUCTION, show)
    view = await auctions.start_auction(runtime_of(request), show, start)
    return json_response(view, status=201)


async def list_auctions(request: Request) -> Response:
    (show,) = _ids(request, "show")
    _staff_reader(request, show)
    return json_response({"auctions": await auctions.list_auctions(runtime_of(request), show)})


async def get_auction(request: Request) -> Response:
    """Anyone who may watch; the read closes an auction whose end has passed."""
    show, auction = _ids(request, "show", "auction")
    authorized(request, Action.WATCH, show)
    return json_response(await awards.look(runtime_of(request), show, "auction", auction))


async def list_bids(request: Request) -> Response:
    show, auction = _ids(request, "show", "auction")
    _staff_reader(request, show)
    bids = await auctions.list_bids(runtime_of(request), show, auction)
    return json_response({"bids": bids})


async def place_bid(request: Request, body: dict[str, Any]) -> Response:
    show, auction = _ids(request, "show", "auction")
    bidder = _bidder(request, show)
    bid = auctions.BidRequest.from_dict(body, auction=auction)
    outcome = await auctions.place_bid(runtime_of(request), show, bidder, bid)
    return json_response(outcome.to_dict())


def _bidder(request: Request, show: str) -> str:
    claims = authorized(request, Action.BID, show)
    if claims is None:
        raise TokenMissing("bidding needs a token")
    return claims.sub


async def cancel_auction(request: Request, reason: str) -> Response:
    show, auction = _ids(request, "show", "auction")
    actor = staff_actor(request, Action.STOP_AUCTION, show)
    view = await auctions.cancel_auction(runtime_of(request), show, auction, reason, actor)
    return json_response(view)


async def remove_bidder(request: Request) -> Response:
    show, auction, user = _ids(request, "show", "auction", "user")
    actor = staff_actor(request, Action.STOP_AUCTION, show)
    view = await auctions.remove_bidder(runtime_of(request), show, auction, user, actor)
    return json_response(view)


async def offer(request: Request, seconds: int | None) -> Response:
    show, auction = _ids(request, "show", "auction")
    staff_actor(request, Action.RUN_AUCTION, show)
    made = await auctions.offer_second_chance(runtime_of(request), show, auction, seconds)
    return json_response(made, status=201)


async def accept(request: Request) -> Response:
    show, auction = _ids(request, "show", "auction")
    buyer = buyer_of(request, show)
    return outcome_response(await auctions.accept_offer(runtime_of(request), show, auction, buyer))


async def release_auction(request: Request) -> Response:
    show, auction = _ids(request, "show", "auction")
    actor = staff_actor(request, Action.RUN_AUCTION, show)
    return json_response(await auctions.release(runtime_of(request), show, auction, actor))


# -- giveaways --------------------------------------------------------------------------


async def start_giveaway(request: Request, start: giveaways.GiveawayStart) -> Response:
    (show,) = _ids(request, "show")
    staff_actor(request, Action.RUN_AUCTION, show)
    view = await giveaways.start_giveaway(runtime_of(request), show, start)
    return json_response(view, status=201)


async def list_giveaways(request: Request) -> Response:
    (show,) = _ids(request, "show")
    _staff_reader(request, show)
    return json_response({"giveaways": await giveaways.list_giveaways(runtime_of(request), show)})


async def get_giveaway(request: Request) -> Response:
    show, giveaway = _ids(request, "show", "giveaway")
    authorized(request, Action.WATCH, show)
    return json_response(await awards.look(runtime_of(request), show, "giveaway", giveaway))


async def enter(request: Request) -> Response:
    show, giveaway = _ids(request, "show", "giveaway")
    user = _bidder(request, show)
    entry = await giveaways.enter(runtime_of(request), show, giveaway, user)
    if entry.refusal is not None:
        raise giveaways.EntryRefused(entry.refusal)
    body = {"entered": entry.entered, "entrants": entry.giveaway["entrants"]}
    return json_response(body | {"giveaway": entry.giveaway}, status=201 if entry.entered else 200)


async def draw(request: Request) -> Response:
    show, giveaway = _ids(request, "show", "giveaway")
    staff_actor(request, Action.RUN_AUCTION, show)
    return json_response(await giveaways.draw(runtime_of(request), show, giveaway))


async def redraw(request: Request) -> Response:
    show, giveaway = _ids(request, "show", "giveaway")
    staff_actor(request, Action.RUN_AUCTION, show)
    return json_response(await giveaways.draw(runtime_of(request), show, giveaway, redraw=True))


async def cancel_giveaway(request: Request, reason: str) -> Response:
    show, giveaway = _ids(request, "show", "giveaway")
    actor = staff_actor(request, Action.STOP_AUCTION, show)
    view = await giveaways.cancel_giveaway(runtime_of(request), show, giveaway, reason, actor)
    return json_response(view)


async def release_giveaway(request: Request) -> Response:
    show, giveaway = _ids(request, "show", "giveaway")
    actor = staff_actor(request, Action.RUN_AUCTION, show)
    return json_response(await giveaways.release(runtime_of(request), show, giveaway, actor))


SHOW = ("show",)
A = "/api/shows/{show}/auctions/{auction}"
G = "/api/shows/{show}/giveaways/{giveaway}"
routes = [
    endpoint("/api/shows/{show}/auctions", "POST", start_auction, body=AUCTION_START, exists=SHOW),
    endpoint("/api/shows/{show}/auctions", "GET", list_auctions, exists=SHOW),
    endpoint(A, "GET", get_auction),
    endpoint(f"{A}/bids", "GET", list_bids, exists=SHOW),
    endpoint(f"{A}/bids", "POST", place_bid, body=BID),
    endpoint(f"{A}/cancel", "POST", cancel_auction, body=REASON),
    endpoint(f"{A}/bidders/{{user}}", "DELETE", remove_bidder),
    endpoint(f"{A}/offer", "POST", offer, body=OFFER),
    endpoint(f"{A}/accept", "POST", accept),
    endpoint(f"{A}/release", "POST", release_auction),
    endpoint(
        "/api/shows/{show}/giveaways", "POST", start_giveaway, body=GIVEAWAY_START, exists=SHOW
    ),
    endpoint("/api/shows/{show}/giveaways", "GET", list_giveaways, exists=SHOW),
    endpoint(G, "GET", get_giveaway),
    endpoint(f"{G}/entries", "POST", enter),
    endpoint(f"{G}/draw", "POST", draw),
    endpoint(f"{G}/redraw", "POST", redraw),
    endpoint(f"{G}/cancel", "POST", cancel_giveaway, body=REASON),
    endpoint(f"{G}/release", "POST", release_giveaway),
]
