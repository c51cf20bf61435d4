"""Going live from the browser: Chromium's fake camera published over WHIP in H.264
with static/js/publisher.js; a WHEP viewer gets every frame marked and decodes it."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Browser

from tests.helpers import LiveServer
from tests.media.conftest import live, settings
from tests.media.peers import watch
from tests.media.test_whip_whep import wait_live

__all__ = ["live", "settings"]

pytestmark = pytest.mark.browser

GO_LIVE = """async ([token, show]) => {
  const { goLive } = await import("/static/js/publisher.js");
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { width: 640, height: 360 },
    audio: true,
  });
  window.states = [];
  try {
    const onState = (s) => window.states.push(s.state);
    window.publishing = await goLive({ show, token, stream, onState });
    return "ok";
  } catch (error) {
    return `${error.code}: ${error.message}`;
  }
}"""


async def test_a_browser_camera_goes_live_in_h264_with_markers(
    browser: Browser, live: LiveServer
) -> None:
    from tests.helpers import bearer

    token = bearer("c1", "streamer", "s1")["Authorization"].split()[1]
    page = await browser.new_page()
    await page.goto(f"{live.url}/static/video.html?show=s1")
    assert await page.evaluate(GO_LIVE, [token, "s1"]) == "ok"
    stream = await wait_live(live)
    assert stream["codec"] == "H264" and stream["marker"] is True
    viewer = await watch(live.url, "s1")
    await viewer.wait_for_frames(60)
    assert all(f.marker is not None for f in viewer.video)
    pictures = viewer.decoded()
    assert len(pictures) >= 50
    assert (pictures[0].width, pictures[0].height) == (stream["width"], stream["height"])
    assert "live" in await page.evaluate("window.states")

    await page.evaluate("window.publishing.stop()")
    async with httpx.AsyncClient(base_url=live.url) as client:
        for _ in range(50):
            if (await client.get("/api/shows/s1")).json()["stream"] is None:
                break
            await page.wait_for_timeout(100)
        assert (await client.get("/api/shows/s1")).json()["stream"] is None
    await viewer.close()


async def test_a_viewer_token_cannot_go_live_from_the_browser(
    browser: Browser, live: LiveServer
) -> None:
    from tests.helpers import bearer

    token = bearer("ana", "viewer")["Authorization"].split()[1]
    page = await browser.new_page()
    await page.goto(f"{live.url}/static/video.html?show=s1")
    refused = await page.evaluate(GO_LIVE, [token, "s1"])
    assert refused.startswith("forbidden: a viewer may not publish")


async def test_a_viewer_who_joins_late_gets_a_picture_at_once(
    browser: Browser, live: LiveServer
) -> None:
    """A browser's encoder makes keyframes when asked (PLI), not every second: a viewer
    joining a running stream gets its first picture from the keyframe its join asked for.
    The PLI must name the video's own SSRC (browsers send RTX padding on another one)."""
    from tests.helpers import bearer

    token = bearer("c1", "streamer", "s1")["Authorization"].split()[1]
    page = await browser.new_page()
    await page.goto(f"{live.url}/static/page-that-does-not-exist")
    assert await page.evaluate(GO_LIVE, [token, "s1"]) == "ok"
    await wait_live(live)
    await page.wait_for_timeout(4000)  # long past the stream's first keyframe
    stats = live.app.state.media.stats
    sent_before = stats.keyframe_requests["sent"]
    viewer = await watch(live.url, "s1")
    await viewer.wait_for_frames(15, within=3.0)
    assert viewer.video[0].keyframe
    assert stats.keyframe_requests["sent"] == sent_before + 1
    await viewer.close()
    await page.evaluate("window.publishing.stop()")
