"""Video tests: a live show on a real server, a clip made with PyAV, and short media
timeouts so the tests that wait on them do not wait long. Every WebRTC peer runs in
the test run's network namespace (tests/netns.py), where ICE has a non-loopback
address to use."""

from __future__ import annotations

from pathlib import Path

import pytest

from livecart.config import Settings
from tests.helpers import LiveServer, bearer
from tests.hub.live import live
from tests.media.clips import make_clip
from tests.netns import network_problem

__all__ = ["clip", "live", "settings", "streamer"]

CLIP_SECONDS = 40


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 s of H.264 (keyframe every second) and Opus in MPEG-TS, made once per run."""
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.ts", CLIP_SECONDS)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    problem = network_problem()
    if problem is not None:
        pytest.fail(f"WebRTC tests need the test network namespace: {problem}")
    return settings.with_overrides(
        {
            "checkout": {"payment_provider": "test"},
            "hub": {"tick_ms": 10},
            "media": {"connect_timeout_s": 4.0, "media_timeout_s": 4.0, "stream_lease_s": 1.5},
        }
    )


def streamer(show: str = "s1") -> dict[str, str]:
    return bearer("c1", "streamer", show)


async def stream_fields(server: LiveServer, show: str = "s1") -> dict[str, str]:
    """The show hash's stream_* fields as Redis holds them."""
    raw = await server.runtime.redis.hgetall(f"lc:{{s:{show}}}:show")
    return {str(k): str(v) for k, v in raw.items() if str(k).startswith("stream_")}
