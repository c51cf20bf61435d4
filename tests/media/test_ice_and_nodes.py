"""Where media flows: the UDP ports and addresses of the node's candidates, a WHEP
request on another node sent to the node that holds the ingest, and the figures
/metrics reports."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from livecart.config import Settings
from livecart.media import ice
from tests.commerce.conftest import seed_show
from tests.helpers import LiveServer, serve_app
from tests.media.conftest import streamer
from tests.media.peers import publish, watch
from tests.media.test_whip_whep import wait_live
from tests.netns import TEST_ADDRESS

CANDIDATE = re.compile(r"a=candidate:\S+ \d+ udp \d+ (\S+) (\d+) typ host")


async def test_candidates_use_the_configured_port_range_and_addresses(
    settings: Settings, redis: object, clip: Path
) -> None:
    narrowed = settings.with_overrides(
        {
            "media": {
                "udp_port_min": 42000,
                "udp_port_max": 42019,
                "bind_addresses": TEST_ADDRESS,
            }
        }
    )
    try:
        async with serve_app(narrowed) as server:
            await seed_show(server.runtime)
            publisher = await publish(server.url, "s1", streamer(), clip)
            assert publisher.response.status_code == 201
            found = CANDIDATE.findall(publisher.response.text)
            assert found
            assert {address for address, _ in found} == {TEST_ADDRESS}
            assert all(42000 <= int(port) <= 42019 for _, port in found)
            await wait_live(server)  # the ranged sockets carry the media
            viewer = await watch(server.url, "s1")
            await viewer.wait_for_frames(30)
            ports = {int(p) for _, p in CANDIDATE.findall(viewer.response.text)}
            assert ports and all(42000 <= p <= 42019 for p in ports)
            await viewer.close()
            await publisher.close()
    finally:
        ice.configure(settings.media)  # later tests in this process gather as usual


async def test_whep_on_another_node_is_sent_to_the_node_with_the_ingest(
    settings: Settings, live: LiveServer, clip: Path
) -> None:
    publisher = await publish(live.url, "s1", streamer(), clip)
    await wait_live(live)
    async with serve_app(settings) as other:
        offer_node = await watch(other.url, "s1")
        assert offer_node.response.status_code == 307
        assert offer_node.response.headers["location"] == f"{live.url}/api/shows/s1/whep"
        # A player follows the redirect with the same offer and plays.
        followed = await watch(live.url, "s1")
        assert followed.response.status_code == 201
        await followed.wait_for_frames(20)
        await followed.close()
    await publisher.close()


async def test_metrics_report_ingests_viewers_and_forwarded_frames(
    live: LiveServer, clip: Path
) -> None:
    publisher = await publish(live.url, "s1", streamer(), clip)
    await wait_live(live)
    viewer = await watch(live.url, "s1")
    await viewer.wait_for_frames(40)
    async with httpx.AsyncClient(base_url=live.url) as client:
        text = (await client.get("/metrics")).text
    assert "livecart_media_ingests 1.0" in text
    assert "livecart_media_whep_viewers 1.0" in text
    forwarded = re.search(r'livecart_media_frames_forwarded_total\{kind="video"\} (\S+)', text)
    assert forwarded is not None and float(forwarded.group(1)) >= 40
    assert re.search(r'livecart_media_bytes_forwarded_total\{kind="video"\} [1-9]', text)
    assert re.search(r'livecart_media_keyframe_requests_total\{outcome="sent"\} [1-9]', text)
    await viewer.close()
    await publisher.close()
