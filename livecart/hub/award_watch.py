"""What a room does with auction and giveaway events besides fanning them out: tell the
users concerned at once (outbid, won, lost, an offer, their payment), and look at a
running auction or giveaway the moment its end comes.

The look is a script that decides by Redis TIME (awards.look): this timer only makes
it come on time; a node that is not watching, or has just started, leaves it to the
sweep (checkout.reaper_interval_ms later). The delay is counted from the event's
stream id, which is Redis' clock at the moment the event was written, so the node's
own clock plays no part.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from redis.exceptions import RedisError

from livecart.commerce.auctions import awards
from livecart.errors import LivecartError
from livecart.hub.events import HubEvent

if TYPE_CHECKING:
    from livecart.hub.connection import HubConnection
    from livecart.runtime import Runtime

log = logging.getLogger("livecart.hub")

# A moment after the end, so the look finds it over (Redis TIME is in whole ms).
LOOK_AFTER_END_S = 0.005


class AwardWatch:
    def __init__(
        self,
        runtime: Runtime,
        show: str,
        connections_of: Callable[[str], Iterable[HubConnection]],
    ) -> None:
        self.runtime = runtime
        self.show = show
        self.connections_of = connections_of
        # Users who bid in each running auction, seen by this node: told won or lost.
        self.bidders: dict[str, set[str]] = {}
        self.timers: dict[str, asyncio.TimerHandle] = {}
        self.looks: set[asyncio.Task[Any]] = set()

    def stop(self) -> None:
        for timer in self.timers.values():
            timer.cancel()
        self.timers.clear()
        for task in self.looks:
            task.cancel()

    def arrived(self, event: HubEvent) -> None:
        handler = self._HANDLERS.get(event.type)
        if handler is not None:
            handler(self, event, event.data)

    # -- each event ---------------------------------------------------------------

    def _started(self, event: HubEvent, data: dict[str, Any]) -> None:
        kind = "auction" if event.type == "auction_started" else "giveaway"
        item = data.get(kind)
        if isinstance(item, dict):
            self._look_at_end(kind, item.get("id"), item.get("ends_ms"), event)

    def _bid(self, event: HubEvent, data: dict[str, Any]) -> None:
        auction = str(data.get("auction"))
        bidder = data.get("bidder")
        if isinstance(bidder, str):
            self.bidders.setdefault(auction, set()).add(bidder)
        outbid = data.get("outbid")
        if isinstance(outbid, str):
            self._tell(
                outbid,
                {
                    "type": "outbid",
                    "auction": auction,
                    "price": data.get("price"),
                    "leader_name": data.get("leader_name"),
                    "next_bid": data.get("next_bid"),
                },
            )
        self._look_at_end("auction", auction, data.get("ends_ms"), event)

    def _extended(self, event: HubEvent, data: dict[str, Any]) -> None:
        self._look_at_end("auction", data.get("auction"), data.get("ends_ms"), event)

    def _auction_ended(self, event: HubEvent, data: dict[str, Any]) -> None:
        auction = str(data.get("auction"))
        self._forget(auction)
        winner = data.get("winner")
        price = data.get("price")
        for user in self.bidders.pop(auction, set()):
            if user != winner:
                self._tell(
                    user,
                    {
                        "type": "auction_lost",
                        "auction": auction,
                        "price": price,
                        "winner_name": data.get("winner_name"),
                    },
                )
        if isinstance(winner, str):
            self._tell(winner, {"type": "auction_won", "auction": auction, "price": price})

    def _cancelled(self, event: HubEvent, data: dict[str, Any]) -> None:
        kind = "auction" if event.type == "auction_cancelled" else "giveaway"
        item = str(data.get(kind))
        self._forget(item)
        self.bidders.pop(item, None)

    def _giveaway_drawn(self, event: HubEvent, data: dict[str, Any]) -> None:
        giveaway = str(data.get("giveaway"))
        self._forget(giveaway)
        winner = data.get("winner")
        if isinstance(winner, str):
            self._tell(winner, {"type": "giveaway_won", "giveaway": giveaway})

    def _status(self, event: HubEvent, data: dict[str, Any]) -> None:
        kind = "auction" if event.type == "auction_status" else "giveaway"
        user = data.get("user")
        payment = data.get("payment")
        if not isinstance(user, str):
            return
        if payment == "offered":
            message = {
                "type": "auction_offer",
                "auction": data.get("auction"),
                "amount": data.get("amount"),
                "expires_ms": data.get("expires_ms"),
            }
        elif payment in ("paid", "unpaid"):
            message = {
                "type": f"{kind}_payment",
                kind: data.get(kind),
                "payment": payment,
                "order": data.get("order"),
                "reason": data.get("reason"),
            }
        else:
            return
        self._tell(user, message)

    _HANDLERS: ClassVar[dict[str, Callable[[AwardWatch, HubEvent, dict[str, Any]], None]]] = {
        "auction_started": _started,
        "giveaway_started": _started,
        "bid": _bid,
        "auction_extended": _extended,
        "auction_ended": _auction_ended,
        "auction_cancelled": _cancelled,
        "giveaway_cancelled": _cancelled,
        "giveaway_ended": _giveaway_drawn,
        "giveaway_redrawn": _giveaway_drawn,
        "auction_status": _status,
        "giveaway_status": _status,
    }

    # -- helpers --------------------------------------------------------------------

    def _tell(self, user: str, message: dict[str, Any]) -> None:
        for conn in self.connections_of(user):
            conn.send(message)

    def _forget(self, item: str) -> None:
        timer = self.timers.pop(item, None)
        if timer is not None:
            timer.cancel()

    def _look_at_end(self, kind: str, item: object, ends_ms: object, event: HubEvent) -> None:
        if not isinstance(item, str) or not isinstance(ends_ms, int) or not event.key[0]:
            return
        delay = max(0.0, (ends_ms - event.key[0]) / 1000) + LOOK_AFTER_END_S
        self._forget(item)
        loop = asyncio.get_running_loop()
        self.timers[item] = loop.call_later(delay, self._look, kind, item)

    def _look(self, kind: str, item: str) -> None:
        self.timers.pop(item, None)
        task = asyncio.ensure_future(self._look_now(kind, item))
        self.looks.add(task)
        task.add_done_callback(self.looks.discard)

    async def _look_now(self, kind: str, item: str) -> None:
        try:
            await awards.look(self.runtime, self.show, kind, item)  # type: ignore[arg-type]
        except (LivecartError, RedisError, OSError) as exc:  # the sweep looks again
            log.warning("looking at %s %s of show %s: %r", kind, item, self.show, exc)
