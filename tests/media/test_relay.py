"""The relay's rules, on its own: a viewer starts on a keyframe, a slow viewer skips to
the next keyframe with a bounded queue, keyframe requests are rate-limited, and
timestamps run on across a change of publisher."""

from __future__ import annotations

import fractions
from typing import Any

import av

from livecart.media.clock import StreamClock
from livecart.media.h264 import START_CODE
from livecart.media.marker import read_marker
from livecart.media.relay import ForwardedTrack, PtsRebase, StreamRelay
from livecart.media.stats import MediaStats

KEY = START_CODE + b"\x67\x42\x00\x1f\xe9" + START_CODE + b"\x68\xce" + START_CODE + b"\x65\x88"
DELTA = START_CODE + b"\x41\x9a\x02"


def packet(data: bytes, pts: int) -> av.Packet[Any]:
    p = av.Packet(data)
    p.pts = pts
    p.time_base = fractions.Fraction(1, 90000)
    return p


async def relay(queue_frames: int = 4, interval_s: float = 1.0) -> tuple[StreamRelay, list[str]]:
    async def redis_time() -> int:
        return 1_795_000_000_000_000  # a fixed instant stands in for Redis' TIME

    clock = StreamClock(redis_time)
    await clock.sync()
    asked: list[str] = []
    r = StreamRelay(
        "s1",
        clock=clock,
        stats=MediaStats(),
        queue_frames=queue_frames,
        keyframe_interval_s=interval_s,
    )
    r.attach("H264", {}, lambda: asked.append("pli"))
    return r, asked


def queued(track: ForwardedTrack) -> list[bytes]:
    out = []
    while not track._queue.empty():
        item = track._queue.get_nowait()
        assert item is not None
        out.append(bytes(item))
    return out


async def test_a_new_viewer_waits_for_a_keyframe_and_the_publisher_is_asked_once() -> None:
    r, asked = await relay()
    video, _audio = r.subscribe()
    assert asked == ["pli"]
    r.forward_video(packet(DELTA, 0))
    r.forward_video(packet(DELTA, 3000))
    assert queued(video) == []
    assert asked == ["pli"], "a second request within the interval is suppressed"
    assert r._stats.keyframe_requests == {"sent": 1, "suppressed": 2}
    r.forward_video(packet(KEY, 6000))
    r.forward_video(packet(DELTA, 9000))
    frames = queued(video)
    assert len(frames) == 2
    assert all(read_marker(f) is not None for f in frames)


async def test_a_viewer_that_falls_behind_restarts_at_a_keyframe_with_a_bounded_queue() -> None:
    r, _ = await relay(queue_frames=4)
    video, _ = r.subscribe()
    r.forward_video(packet(KEY, 0))
    for i in range(1, 10):  # nobody reads: the queue fills, then is dropped
        r.forward_video(packet(DELTA, i * 3000))
    assert video._queue.qsize() <= 4
    assert video.waiting_for_keyframe
    r.forward_video(packet(DELTA, 30000))
    r.forward_video(packet(KEY, 33000))
    frames = queued(video)
    assert len(frames) == 1 and b"\x65\x88" in frames[0], "it restarts on the keyframe"
    assert r._stats.frames_dropped >= 5


def test_timestamps_run_on_when_the_publisher_changes() -> None:
    rebase = PtsRebase(step=3000)
    assert [rebase.map(p) for p in (0, 3000, 6000)] == [0, 3000, 6000]
    rebase.restart()  # a new publisher starts its timestamps at 0 again
    assert [rebase.map(p) for p in (0, 3000)] == [9000, 12000]
    assert rebase.map(1000) == 12000, "a timestamp never goes back"


async def test_positions_never_go_back_even_if_arrival_times_do() -> None:
    r, _ = await relay()
    later = packet(KEY, 0)
    later.opaque = 2_000_000_000
    earlier = packet(DELTA, 3000)
    earlier.opaque = 1_000_000_000
    first = r.forward_video(later).position_ms
    second = r.forward_video(earlier).position_ms
    assert first is not None and second is not None
    assert second >= first


async def test_audio_keeps_only_the_newest_second_for_a_slow_viewer() -> None:
    r, _ = await relay()
    _video, audio = r.subscribe()
    for i in range(200):
        r.forward_audio(packet(b"\xfc" * 20, i * 960))
    assert audio._queue.qsize() == 50


async def test_closing_ends_every_viewer() -> None:
    r, _ = await relay()
    video, audio = r.subscribe()
    r.close()
    assert video._queue.get_nowait() is None
    assert audio._queue.get_nowait() is None
    assert r.viewers == set()
