"""The collector settings a node takes once started (livecart.collector)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from livecart import collector


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_collector")
def test_a_started_node_freezes_what_start_up_made_and_collects_young_objects_less_often() -> None:
    _, older, oldest = gc.get_threshold()
    kept = [[i] for i in range(1000)]  # made before: frozen, never walked again
    collector.settle_after_start()
    assert gc.get_freeze_count() >= len(kept)
    assert gc.get_threshold() == (collector.GEN0_THRESHOLD, older, oldest)
    # Cycles made afterwards are still found and freed.
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1
