"""The hub's counters: plain integers bumped on the hot path (a Prometheus counter's lock
per delivery would cost more than the delivery's Python work) and read by a collector
when /metrics is scraped."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

# Events per tick frame: the buckets of livecart_hub_tick_events.
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


@dataclass
class HubStats:
    frames_out: int = 0  # frames written to sockets (each delivery counts once)
    bytes_out: int = 0
    ticks: int = 0
    skipped_slow: int = 0  # frames not written to a socket that was behind
    closed_slow: int = 0  # sockets closed for being too far behind
    joins: Counter[str] = field(default_factory=Counter)  # by outcome
    inbound: Counter[tuple[str, str]] = field(default_factory=Counter)  # (type, outcome)
    batch_counts: list[int] = field(default_factory=lambda: [0] * (len(BATCH_BUCKETS) + 1))
    batch_sum: int = 0

    def observe_batch(self, size: int) -> None:
        self.ticks += 1
        self.batch_sum += size
        for index, bound in enumerate(BATCH_BUCKETS):
            if size <= bound:
                self.batch_counts[index] += 1
                return
        self.batch_counts[-1] += 1


class HubCollector(Collector):
    """Reads the stats and the live figures (connections, rooms, ticks) at scrape time."""

    def __init__(
        self,
        stats: HubStats,
        connections: Callable[[], int],
        room_ticks: Callable[[], dict[str, tuple[int, int]]],
    ) -> None:
        self.stats = stats
        self.connections = connections
        self.room_ticks = room_ticks  # show -> (connections on this node, tick ms)

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily | HistogramMetricFamily]:
        s = self.stats
        yield GaugeMetricFamily(
            "livecart_hub_connections", "open WebSocket sessions on this node", self.connections()
        )
        rooms = self.room_ticks()
        per_room = GaugeMetricFamily(
            "livecart_hub_room_connections", "sessions per show on this node", labels=["show"]
        )
        ticks = GaugeMetricFamily(
            "livecart_hub_tick_ms", "effective tick per show on this node", labels=["show"]
        )
        for show, (size, tick) in rooms.items():
            per_room.add_metric([show], size)
            ticks.add_metric([show], tick)
        yield per_room
        yield ticks
        yield CounterMetricFamily(
            "livecart_hub_frames_out", "frames written to sockets", value=s.frames_out
        )
        yield CounterMetricFamily("livecart_hub_bytes_out", "bytes written to sockets", s.bytes_out)
        yield CounterMetricFamily(
            "livecart_hub_slow_skipped",
            "frames of stock and counts not written to a socket that was behind",
            value=s.skipped_slow,
        )
        yield CounterMetricFamily(
            "livecart_hub_slow_closed",
            "sockets closed (4001, resumable) for falling too far behind",
            value=s.closed_slow,
        )
        joins = CounterMetricFamily(
            "livecart_hub_joins", "session starts by outcome", labels=["outcome"]
        )
        for outcome, n in sorted(s.joins.items()):
            joins.add_metric([outcome], n)
        yield joins
        inbound = CounterMetricFamily(
            "livecart_hub_inbound",
            "client messages by type and outcome",
            labels=["type", "outcome"],
        )
        for (kind, outcome), n in sorted(s.inbound.items()):
            inbound.add_metric([kind, outcome], n)
        yield inbound
        cumulative, buckets = 0, []
        for bound, count in zip(BATCH_BUCKETS, s.batch_counts, strict=False):
            cumulative += count
            buckets.append((str(bound), cumulative))
        buckets.append(("+Inf", cumulative + s.batch_counts[-1]))
        yield HistogramMetricFamily(
            "livecart_hub_tick_events",
            "events per tick frame, before folding",
            buckets=buckets,
            sum_value=s.batch_sum,
        )
