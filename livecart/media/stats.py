"""The media part's counters: plain integers bumped per frame (a Prometheus counter's
lock per frame per viewer would cost more than forwarding it), read by a collector
when /metrics is scraped."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector


def _by_kind() -> dict[str, int]:
    return {"video": 0, "audio": 0}


@dataclass
class MediaStats:
    frames_in: dict[str, int] = field(default_factory=_by_kind)  # from publishers
    frames_forwarded: dict[str, int] = field(default_factory=_by_kind)  # each delivery once
    bytes_forwarded: dict[str, int] = field(default_factory=_by_kind)
    frames_dropped: int = 0  # video frames a viewer skipped (joining, or too far behind)
    keyframe_requests: dict[str, int] = field(default_factory=lambda: {"sent": 0, "suppressed": 0})
    refusals: dict[str, int] = field(default_factory=dict)  # WHIP/WHEP refusals by code
    # RTP packets sent to Janus and ffmpeg, or dropped (a full socket buffer, an engine down)
    rtp_packets: dict[str, int] = field(default_factory=lambda: {"sent": 0, "dropped": 0})


class MediaCollector(Collector):
    def __init__(
        self,
        stats: MediaStats,
        live: Callable[[], tuple[int, int]],
        janus: Callable[[], list[tuple[str, bool, int]]],
    ) -> None:
        self.stats = stats
        self.live = live  # () -> (ingests, WHEP viewers) on this node now
        self.janus = janus  # () -> [(instance, healthy, viewers)] as last checked

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        s = self.stats
        ingests, viewers = self.live()
        yield GaugeMetricFamily(
            "livecart_media_ingests", "live WHIP publishers on this node", value=ingests
        )
        yield GaugeMetricFamily(
            "livecart_media_whep_viewers", "WHEP viewers this node forwards to", value=viewers
        )
        for name, doc, values in (
            ("livecart_media_frames_in", "frames received from publishers", s.frames_in),
            (
                "livecart_media_frames_forwarded",
                "frames handed to viewers (each viewer counts once)",
                s.frames_forwarded,
            ),
            ("livecart_media_bytes_forwarded", "bytes handed to viewers", s.bytes_forwarded),
        ):
            family = CounterMetricFamily(name, doc, labels=["kind"])
            for kind, n in sorted(values.items()):
                family.add_metric([kind], n)
            yield family
        yield CounterMetricFamily(
            "livecart_media_frames_dropped",
            "video frames a viewer skipped while it waited for a keyframe",
            value=s.frames_dropped,
        )
        requests = CounterMetricFamily(
            "livecart_media_keyframe_requests",
            "keyframe requests (PLI) to publishers: sent, or suppressed by the interval",
            labels=["outcome"],
        )
        for outcome, n in sorted(s.keyframe_requests.items()):
            requests.add_metric([outcome], n)
        yield requests
        refusals = CounterMetricFamily(
            "livecart_media_refusals", "WHIP and WHEP requests refused, by code", labels=["code"]
        )
        for code, n in sorted(s.refusals.items()):
            refusals.add_metric([code], n)
        yield refusals
        rtp = CounterMetricFamily(
            "livecart_media_rtp_packets",
            "RTP packets sent to Janus and ffmpeg (HLS), or dropped",
            labels=["outcome"],
        )
        for outcome, n in sorted(s.rtp_packets.items()):
            rtp.add_metric([outcome], n)
        yield rtp
        up = GaugeMetricFamily(
            "livecart_media_janus_up",
            "1 when the Janus instance passed its last check",
            labels=["instance"],
        )
        watching = GaugeMetricFamily(
            "livecart_media_janus_viewers",
            "viewers of livecart's mountpoints on the Janus instance (every node's)",
            labels=["instance"],
        )
        for name, healthy, viewers in self.janus():
            up.add_metric([name], 1 if healthy else 0)
            watching.add_metric([name], viewers)
        yield up
        yield watching
