"""What a node checks of a Redis it did not start (``redis.url`` set), before it serves.

livecart needs Redis or Valkey 7.2 or newer (WAITAOF, and the functions and script
behaviour its Lua relies on): an older server is refused at start, naming the version
found, rather than failing on the first buy. And a confirmed order must survive a crash
(invariant 5), which only ``appendonly yes`` with ``appendfsync always`` promises: any
other setting is logged as a warning naming it, because the operator may have chosen it
(replicas with WAITAOF, a managed service's own guarantees) and livecart cannot tell.

Managed services often refuse ``CONFIG``: then the warning says the durability could
not be checked. On a Redis Cluster client every primary is checked, each on its own
(``get_primaries()`` and ``target_nodes``), since each holds its own shows' orders.
Only the public redis-py API is used, so both client kinds work unchanged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import ResponseError

from livecart.config import Settings, redact_url_secrets
from livecart.errors import ConfigError

log = logging.getLogger("livecart")

MIN_VERSION = (7, 2)
VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class ServerVersion:
    """The server's product and version as INFO reports it."""

    product: str  # "Valkey" or "Redis"
    text: str  # "9.1.2"
    parts: tuple[int, int, int]

    def __str__(self) -> str:
        return f"{self.product} {self.text}"


def server_version(info: Mapping[str, Any]) -> ServerVersion:
    """From ``INFO server``: Valkey's own version when it reports one (Valkey 8+ also
    reports ``redis_version`` 7.2.4, its compatibility level), else ``redis_version``."""
    for key, product in (("valkey_version", "Valkey"), ("redis_version", "Redis")):
        raw = info.get(key)
        if raw is None:
            continue
        text = str(raw)
        match = VERSION.match(text)
        if match is None:
            raise ConfigError(
                f"redis.url: the server reports {key} {text!r}, which is not a version number",
                field="redis.url",
            )
        major, minor, patch = match.groups()
        return ServerVersion(product, text, (int(major), int(minor), int(patch or 0)))
    raise ConfigError(
        "redis.url: the server's INFO server names no redis_version or valkey_version; "
        "livecart needs Redis or Valkey 7.2 or newer",
        field="redis.url",
    )


def version_problem(info: Mapping[str, Any]) -> str | None:
    """Why this server is too old for livecart, or None when it is recent enough."""
    version = server_version(info)
    if version.parts[:2] >= MIN_VERSION:
        return None
    wanted = ".".join(map(str, MIN_VERSION))
    return (
        f"the server at redis.url is {version}; livecart needs Redis or Valkey {wanted} or "
        "newer (WAITAOF and the script features its orders rely on): upgrade it"
    )


def durability_problem(config: Mapping[str, str]) -> str | None:
    """Which setting lets a crash lose acknowledged orders, or None when none does.
    ``config`` is what ``CONFIG GET`` returned for appendonly and appendfsync."""
    appendonly = config.get("appendonly")
    appendfsync = config.get("appendfsync")
    if appendonly != "yes":
        return (
            f"appendonly is {appendonly!r}: the server keeps no AOF, so a crash or restart "
            "loses every order since its last snapshot, confirmed ones too; set "
            "appendonly yes and appendfsync always"
        )
    if appendfsync != "always":
        return (
            f"appendfsync is {appendfsync!r}: a crash or power loss may lose orders "
            "acknowledged in the last second (everysec) or more (no); set appendfsync always"
        )
    return None


async def check_external_server(client: Redis | RedisCluster, settings: Settings) -> None:
    """The start-up check of a node on ``redis.url``; nothing for the embedded server,
    which livecart starts itself with the right binary and settings."""
    if not settings.embedded_redis:
        await check_server(client, f"Redis at {redact_url_secrets(settings.redis.url)}")


async def check_server(client: Redis | RedisCluster, source: str) -> None:
    """Refuse a server older than 7.2 (ConfigError naming the version); warn about a
    durability setting that can lose confirmed orders, or that could not be read.
    ``source`` names the server in messages, without its password."""
    if isinstance(client, RedisCluster):
        await client.initialize()  # the node map; a no-op once the client has one
        primaries = client.get_primaries()
        if not primaries:
            raise ConfigError(f"{source}: the cluster reports no primary", field="redis.url")
        for node in primaries:
            await _check_one(client, f"{source}, primary {node.name}", node)
    else:
        await _check_one(client, source, None)


async def _check_one(client: Redis | RedisCluster, source: str, node: ClusterNode | None) -> None:
    targets: dict[str, Any] = {} if node is None else {"target_nodes": node}
    try:
        info = _one_node(await client.info("server", **targets), node)
    except ResponseError as exc:  # an ACL user without INFO, a renamed command
        log.warning(
            "%s: could not check its version (INFO refused: %s); livecart needs Redis or "
            "Valkey 7.2 or newer",
            source,
            exc,
        )
    else:
        problem = version_problem(info)
        if problem is not None:
            raise ConfigError(f"{source}: {problem}", field="redis.url")
        log.info("%s is %s", source, server_version(info))
    try:
        config: dict[str, str] = {}
        for name in ("appendonly", "appendfsync"):
            config.update(_one_node(await client.config_get(name, **targets), node))
    except ResponseError as exc:  # managed services rename or refuse CONFIG
        log.warning(
            "%s: could not check that confirmed orders survive a crash (CONFIG GET refused: "
            "%s); make sure the server runs with appendonly yes and appendfsync always",
            source,
            exc,
        )
        return
    durability = durability_problem(config)
    if durability is not None:
        log.warning("%s: %s (README, 'Durability with your own Redis')", source, durability)


def _one_node(reply: Any, node: ClusterNode | None) -> dict[str, Any]:
    """A reply as one node's dict: a cluster client may key it by the node's name."""
    if node is not None and isinstance(reply, dict) and set(reply) == {node.name}:
        reply = reply[node.name]
    if not isinstance(reply, dict):
        raise TypeError(f"expected a dict from the server, got {reply!r}")
    return reply
