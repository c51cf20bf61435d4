"""How the node's peer connections find their way: STUN/TURN servers, which addresses
ICE gathers candidates on, and which UDP ports media uses (``[media]`` settings).

aiortc (through aioice) gathers a host candidate on every address but loopback, each on
a port the kernel picks, with no setting for either. livecart narrows both through two
module-level names aiortc and aioice look up when a connection gathers:
``aioice.ice.get_host_addresses`` (the addresses) and ``aiortc.rtcicetransport.Connection``
(a subclass that binds host sockets inside ``[udp_port_min, udp_port_max]``). Both are
part of the pinned-version seam that livecart.media.passthrough checks.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import random
import socket
from typing import Any

import aioice.ice
import aioice.turn
import aiortc.rtcicetransport
from aioice import Candidate
from aioice.candidate import candidate_foundation, candidate_priority
from aiortc import RTCConfiguration, RTCIceServer

from livecart.config import MediaSettings

log = logging.getLogger("livecart.media")

_original_host_addresses = aioice.ice.get_host_addresses
_OriginalConnection = aioice.ice.Connection


def rtc_configuration(media: MediaSettings) -> RTCConfiguration:
    """ICE servers from ``media.ice_servers`` (aiortc uses the first STUN and the first
    TURN URL it is given)."""
    servers = []
    for url in media.ice_servers.split():
        if url.startswith(("turn:", "turns:")):
            servers.append(
                RTCIceServer(urls=url, username=media.ice_username, credential=media.ice_credential)
            )
        else:
            servers.append(RTCIceServer(urls=url))
    return RTCConfiguration(iceServers=servers or None)


class _Gathering:
    """What every connection of this process gathers on (set by ``configure``)."""

    addresses: frozenset[str] = frozenset()
    ports: tuple[int, int] | None = None


def configure(media: MediaSettings) -> None:
    """Apply the node's address and port settings to every connection made from now on."""
    _Gathering.addresses = frozenset(
        str(ipaddress.ip_address(a)) for a in media.bind_addresses.split()
    )
    lo, hi = media.udp_port_min, media.udp_port_max
    _Gathering.ports = (lo, hi) if lo and hi else None
    aioice.ice.get_host_addresses = host_addresses
    aiortc.rtcicetransport.Connection = PortRangeConnection  # type: ignore[attr-defined]


def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    """aioice's addresses (every one but loopback), narrowed to ``media.bind_addresses``."""
    found = _original_host_addresses(use_ipv4=use_ipv4, use_ipv6=use_ipv6)
    if not _Gathering.addresses:
        return found
    return [a for a in found if str(ipaddress.ip_address(a)) in _Gathering.addresses]


class PortRangeConnection(_OriginalConnection):
    """aioice's connection, with host sockets bound inside the configured port range."""

    async def get_component_candidates(
        self,
        component: int,
        addresses: list[str],
        timeout: int = 5,  # noqa: ASYNC109 (aioice's signature)
    ) -> list[Candidate]:
        ports = _Gathering.ports
        if ports is None:
            result: list[Candidate] = await super().get_component_candidates(
                component, addresses, timeout
            )
            return result
        loop = asyncio.get_running_loop()
        candidates: list[Candidate] = []
        protocols = []
        for address in addresses:
            protocol = await _bind_in_range(loop, self, address, ports)
            if protocol is None:
                log.warning("no free UDP port in %d-%d on %s for media", *ports, address)
                continue
            host, port = protocol.transport.get_extra_info("sockname")[:2]
            protocol.local_candidate = Candidate(
                foundation=candidate_foundation("host", "udp", host),
                component=component,
                transport="udp",
                priority=candidate_priority(component, "host"),
                host=host,
                port=port,
                type="host",
            )
            candidates.append(protocol.local_candidate)
            protocols.append(protocol)
        self._protocols += protocols
        if self.stun_server:
            reflexive = [
                asyncio.create_task(aioice.ice.server_reflexive_candidate(p, self.stun_server))
                for p in protocols
                if ipaddress.ip_address(p.local_candidate.host).version == 4
            ]
            if reflexive:
                done, pending = await asyncio.wait(reflexive, timeout=timeout)
                for task in pending:
                    task.cancel()
                candidates += [t.result()[0] for t in done if t.exception() is None]
        # TURN (a relayed candidate) comes from aioice itself, with no host sockets.
        more: list[Candidate] = await super().get_component_candidates(component, [], timeout)
        return candidates + more


async def _bind_in_range(
    loop: asyncio.AbstractEventLoop, connection: Any, address: str, ports: tuple[int, int]
) -> Any:
    lo, hi = ports
    order = list(range(lo, hi + 1))
    random.shuffle(order)
    for port in order:
        try:
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: aioice.ice.StunProtocol(connection), local_addr=(address, port)
            )
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                continue
            log.warning("cannot bind UDP %s:%d for media: %s", address, port, exc)
            return None
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, aioice.turn.UDP_SOCKET_BUFFER_SIZE)
        return protocol
    return None
