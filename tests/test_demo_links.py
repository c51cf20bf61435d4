"""The demo's banner links to every page, with tokens only in URL fragments (which
browsers never send, so no access log holds them), and the links lead to pages."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
from redis.asyncio import Redis

from livecart.auth.tokens import verify_token
from livecart.demo import SHOW_ID, banner, seed_demo
from tests.helpers import STRONG_ADMIN_KEY, STRONG_SECRET, LiveServer


async def test_the_banner_links_every_page_with_tokens_in_fragments_only(
    server: LiveServer, redis: Redis
) -> None:
    await seed_demo(server.runtime)
    text = banner(server.url, STRONG_SECRET, STRONG_ADMIN_KEY, None)
    links = re.findall(rf"{re.escape(server.url)}/\S*", text)
    pages = {urlsplit(link).path: link for link in links if "/api/" not in link}
    assert set(pages) >= {
        "/",
        f"/shows/{SHOW_ID}",
        f"/studio/{SHOW_ID}",
        f"/moderate/{SHOW_ID}",
        "/c/maya",
        "/merchant",
    }
    assert f"{server.url}/shows/{SHOW_ID}?ref=maya" in links
    for link in links:
        assert "token=" not in urlsplit(link).query, link

    roles = {}
    for link in links:
        fragment = urlsplit(link).fragment
        if fragment.startswith("token="):
            claims = verify_token(STRONG_SECRET, fragment.removeprefix("token="))
            roles[urlsplit(link).path] = (claims.role, claims.sub, claims.show)
    assert roles == {
        f"/shows/{SHOW_ID}": ("viewer", "ana", None),
        f"/studio/{SHOW_ID}": ("streamer", "maya", SHOW_ID),
        f"/moderate/{SHOW_ID}": ("moderator", "sam-mod", SHOW_ID),
    }

    async with httpx.AsyncClient() as http:
        for path in ("/", f"/shows/{SHOW_ID}", f"/shows/{SHOW_ID}?ref=maya"):
            page = await http.get(f"{server.url}{path}")
            assert page.status_code == 200 and "text/html" in page.headers["content-type"]
