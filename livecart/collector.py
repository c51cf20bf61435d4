"""Python's cyclic garbage collector, set for a node that holds thousands of sockets.

With CPython's defaults (700, 10, 10) a node in a flash sale at 5 000 viewers spent
0.63-0.76 s collecting, in pauses up to 190 ms (a full collection walks every live
object, and each socket holds many): every viewer's frame and every tap's answer waits
for it (bench/RESULTS.md, "Flash sale"). Two changes, made once the node has started:

- what start-up made (modules, classes, config, the scripts: about 70 000 objects) is
  frozen: never walked again, never garbage;
- the youngest generation is collected every ``GEN0_THRESHOLD`` allocations instead of
  700, so the older ones, and the full collections, come that much less often. Cycles
  are still found: only later, with memory for at most that many young objects.
"""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 20_000


def settle_after_start() -> None:
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, older, oldest)
