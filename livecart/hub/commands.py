"""What a client may ask over its socket: one entry per message type naming the action
the role must be allowed (livecart.auth.roles decides), the per-user limit it counts
against, the fields it takes, and the code that does it. Every message gets one reply:
an ``ack`` (or an ``order`` for buy and checkout) or an ``error`` with a stable code;
a refused message changes nothing."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisError

from livecart import validation as v
from livecart.auth.roles import Action, authorize
from livecart.commerce.auctions import auctions, giveaways
from livecart.commerce.sales import checkout
from livecart.commerce.shows import control as show_control
from livecart.errors import InvalidInput, LivecartError, RateLimited
from livecart.hub import moderation
from livecart.hub.protocol import Inbound, error_message
from livecart.store.keys import check_id

if TYPE_CHECKING:
    from livecart.hub.connection import HubConnection
    from livecart.hub.node import Hub

Reply = dict[str, Any]
Run = Callable[["Hub", "HubConnection", dict[str, Any]], Awaitable[Reply]]
ENVELOPE = frozenset({"type", "req"})


@dataclass(frozen=True)
class Command:
    action: Action
    fields: frozenset[str]
    run: Run
    limit: str | None = None  # "chat", "buy" or "react": a per-user rate from hub settings
    reply: str = "ack"


def _body(body: dict[str, Any]) -> dict[str, Any]:
    """The message's own fields: the envelope removed."""
    return {k: val for k, val in body.items() if k not in ENVELOPE}


def _actor(conn: HubConnection) -> str:
    assert conn.user is not None  # every action but watching needs a token
    return conn.user


# -- viewers: buying ---------------------------------------------------------------------


async def _buy(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    request = checkout.BuyRequest.from_dict(
        _body(body), max_quantity=hub.settings.checkout.max_quantity
    )
    outcome = await checkout.buy(hub.runtime, conn.show, _actor(conn), request)
    return outcome.to_dict()


async def _checkout(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    key = check_id(body.get("idempotency_key"), "idempotency_key")
    outcome = await checkout.checkout_cart(hub.runtime, conn.show, _actor(conn), key)
    return outcome.to_dict()


async def _cart_add(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    add = checkout.CartAdd.from_dict(_body(body), max_quantity=hub.settings.checkout.max_quantity)
    return {"cart": await checkout.cart_add(hub.runtime, conn.show, _actor(conn), add)}


async def _cart_remove(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    sku = check_id(body.get("sku"), "sku")
    # 0 or no quantity: the whole line, as over HTTP
    quantity = v.whole(body, "quantity", lo=0, hi=hub.settings.checkout.max_quantity, default=0)
    return {"cart": await checkout.cart_remove(hub.runtime, conn.show, _actor(conn), sku, quantity)}


async def _cart_view(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    return {"cart": await checkout.view_cart(hub.runtime, conn.show, _actor(conn))}


# -- viewers: chat and reactions -------------------------------------------------------


async def _chat(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    text = body.get("text")
    if not isinstance(text, str):
        raise InvalidInput("text must be a string", field="text")
    posted = await moderation.post_chat(
        hub.runtime, conn.show, _actor(conn), text, staff=conn.is_staff
    )
    return {"message_id": posted.message_id, "sent_at_ms": posted.sent_at_ms}


async def _react(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    kind = body.get("kind")
    if kind not in moderation.REACTION_KINDS:
        raise InvalidInput(
            f"kind must be one of {', '.join(moderation.REACTION_KINDS)}", field="kind"
        )
    hub.add_reaction(conn.show, kind)
    return {}


# -- streamer ----------------------------------------------------------------------------


async def _pin(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    sku = check_id(body.get("sku"), "sku")
    return {"changed": await show_control.pin_product(hub.runtime, conn.show, sku)}


async def _unpin(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    return {"changed": await show_control.pin_product(hub.runtime, conn.show, None)}


async def _flash_start(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    sale = show_control.FlashSale.from_dict(
        _body(body), max_quantity=hub.settings.checkout.max_quantity
    )
    return {"flash_sale": await show_control.start_flash_sale(hub.runtime, conn.show, sale)}


async def _flash_stop(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    return {"changed": await show_control.end_flash_sale(hub.runtime, conn.show)}


async def _show_start(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    return {"changed": await show_control.start_show(hub.runtime, conn.show)}


async def _show_end(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    return {"changed": await show_control.end_show(hub.runtime, conn.show)}


# -- auctions and giveaways --------------------------------------------------------------


def _item(body: dict[str, Any], kind: str) -> str:
    return check_id(body.get(kind), kind)


async def _bid(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    request = auctions.BidRequest.from_dict(_body(body))
    outcome = await auctions.place_bid(hub.runtime, conn.show, _actor(conn), request)
    return outcome.to_dict()


async def _auction_accept(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    auction = _item(body, "auction")
    outcome = await auctions.accept_offer(hub.runtime, conn.show, auction, _actor(conn))
    return outcome.to_dict()


async def _giveaway_enter(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    entry = await giveaways.enter(hub.runtime, conn.show, _item(body, "giveaway"), _actor(conn))
    if entry.refusal is not None:
        raise giveaways.EntryRefused(entry.refusal)
    return {
        "entered": entry.entered,
        "entrants": entry.giveaway["entrants"],
        "giveaway": entry.giveaway,
    }


async def _auction_start(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    start = auctions.AuctionStart.from_dict(_body(body))
    return {"auction": await auctions.start_auction(hub.runtime, conn.show, start)}


async def _auction_offer(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    seconds = v.whole(body, "seconds", lo=10, hi=3600, default=0) if "seconds" in body else None
    offer = await auctions.offer_second_chance(
        hub.runtime, conn.show, _item(body, "auction"), seconds
    )
    return {"offer": offer}


async def _auction_release(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    view = await auctions.release(hub.runtime, conn.show, _item(body, "auction"), _actor(conn))
    return {"auction": view}


async def _auction_cancel(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    reason = v.text(body, "reason", max_len=show_control.MAX_REASON, default="")
    view = await auctions.cancel_auction(
        hub.runtime, conn.show, _item(body, "auction"), reason, _actor(conn)
    )
    return {"auction": view}


async def _auction_remove_bidder(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    view = await auctions.remove_bidder(
        hub.runtime, conn.show, _item(body, "auction"), _user(body), _actor(conn)
    )
    return {"auction": view}


async def _giveaway_start(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    start = giveaways.GiveawayStart.from_dict(_body(body))
    return {"giveaway": await giveaways.start_giveaway(hub.runtime, conn.show, start)}


async def _giveaway_draw(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    return {"giveaway": await giveaways.draw(hub.runtime, conn.show, _item(body, "giveaway"))}


async def _giveaway_redraw(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    view = await giveaways.draw(hub.runtime, conn.show, _item(body, "giveaway"), redraw=True)
    return {"giveaway": view}


async def _giveaway_release(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    view = await giveaways.release(hub.runtime, conn.show, _item(body, "giveaway"), _actor(conn))
    return {"giveaway": view}


async def _giveaway_cancel(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    reason = v.text(body, "reason", max_len=show_control.MAX_REASON, default="")
    view = await giveaways.cancel_giveaway(
        hub.runtime, conn.show, _item(body, "giveaway"), reason, _actor(conn)
    )
    return {"giveaway": view}


# -- moderators (and the streamer of the show) -------------------------------------------


def _user(body: dict[str, Any]) -> str:
    return check_id(body.get("user"), "user")


async def _mute(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    seconds = v.whole(body, "seconds", lo=1, hi=moderation.MAX_MUTE_S)
    until = await moderation.mute(hub.runtime, conn.show, _user(body), seconds, by=_actor(conn))
    return {"until_ms": until}


async def _unmute(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    return {
        "changed": await moderation.unmute(hub.runtime, conn.show, _user(body), by=_actor(conn))
    }


async def _ban(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    user, by = _user(body), _actor(conn)
    changed = await moderation.ban(hub.runtime, conn.show, user, by=by)
    if changed:  # their later bids are refused; their standing bid goes too
        await auctions.withdraw_banned(hub.runtime, conn.show, user, by)
    return {"changed": changed}


async def _unban(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    return {"changed": await moderation.unban(hub.runtime, conn.show, _user(body), by=_actor(conn))}


async def _delete_message(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    message_id = body.get("message_id")
    if not isinstance(message_id, str):
        raise InvalidInput("message_id must be the chat event's id", field="message_id")
    deleted = await moderation.delete_message(hub.runtime, conn.show, message_id, by=_actor(conn))
    return {"changed": deleted}


async def _slow_mode(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    seconds = v.whole(body, "seconds", lo=0, hi=moderation.MAX_SLOW_MODE_S)
    changed = await moderation.set_slow_mode(hub.runtime, conn.show, seconds, by=_actor(conn))
    return {"changed": changed}


async def _blocked_keywords(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    words = body.get("words")
    if not isinstance(words, list):
        raise InvalidInput("words must be a list of strings", field="words")
    stored = await moderation.set_blocked_keywords(hub.runtime, conn.show, words, by=_actor(conn))
    return {"words": stored}


async def _sales(hub: Hub, conn: HubConnection, body: dict[str, Any], paused: bool) -> Reply:
    reason = v.text(body, "reason", max_len=show_control.MAX_REASON, default="")
    change = show_control.SalesChange(paused=paused, reason=reason)
    return {
        "changed": await show_control.set_sales(hub.runtime, conn.show, change, actor=_actor(conn))
    }


async def _sales_pause(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    return await _sales(hub, conn, body, True)


async def _sales_resume(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    return await _sales(hub, conn, body, False)


async def _ping(hub: Hub, conn: HubConnection, body: dict[str, Any]) -> Reply:
    return {}


def _fields(*names: str) -> frozenset[str]:
    return frozenset(names) | ENVELOPE


HANDLERS: dict[str, Command] = {
    "ping": Command(Action.WATCH, _fields(), _ping),
    "buy": Command(
        Action.BUY,
        _fields(*checkout.BuyRequest.FIELDS),
        _buy,
        limit="buy",
        reply="order",
    ),
    "checkout": Command(
        Action.BUY, _fields("idempotency_key"), _checkout, limit="buy", reply="order"
    ),
    "cart_add": Command(Action.BUY, _fields(*checkout.CartAdd.FIELDS), _cart_add, limit="buy"),
    "cart_remove": Command(Action.BUY, _fields("sku", "quantity"), _cart_remove, limit="buy"),
    "cart_view": Command(Action.BUY, _fields(), _cart_view, limit="buy"),
    "chat": Command(Action.CHAT, _fields("text"), _chat, limit="chat"),
    "react": Command(Action.REACT, _fields("kind"), _react, limit="react"),
    "pin": Command(Action.PIN, _fields("sku"), _pin),
    "unpin": Command(Action.UNPIN, _fields(), _unpin),
    "flash_start": Command(
        Action.FLASH_SALE,
        _fields(*show_control.FlashSale.FIELDS),
        _flash_start,
    ),
    "flash_stop": Command(Action.FLASH_SALE, _fields(), _flash_stop),
    "show_start": Command(Action.SHOW_START, _fields(), _show_start),
    "show_end": Command(Action.SHOW_END, _fields(), _show_end),
    "mute": Command(Action.MUTE, _fields("user", "seconds"), _mute),
    "unmute": Command(Action.MUTE, _fields("user"), _unmute),
    "ban": Command(Action.BAN, _fields("user"), _ban),
    "unban": Command(Action.BAN, _fields("user"), _unban),
    "delete_message": Command(Action.DELETE_MESSAGE, _fields("message_id"), _delete_message),
    "slow_mode": Command(Action.SLOW_MODE, _fields("seconds"), _slow_mode),
    "sales_pause": Command(Action.PAUSE_SALES, _fields("reason"), _sales_pause),
    "sales_resume": Command(Action.PAUSE_SALES, _fields("reason"), _sales_resume),
    "blocked_keywords": Command(Action.BLOCKED_KEYWORDS, _fields("words"), _blocked_keywords),
    "bid": Command(
        Action.BID, _fields(*auctions.BidRequest.FIELDS), _bid, limit="buy", reply="bid"
    ),
    "auction_accept": Command(
        Action.BID, _fields("auction"), _auction_accept, limit="buy", reply="order"
    ),
    "giveaway_enter": Command(Action.BID, _fields("giveaway"), _giveaway_enter, limit="buy"),
    "auction_start": Command(
        Action.RUN_AUCTION, _fields(*auctions.AuctionStart.FIELDS), _auction_start
    ),
    "auction_offer": Command(Action.RUN_AUCTION, _fields("auction", "seconds"), _auction_offer),
    "auction_release": Command(Action.RUN_AUCTION, _fields("auction"), _auction_release),
    "auction_cancel": Command(Action.STOP_AUCTION, _fields("auction", "reason"), _auction_cancel),
    "auction_remove_bidder": Command(
        Action.STOP_AUCTION, _fields("auction", "user"), _auction_remove_bidder
    ),
    "giveaway_start": Command(
        Action.RUN_AUCTION, _fields(*giveaways.GiveawayStart.FIELDS), _giveaway_start
    ),
    "giveaway_draw": Command(Action.RUN_AUCTION, _fields("giveaway"), _giveaway_draw),
    "giveaway_redraw": Command(Action.RUN_AUCTION, _fields("giveaway"), _giveaway_redraw),
    "giveaway_release": Command(Action.RUN_AUCTION, _fields("giveaway"), _giveaway_release),
    "giveaway_cancel": Command(
        Action.STOP_AUCTION, _fields("giveaway", "reason"), _giveaway_cancel
    ),
}


# Taps a user may make at once before the per-second rate applies (hello's limits).
USER_BURSTS = {"chat": 3.0, "buy": 10.0, "react": 20.0}


def _check_rate(hub: Hub, conn: HubConnection, limit: str) -> None:
    s = hub.settings.hub
    rate = {"chat": s.chat_per_s, "buy": s.buys_per_s, "react": s.reacts_per_s}[limit]
    burst = USER_BURSTS[limit]
    wait = hub.user_limit(_actor(conn), limit, rate, burst).take(time.monotonic())
    if wait:
        raise RateLimited(
            f"too many {limit} messages; wait a moment",
            extra={"retry_after_ms": int(wait * 1000) + 1},
        )


async def handle(hub: Hub, conn: HubConnection, inbound: Inbound) -> None:
    """Decide, do, reply: the one path every client message takes."""
    kind, req = inbound.type, inbound.req
    command = HANDLERS.get(kind)
    if command is None:
        hub.stats.inbound[("unknown", "unknown_type")] += 1
        conn.send(
            error_message(
                "unknown_type",
                f"unknown message type {kind[:40]!r}; see docs/protocol.md",
                req=req,
                kind=kind[:40],
            )
        )
        return
    try:
        await conn.joined
        conn.token_still_valid()
        authorize(
            conn.claims,
            command.action,
            conn.show,
            anonymous_viewers=hub.settings.auth.anonymous_viewers,
        )
        v.refuse_unknown_fields(inbound.body, command.fields, kind)
        if command.limit is not None:
            _check_rate(hub, conn, command.limit)
        reply = await command.run(hub, conn, inbound.body)
    except LivecartError as exc:
        hub.stats.inbound[(kind, exc.code)] += 1
        conn.send_error(exc, req=req, kind=kind)
        return
    except (RedisError, OSError):
        hub.stats.inbound[(kind, "store_unavailable")] += 1
        conn.send(
            error_message(
                "store_unavailable", "the store did not answer; try again", req=req, kind=kind
            )
        )
        return
    outcome = str(reply.get("result", "ok")) if command.reply in ("order", "bid") else "ok"
    hub.stats.inbound[(kind, outcome)] += 1
    message: dict[str, Any] = {"type": command.reply, "for": kind}
    if req is not None:
        message["req"] = req
    conn.send(message | reply)
