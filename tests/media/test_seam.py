"""The pass-through seam: aiortc's receivers hand over encoded frames and nothing in the
node decodes or re-encodes. If a new aiortc moves any of the hooks, these fail loudly."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import aiortc
import pytest
from aiortc.codecs.h264 import H264Decoder, H264Encoder

from livecart.media import passthrough
from livecart.media.passthrough import SeamMoved, check_seam, passthrough_worker
from tests.helpers import LiveServer
from tests.media.conftest import streamer
from tests.media.peers import publish, watch
from tests.media.test_whip_whep import wait_live


def test_the_pinned_aiortc_still_has_every_hook() -> None:
    check_seam()


def test_another_aiortc_release_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiortc, "__version__", "9.9.9")
    with pytest.raises(SeamMoved, match=r"aiortc 9\.9\.9 is installed"):
        check_seam()


async def test_a_live_show_is_forwarded_without_decoding_or_encoding(
    live: LiveServer, clip: Path
) -> None:
    assert passthrough.installed()
    publisher = await publish(live.url, "s1", streamer(), clip)
    await wait_live(live)
    viewer = await watch(live.url, "s1")
    await viewer.wait_for_frames(60)

    receiving = [t for t in threading.enumerate() if t.name.endswith("-decoder")]
    assert receiving, "aiortc starts a worker thread per receiver"
    assert all(t._target is passthrough_worker for t in receiving)  # type: ignore[attr-defined]
    gc.collect()
    objects = gc.get_objects()
    assert not [o for o in objects if isinstance(o, H264Decoder)], "nothing was decoded"
    # Each sender has an H264Encoder for packetizing; none ever opened libx264.
    packetizers = [o for o in objects if isinstance(o, H264Encoder)]
    assert packetizers and all(p.codec is None for p in packetizers), "nothing was encoded"
    stats = live.app.state.media.stats
    assert stats.frames_in["video"] >= 60
    assert stats.frames_forwarded["video"] >= 60
    await viewer.close()
    await publisher.close()
