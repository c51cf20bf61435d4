"""The Janus the video tests run (tests/janus.py): Debian's janus with docs/janus's
configs, reachable only with the API secret, offering viewers a candidate on the test
network's address, and losing what the API made when it crashes."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from livecart.config import Settings
from tests.janus import (
    JANUS_ADMIN_KEY,
    JANUS_API_SECRET,
    PORT_BLOCK,
    JanusError,
    JanusServer,
    janus_pair,
    janus_settings,
    release_port_block,
    reserve_port_block,
)
from tests.netns import TEST_ADDRESS

__all__ = ["janus_pair"]

MOUNTPOINT_ID = 4242
MOUNTPOINT = {
    "request": "create",
    "type": "rtp",
    "id": MOUNTPOINT_ID,
    "media": [
        {
            "type": "video",
            "mid": "v",
            "port": 0,
            "pt": 96,
            "codec": "h264",
            "fmtp": "profile-level-id=42e01f;packetization-mode=1",
            "videobufferkf": True,
        },
        {"type": "audio", "mid": "a", "port": 0, "pt": 111, "codec": "opus"},
    ],
}


def offer_for(janus: JanusServer, mountpoint: int) -> str:
    """What a viewer of ``mountpoint`` is offered: "watch" acks, the offer comes as an
    event on the session's long poll."""
    session = janus.api("", {"janus": "create"})["data"]["id"]
    attached = janus.api(f"/{session}", {"janus": "attach", "plugin": "janus.plugin.streaming"})
    handle = attached["data"]["id"]
    ack = janus.api(
        f"/{session}/{handle}", {"janus": "message", "body": {"request": "watch", "id": mountpoint}}
    )
    assert ack["janus"] == "ack", ack
    response = httpx.get(
        f"{janus.url}/{session}",
        params={"maxev": 1, "apisecret": janus.api_secret},
        timeout=10.0,
    )
    events = response.json()
    event = events[0] if isinstance(events, list) else events
    assert event["janus"] == "event", event
    sdp: str = event["jsep"]["sdp"]
    assert event["jsep"]["type"] == "offer"
    janus.api(f"/{session}", {"janus": "destroy"})
    return sdp


@pytest.fixture
def janus(tmp_path: Path) -> Iterator[JanusServer]:
    start = reserve_port_block()
    server = JanusServer(
        tmp_path / "janus",
        http_port=start,
        rtp_range=(start + 1, start + PORT_BLOCK - 1),
        api_secret=JANUS_API_SECRET,
        admin_key=JANUS_ADMIN_KEY,
        name="janus-t",
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()
        release_port_block(start)


def test_janus_offers_viewers_the_test_address_only(janus: JanusServer) -> None:
    created = janus.streaming(MOUNTPOINT)
    assert created["streaming"] == "created"
    ports = [p["port"] for p in created["stream"]["ports"]]
    low, high = janus.mountpoint_ports
    assert all(low <= port <= high for port in ports), (ports, janus.mountpoint_ports)

    sdp = offer_for(janus, MOUNTPOINT_ID)
    candidates = re.findall(r"^a=candidate:\S+ \d+ \S+ \d+ (\S+) (\d+) typ (\S+)", sdp, re.M)
    assert candidates, sdp
    low, high = janus.webrtc_ports
    for address, port, kind in candidates:
        assert (address, kind) == (TEST_ADDRESS, "host")
        assert low <= int(port) <= high
    assert f"c=IN IP4 {TEST_ADDRESS}" in sdp
    assert "127.0.0.1" not in sdp


def test_janus_refuses_a_wrong_api_secret_or_admin_key(janus: JanusServer) -> None:
    refused = janus.api("", {"janus": "create"}, secret="not-the-secret")
    assert refused["janus"] == "error"
    assert refused["error"]["code"] == 403  # JANUS_ERROR_UNAUTHORIZED
    with pytest.raises(JanusError, match="error_code"):
        janus.streaming({**MOUNTPOINT, "admin_key": "not-the-key"})
    assert janus.mountpoint_ids() == []


def test_mountpoints_made_over_the_api_do_not_survive_a_crash(janus: JanusServer) -> None:
    janus.streaming(MOUNTPOINT)
    assert janus.mountpoint_ids() == [MOUNTPOINT_ID]
    pid = janus.pid
    # A client holding a kept-alive connection (as livecart's does) when Janus dies
    # leaves the port in TIME_WAIT on Janus' side: the restart binds it all the same.
    with httpx.Client() as kept_alive:
        kept_alive.post(janus.url, json={"janus": "info", "transaction": "k"})
        janus.kill()
    assert not janus.alive
    with pytest.raises(httpx.TransportError):
        httpx.post(janus.url, json={"janus": "info", "transaction": "x"}, timeout=1.0)
    janus.restart()
    assert janus.pid != pid
    assert janus.mountpoint_ids() == []


def test_the_pair_runs_apart_and_livecart_is_pointed_at_both(
    janus_pair: tuple[JanusServer, JanusServer], settings: Settings
) -> None:
    a, b = janus_pair
    assert a.alive and b.alive
    ranges = sorted([a.webrtc_ports, a.mountpoint_ports, b.webrtc_ports, b.mountpoint_ports])
    assert all(low_end < high_start for (_, low_end), (high_start, _) in itertools.pairwise(ranges))
    a.streaming(MOUNTPOINT)
    assert (a.mountpoint_ids(), b.mountpoint_ids()) == ([MOUNTPOINT_ID], [])
    media = janus_settings(settings, janus_pair).media
    assert media.janus_urls.split() == [a.url, b.url]
    assert (media.janus_api_secret, media.janus_admin_key) == (JANUS_API_SECRET, JANUS_ADMIN_KEY)
