"""Debian's nginx, configured from docs/nginx/livecart.conf, in front of two real
``livecart serve`` nodes sharing the session's Redis: the API, the pages, the hub's
WebSocket (a viewer whose node is killed resumes through nginx on the other node and
misses nothing) and WHIP/WHEP (a show's video requests reach the node holding it).

nginx is never skipped: when it is missing, the test fails saying that tests/run
installs it, as the browser tests do for chromium.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis
from websockets.exceptions import ConnectionClosed

from livecart import __version__
from livecart.config import Settings
from livecart.hub import moderation
from livecart.media import passthrough
from livecart.runtime import Runtime
from tests.commerce.conftest import SHOW, seed_show
from tests.helpers import STRONG_ADMIN_KEY, STRONG_SECRET, LivecartProcess, bearer
from tests.hub.live import HubClient, ws_url
from tests.hub.test_nodes import assert_matches_stream, between, is_chat, stream_events
from tests.hub.test_nodes import write_events as write_show_events
from tests.media.clips import make_clip
from tests.media.peers import Watcher, publish, watch
from tests.netns import network_problem

TEMPLATE = Path(__file__).parents[2] / "docs" / "nginx" / "livecart.conf"
#: What the template names, replaced by the test's own: the nodes and the listen ports.
EXAMPLE_NODES = ("10.0.0.11:8080", "10.0.0.12:8080")
EXAMPLE_LISTEN = ("listen 80;", "listen 8081;", "listen 8082;")


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if found is None:
        pytest.fail(
            "nginx is not installed: tests/run installs Debian's nginx when it is missing "
            "(or run: apt-get install -y nginx)"
        )
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def render_config(nodes: list[str], ports: list[int], work: Path) -> str:
    """The shipped template with our nodes and ports, inside a whole nginx.conf that
    runs in the foreground with every file in ``work``."""
    text = TEMPLATE.read_text()
    for example, node in zip(EXAMPLE_NODES, nodes, strict=True):
        assert example in text, f"the template no longer names the example node {example}"
        text = text.replace(example, node)
    for listen, port in zip(EXAMPLE_LISTEN, ports, strict=True):
        assert text.count(listen) == 1, f"the template must have one {listen!r}"
        text = text.replace(listen, f"listen 127.0.0.1:{port};")
    # As root, nginx's workers switch to "nobody", who cannot write the temp dirs here.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {work / kind};" for kind in ("client_body", "proxy", "fastcgi")
    )
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {work / 'nginx.pid'};\n"
        f"error_log {work / 'error.log'} info;\nevents {{ worker_connections 1024; }}\n"
        "http {\n    log_format upstream '$request_method $uri $status $upstream_addr';\n"
        f"    access_log {work / 'access.log'} upstream;\n{temp}\n"
        f"    uwsgi_temp_path {work / 'uwsgi'};\n    scgi_temp_path {work / 'scgi'};\n"
        f"{text}\n}}\n"
    )


@dataclass
class Nginx:
    proc: subprocess.Popen[bytes]
    work: Path
    url: str  # the public address: every node
    own: list[str]  # each node's own address through nginx

    def access_log(self) -> list[str]:
        """One line per request: method, path, status, the node that answered."""
        return (self.work / "access.log").read_text().splitlines()

    def error_log(self) -> str:
        path = self.work / "error.log"
        return path.read_text(errors="replace") if path.exists() else "(no error log)"


@contextlib.contextmanager
def nginx_in_front_of(nodes: list[str], work: Path) -> Iterator[Nginx]:
    binary = nginx_binary()
    work.mkdir(parents=True, exist_ok=True)
    ports = [free_port() for _ in EXAMPLE_LISTEN]
    conf = work / "nginx.conf"
    conf.write_text(render_config(nodes, ports, work))
    checked = subprocess.run(
        [binary, "-t", "-p", str(work), "-c", str(conf)], capture_output=True, text=True
    )
    assert checked.returncode == 0, f"nginx -t refused the config:\n{checked.stderr}"
    out = (work / "nginx.out").open("wb")
    proc = subprocess.Popen(
        [binary, "-p", str(work), "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT
    )
    front = Nginx(
        proc, work, f"http://127.0.0.1:{ports[0]}", [f"http://127.0.0.1:{p}" for p in ports[1:]]
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", ports[0]), 1):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"nginx did not start:\n{front.error_log()}")
            time.sleep(0.05)
        yield front
    finally:
        proc.send_signal(signal.SIGTERM)  # fast shutdown: open sockets are closed
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        out.close()


@dataclass
class Node:
    process: LivecartProcess
    url: str  # direct, not through nginx

    def metric(self, name: str, labels: str = "") -> float:
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        match = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0


@dataclass
class Site:
    nginx: Nginx
    nodes: tuple[Node, Node]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The in-process runtime (seeding, writing events) uses the nodes' tick."""
    return settings.with_overrides({"hub": {"tick_ms": 10}})


@pytest.fixture
async def site(runtime: Runtime, settings: Settings, tmp_path: Path) -> AsyncIterator[Site]:
    """Show s1, live; two nodes on the session's Redis; nginx in front of them. Each
    node's server.public_url is its own address through nginx (docs/deploy.md)."""
    await seed_show(runtime)
    node_ports = [free_port(), free_port()]
    processes: list[LivecartProcess] = []
    with nginx_in_front_of([f"127.0.0.1:{p}" for p in node_ports], tmp_path / "nginx") as front:
        try:
            for port, own in zip(node_ports, front.own, strict=True):
                env = {
                    "LIVECART_REDIS_URL": settings.redis.url,
                    "LIVECART_AUTH_SECRET": STRONG_SECRET,
                    "LIVECART_AUTH_ADMIN_API_KEY": STRONG_ADMIN_KEY,
                    "LIVECART_CHECKOUT_PAYMENT_PROVIDER": "builtin",
                    "LIVECART_HUB_TICK_MS": "10",
                    "LIVECART_SERVER_LOG_LEVEL": "warning",
                    "LIVECART_SERVER_SHUTDOWN_TIMEOUT_S": "3",
                    "LIVECART_SERVER_PUBLIC_URL": own,
                }
                processes.append(
                    LivecartProcess(["serve", "--port", str(port)], cwd=tmp_path, env=env)
                )
            for process in processes:
                await asyncio.to_thread(process.wait_for_url)  # announces its public_url
            a, b = (
                Node(p, f"http://127.0.0.1:{port}")
                for p, port in zip(processes, node_ports, strict=True)
            )
            yield Site(front, (a, b))
        finally:
            for p in processes:
                if p.proc.poll() is None:
                    p.signal(signal.SIGTERM)
            for p in processes:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    await asyncio.to_thread(p.wait, 10)
                p.kill()


# --- HTTP ---------------------------------------------------------------------------


async def test_the_api_and_the_pages_answer_through_nginx(site: Site) -> None:
    async with httpx.AsyncClient(base_url=site.nginx.url, timeout=10) as http:
        for path in ("/healthz", "/readyz"):
            assert (await http.get(path)).status_code == 200, path
        show = await http.get(f"/api/shows/{SHOW}")
        assert show.status_code == 200 and show.json()["id"] == SHOW
        tap = {"sku": "p-plain", "quantity": 1, "idempotency_key": "through-nginx"}
        first = await http.post(f"/api/shows/{SHOW}/buy", json=tap, headers=bearer("ann"))
        assert first.status_code == 201 and first.json()["result"] == "confirmed", first.text
        # The retry may reach the other node: the same order, never a second one.
        again = await http.post(f"/api/shows/{SHOW}/buy", json=tap, headers=bearer("ann"))
        assert again.json()["order"]["id"] == first.json()["order"]["id"]
        page = await http.get(f"/shows/{SHOW}")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        script = await http.get("/static/js/hub-client.js")
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
        refused = await http.get("/api/shows/no*such")
        assert refused.status_code in (400, 404) and "error" in refused.json()
    # Both nodes served the public address (round robin), as nginx's log says.
    served_by = {line.split()[-1] for line in site.nginx.access_log() if line.startswith("GET ")}
    assert served_by == {node.url.removeprefix("http://") for node in site.nodes}, served_by
    # /metrics is for the scraper on the nodes' own network, never through nginx.
    async with httpx.AsyncClient(timeout=5) as http:
        for public in (site.nginx.url, *site.nginx.own):
            assert (await http.get(f"{public}/metrics")).status_code == 403
        for node in site.nodes:
            metrics = await http.get(f"{node.url}/metrics")
            assert metrics.status_code == 200
            assert f'livecart_info{{version="{__version__}"}} 1.0' in metrics.text


# --- the hub's WebSocket ------------------------------------------------------------


async def node_holding(site: Site, within: float = 5.0) -> int:
    """The index of the node with the one open hub session."""
    deadline = time.monotonic() + within
    while True:
        counts = [await asyncio.to_thread(n.metric, "livecart_hub_connections") for n in site.nodes]
        if sorted(counts) == [0.0, 1.0]:
            return counts.index(1.0)
        if time.monotonic() > deadline:
            raise AssertionError(f"hub sessions per node: {counts}")
        await asyncio.sleep(0.05)


async def test_a_viewer_whose_node_is_killed_resumes_through_nginx_and_misses_nothing(
    site: Site, runtime: Runtime, redis: Redis
) -> None:
    client = await HubClient.open(ws_url(site.nginx.url))
    first_last = client.hello["last_event_id"]
    doomed = site.nodes[await node_holding(site)]
    stop = asyncio.Event()
    writer = asyncio.create_task(write_show_events(runtime, stop))
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(0.5):
            while True:
                await client.receive()
    events_before_kill = len(client.events)

    doomed.process.proc.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    lost_at = None
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(10):
            while True:
                await client.receive(10)
    lost_at = time.monotonic()
    resumed = await HubClient.open(ws_url(site.nginx.url, last=client.last, epoch=client.epoch))
    resumed_at = time.monotonic()
    resumed.events = client.events  # one history across both sockets
    assert resumed.hello["mode"] == "resume", resumed.hello
    # Through nginx, the API goes on too: every request reaches the live node.
    async with httpx.AsyncClient(base_url=site.nginx.url, timeout=10) as http:
        for _ in range(6):
            assert (await http.get(f"/api/shows/{SHOW}")).status_code == 200

    await asyncio.sleep(0.5)
    stop.set()
    await writer
    end = await moderation.post_chat(runtime, SHOW, "zed", "the end", staff=False)
    await resumed.event("chat", is_chat("the end"), within=10)
    seen = between(resumed.events, first_last, end.message_id)
    stream = await stream_events(redis, first_last, end.message_id)
    after_kill = len(resumed.events) - events_before_kill
    assert after_kill > 20, after_kill
    assert_matches_stream(seen, stream)
    print(
        f"\nnginx failover: socket closed {lost_at - killed_at:.3f}s after SIGKILL, resumed "
        f"on the other node {resumed_at - lost_at:.3f}s later; {len(seen)} events seen, "
        f"{after_kill} of them after the kill"
    )
    await resumed.close()


# --- WHIP and WHEP ------------------------------------------------------------------


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("nginx-clip") / "clip.ts", 20)


async def show_stream(base_url: str, within: float = 10.0) -> dict[str, object]:
    """The show's ``stream`` once its video is live."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as http:
        while time.monotonic() < deadline:
            stream = (await http.get(f"/api/shows/{SHOW}")).json()["stream"]
            if stream is not None:
                return dict(stream)
            await asyncio.sleep(0.05)
    raise AssertionError(f"the video of {SHOW} did not go live within {within}s")


async def media_node(site: Site, refusals_before: list[float]) -> int:
    """The node that counted the WHIP refusals made since ``refusals_before``."""
    name, labels = "livecart_media_refusals_total", '{code="unsupported_media_type"}'
    after = [await asyncio.to_thread(n.metric, name, labels) for n in site.nodes]
    grown = [i for i, (a, b) in enumerate(zip(refusals_before, after, strict=True)) if b > a]
    assert len(grown) == 1, (refusals_before, after)
    return grown[0]


async def delete(url: str, headers: dict[str, str] | None = None) -> int:
    async with httpx.AsyncClient(timeout=10) as http:
        return (await http.delete(url, headers=headers or {})).status_code


async def test_whip_and_whep_of_a_show_reach_the_node_holding_its_video(
    site: Site, short_clip: Path
) -> None:
    problem = network_problem()
    if problem is not None:
        pytest.fail(f"WebRTC needs the test network namespace: {problem}")
    passthrough.install()  # the test's viewers keep frames encoded, as the media tests do
    front = site.nginx
    streamer = bearer("c1", "streamer", SHOW)
    name, labels = "livecart_media_refusals_total", '{code="unsupported_media_type"}'
    before = [await asyncio.to_thread(n.metric, name, labels) for n in site.nodes]
    async with httpx.AsyncClient(base_url=front.url, timeout=10) as http:
        # Refused offers (not SDP) show where the show's video requests go: one node.
        for _ in range(6):
            refused = await http.post(
                f"/api/shows/{SHOW}/whip",
                content=b"hi",
                headers={**streamer, "Content-Type": "text/plain"},
            )
            assert refused.status_code == 415, refused.text
        options = await http.options(f"/api/shows/{SHOW}/whep")
        assert options.status_code == 204 and options.headers["accept-post"] == "application/sdp"
        patch = await http.patch(f"/api/shows/{SHOW}/whep/wh_{'0' * 24}")
        assert patch.status_code == 405 and patch.json()["error"] == "method_not_allowed"
    hashed = await media_node(site, before)

    # Live through nginx: the ingest is on the show's node, and so is every viewer.
    publisher = await publish(front.url, SHOW, streamer, short_clip)
    assert publisher.response.status_code == 201, publisher.response.text
    assert publisher.location and publisher.location.startswith(f"/api/shows/{SHOW}/whip/in_")
    await show_stream(front.url)
    watchers: list[Watcher] = []
    for _ in range(3):
        watcher = await watch(front.url, SHOW)
        assert watcher.response.status_code == 201, watcher.response.text
        watchers.append(watcher)
    assert (
        await asyncio.to_thread(site.nodes[hashed].metric, "livecart_media_whep_viewers") == 3.0
    ), "every viewer is on the node with the ingest"
    await watchers[0].wait_for_frames(10)
    for watcher in watchers:
        assert watcher.location is not None
        assert await delete(f"{front.url}{watcher.location}") == 200
        await watcher.close()
    assert await delete(f"{front.url}{publisher.location}", streamer) == 200
    await publisher.close()

    # Live on the other node (reached at its own address): a viewer sent to the show's
    # node through nginx is redirected to the ingest node's public_url, and plays there.
    other = 1 - hashed
    publisher = await publish(front.own[other], SHOW, streamer, short_clip)
    assert publisher.response.status_code == 201, publisher.response.text
    await show_stream(front.url)
    sent = await watch(front.url, SHOW)
    assert sent.response.status_code == 307
    assert sent.response.headers["location"] == f"{front.own[other]}/api/shows/{SHOW}/whep"
    followed = await watch(front.own[other], SHOW)
    assert followed.response.status_code == 201
    await followed.wait_for_frames(10)
    assert followed.location is not None
    assert await delete(f"{front.own[other]}{followed.location}") == 200
    await followed.close()
    assert publisher.location is not None
    assert await delete(f"{front.own[other]}{publisher.location}", streamer) == 200
    await publisher.close()
