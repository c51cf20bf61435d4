"""A brand's shipping fee: flat per order, free from a threshold of the order's items.

The rule is the brand's, kept outside every show's slot. It is read when an order is
settled (with the buyer's profile, in one round trip) and copied into the order with
the total broken down (``items_total``, ``shipping``, ``total``), so changing the rule
changes the orders placed afterwards and never one already placed. Amounts are minor
units of the order's currency: a brand that sells in several currencies has one rule
for all of them. A brand that never set a rule ships free, as livecart did before the
rule existed.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import orjson
from redis.asyncio import Redis

from livecart import validation as v
from livecart.commerce.catalog.products import MAX_PRICE_MINOR
from livecart.store import keys


@dataclass(frozen=True)
class ShippingRule:
    flat: int = 0  # minor units per order; 0: free
    free_over: int | None = None  # an items total at or above this ships free

    @classmethod
    def from_dict(cls, data: object) -> ShippingRule:
        d = v.require_mapping(data, "shipping")
        v.refuse_unknown_fields(d, SHIPPING_FIELDS, "a shipping rule")
        free_over = d.get("free_over")
        return cls(
            flat=v.whole(d, "flat", lo=0, hi=MAX_PRICE_MINOR),
            free_over=None
            if free_over is None
            else v.whole(d, "free_over", lo=1, hi=MAX_PRICE_MINOR),
        )

    def fee(self, items_total: int) -> int:
        """What an order whose items come to ``items_total`` pays for shipping."""
        if self.free_over is not None and items_total >= self.free_over:
            return 0
        return self.flat

    def to_dict(self) -> dict[str, Any]:
        return {"flat": self.flat, "free_over": self.free_over}


SHIPPING_FIELDS = tuple(f.name for f in fields(ShippingRule))
FREE = ShippingRule()


def rule_from_json(raw: str | bytes | None) -> ShippingRule:
    """The stored rule (written by ``put_rule``, so trusted), or FREE when none is."""
    if raw is None:
        return FREE
    data = orjson.loads(raw)
    return ShippingRule(flat=data["flat"], free_over=data["free_over"])


async def get_rule(redis: Redis, brand: str) -> ShippingRule:
    return rule_from_json(await redis.get(keys.brand_shipping(brand)))


async def put_rule(redis: Redis, brand: str, rule: ShippingRule) -> None:
    """Replace the brand's rule. The brand's existence is checked by the caller (the
    API's path check); deleting a brand removes the rule with it."""
    await redis.set(keys.brand_shipping(brand), orjson.dumps(rule.to_dict()))
