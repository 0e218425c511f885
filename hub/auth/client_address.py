"""The address of the client behind a request, for the failed-authentication limits.

The direct peer (the TCP connection's address) is the client, unless it is one of the
operator's trusted reverse proxies (``HUB_TRUSTED_PROXIES``). Only then is
``X-Forwarded-For`` read: Hub walks it from the right, skipping trusted proxies, and takes the
first address that is not one. Entries to the left of that were written by the client itself
and are never believed. Without trusted proxies the header is ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def trusted_networks(proxies: Iterable[str]) -> tuple[Network, ...]:
    """``HUB_TRUSTED_PROXIES`` entries as networks (a bare address is a one-address network)."""
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _parse(value: str) -> Address | None:
    text = value.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address | None, networks: tuple[Network, ...]) -> bool:
    return address is not None and any(address in network for network in networks)


def client_address(scope: Any, networks: tuple[Network, ...]) -> str:
    """The client's address for the ASGI ``scope`` (``"unknown"`` when the server gave none)."""
    client = scope.get("client")
    peer_text = str(client[0]) if client else "unknown"
    peer = _parse(peer_text)
    if not networks or not _trusted(peer, networks):
        return str(peer) if peer is not None else peer_text
    hops: list[str] = []
    for name, value in scope.get("headers", ()):
        if name.lower() == b"x-forwarded-for":
            hops.extend(part for part in value.decode("latin-1").split(",") if part.strip())
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            break  # not an address: nothing further left can be believed either
        if not _trusted(address, networks):
            return str(address)
    return str(peer)  # every hop is a trusted proxy (or none was named): the peer is the client
