"""The KEYS list every auction and giveaway script takes: the sale keys (``_sale.lua``)
then the award keys, in the order ``_award.lua`` names them."""

from __future__ import annotations

import functools
from typing import Literal

from livecart.commerce.sales.keys import sale_keys
from livecart.store import keys

Kind = Literal["auction", "giveaway"]


def award_keys(show: str, kind: Kind, item: str, *, order_id: str | None = None) -> list[str]:
    """No script of these takes a buyer's keys (idempotency, cart): a bid is not
    idempotent, an award's payment is keyed by its item and attempt."""
    if order_id is None:
        return list(_item_keys(show, kind, item))
    return _award_keys(show, kind, item, order_id=order_id)


@functools.lru_cache(maxsize=1024)
def _item_keys(show: str, kind: Kind, item: str) -> tuple[str, ...]:
    """The list for every script but a confirm's, made once per item: a bid storm runs
    the bid script thousands of times a second with the same 25 keys (each id checked)."""
    return tuple(_award_keys(show, kind, item))


def _award_keys(show: str, kind: Kind, item: str, *, order_id: str | None = None) -> list[str]:
    if kind == "auction":
        own = [
            keys.show_auction(show, item),
            keys.show_auction_bidders(show, item),
            keys.show_auction_bids(show, item),
            keys.show_auction_removed(show, item),
            keys.show_auctions(show),
        ]
    else:
        own = [
            keys.show_giveaway(show, item),
            keys.show_giveaway_entrants(show, item),
            keys.show_giveaway_pool(show, item),
            keys.show_unused(show),
            keys.show_giveaways(show),
        ]
    return [*sale_keys(show, order_id=order_id), *own, keys.show_awards_due(show)]
