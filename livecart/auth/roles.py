"""Who may do what, decided in one place for every entry point (HTTP and WebSocket).

Watching may be anonymous (``auth.anonymous_viewers``); everything else needs a token.
Staff tokens are scoped to one show: a moderator of show A is a stranger on show B. The
streamer may also moderate their own show (as hosts can on Whatnot and TikTok LIVE); a
moderator may not pin or run sales. An admin may do everything everywhere.
"""

from __future__ import annotations

from enum import StrEnum

from livecart.auth.tokens import Claims, Role
from livecart.errors import Forbidden, TokenMissing


class Action(StrEnum):
    WATCH = "watch"
    CHAT = "chat"
    REACT = "react"
    BUY = "buy"
    PIN = "pin"
    UNPIN = "unpin"
    FLASH_SALE = "flash_sale"
    SHOW_START = "show_start"
    SHOW_END = "show_end"
    MUTE = "mute"
    BAN = "ban"
    DELETE_MESSAGE = "delete_message"
    SLOW_MODE = "slow_mode"
    PAUSE_SALES = "pause_sales"
    BLOCKED_KEYWORDS = "blocked_keywords"
    PUBLISH = "publish"  # go live on video (WHIP)
    BID = "bid"  # bid in an auction, enter a giveaway, accept a second-chance offer
    RUN_AUCTION = "run_auction"  # start auctions and giveaways, draw, offer, release
    STOP_AUCTION = "stop_auction"  # cancel an auction or giveaway, remove a bidder


_EVERYONE = frozenset(Role)
_STREAMER = frozenset({Role.STREAMER, Role.ADMIN})
_MODERATION = frozenset({Role.MODERATOR, Role.STREAMER, Role.ADMIN})

ALLOWED: dict[Action, frozenset[Role]] = {
    Action.WATCH: _EVERYONE,
    Action.CHAT: _EVERYONE,
    Action.REACT: _EVERYONE,
    Action.BUY: _EVERYONE,
    Action.PIN: _STREAMER,
    Action.UNPIN: _STREAMER,
    Action.FLASH_SALE: _STREAMER,
    Action.SHOW_START: _STREAMER,
    Action.SHOW_END: _STREAMER,
    Action.MUTE: _MODERATION,
    Action.BAN: _MODERATION,
    Action.DELETE_MESSAGE: _MODERATION,
    Action.SLOW_MODE: _MODERATION,
    Action.PAUSE_SALES: _MODERATION,
    Action.BLOCKED_KEYWORDS: _MODERATION,
    Action.PUBLISH: _STREAMER,
    Action.BID: _EVERYONE,
    Action.RUN_AUCTION: _STREAMER,
    Action.STOP_AUCTION: _MODERATION,
}


def authorize(
    claims: Claims | None, action: Action, show_id: str, *, anonymous_viewers: bool
) -> None:
    """Return when ``claims`` may do ``action`` on ``show_id``; raise otherwise."""
    if claims is None:
        if action is Action.WATCH and anonymous_viewers:
            return
        raise TokenMissing(f"{action} needs a token")
    if claims.role not in ALLOWED[action]:
        raise Forbidden(f"a {claims.role} may not {action}")
    if claims.role is not Role.ADMIN and claims.show is not None and claims.show != show_id:
        raise Forbidden(f"this token is for show {claims.show!r}, not {show_id!r}")
