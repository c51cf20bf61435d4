"""The KEYS list every auction and giveaway script takes: the sale keys (``_sale.lua``)
then the award keys, in the order ``_award.lua`` names them."""

from __future__ import annotations

from typing import Literal

from livecart.commerce.sales.keys import sale_keys
from livecart.store import keys

Kind = Literal["auction", "giveaway"]


def award_keys(
    show: str, kind: Kind, item: str, *, buyer: str | None = None, order_id: str | None = None
) -> list[str]:
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
    return [*sale_keys(show, buyer=buyer, order_id=order_id), *own, keys.show_awards_due(show)]
