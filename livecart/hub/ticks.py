"""How long each room folds events before one frame goes out.

A delivery (one frame to one socket) costs about 9 us of CPU here whatever the code
does, so a node's frames per second are its budget (``hub.max_deliveries_per_s``). A
room of n viewers at tick t costs n * 1000 / t deliveries a second when busy. The budget
is shared fairly between rooms: small rooms get the shortest tick (``hub.tick_ms``),
and what they leave is split between the big ones, whose ticks grow (up to
``hub.max_tick_ms``; past that the budget may be exceeded rather than a room starved).
"""

from __future__ import annotations

import math
from collections.abc import Mapping


def plan_ticks(
    room_sizes: Mapping[str, int], *, base_ms: int, max_ms: int, budget_per_s: int
) -> dict[str, int]:
    """Tick in milliseconds for each room, by room size (connections on this node)."""
    plan: dict[str, int] = {}
    remaining_budget = float(budget_per_s)
    ordered = sorted(room_sizes.items(), key=lambda item: item[1])
    for index, (room, size) in enumerate(ordered):
        share = remaining_budget / (len(ordered) - index)
        need = size * 1000 / base_ms
        if need <= share:
            plan[room] = base_ms
            remaining_budget -= need
            continue
        tick = math.ceil(size * 1000 / share) if share > 0 else max_ms
        tick = max(base_ms, min(max_ms, tick))
        plan[room] = tick
        remaining_budget -= size * 1000 / tick
    return plan
