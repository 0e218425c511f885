"""Which webhook URLs Hub may call.

A URL must be ``http`` or ``https`` with a host and no credentials. Unless
``HUB_WEBHOOKS_ALLOW_PRIVATE`` is set, every address the host resolves to must be publicly
routable: private, loopback, link-local, multicast, reserved, unspecified and other
non-global ranges (IPv4 and IPv6, including IPv4 addresses embedded in IPv4-mapped, 6to4 and
Teredo IPv6 addresses) are refused, so a webhook cannot be aimed at Hub's own network. The
check runs when an endpoint is created and again before every delivery attempt, because DNS
answers change.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import SplitResult, urlsplit

MAX_URL_LENGTH = 2048

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[..., Sequence[tuple[Any, ...]]]


class UrlError(ValueError):
    """The URL is malformed or unusable; ``code`` is the API error code to answer with."""

    code = "validation_failed"


class UrlNotAllowed(UrlError):
    """The URL points at an address Hub refuses to call."""

    code = "webhook_url_not_allowed"


def parse(url: str) -> SplitResult:
    """``url`` split into parts, or ``UrlError`` saying what is wrong with it."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlError(f"must be at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UrlError(f"is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise UrlError("must be an http:// or https:// URL")
    if not parts.hostname:
        raise UrlError("must name a host")
    if parts.username is not None or parts.password is not None:
        raise UrlError("must not contain credentials; authenticate the request with its signature")
    if port == 0:
        raise UrlError("must not use port 0")
    return parts


def refusal(address: IPAddress) -> str | None:
    """Why Hub refuses to call ``address`` (e.g. ``"loopback"``), or ``None`` if it may."""
    candidates: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            candidates = [address.ipv4_mapped]
        if address.sixtofour is not None:
            candidates.append(address.sixtofour)
        if address.teredo is not None:
            candidates.extend(address.teredo)
    for candidate in candidates:
        for reason, flagged in (
            ("unspecified", candidate.is_unspecified),
            ("loopback", candidate.is_loopback),
            ("link-local", candidate.is_link_local),
            ("multicast", candidate.is_multicast),
            ("private", candidate.is_private),
            ("reserved", candidate.is_reserved),
            ("not publicly routable", not candidate.is_global),
        ):
            if flagged:
                return reason
    return None


def resolve(host: str, port: int, resolver: Resolver = socket.getaddrinfo) -> list[IPAddress]:
    """Every address ``host`` resolves to (a literal address resolves to itself)."""
    try:
        infos = resolver(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UrlError(f"host {host!r} does not resolve ({exc})") from None
    addresses: list[IPAddress] = []
    for info in infos:
        raw = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone id
        address = ipaddress.ip_address(raw)
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UrlError(f"host {host!r} does not resolve")
    return addresses


def check(url: str, *, allow_private: bool, resolver: Resolver = socket.getaddrinfo) -> str:
    """``url`` normalised (surrounding space removed) if Hub may call it.

    Raises ``UrlError`` for a malformed URL or a host that does not resolve, and
    ``UrlNotAllowed`` when any of its addresses is refused (unless ``allow_private``).
    """
    parts = parse(url)
    if allow_private:
        return parts.geturl()
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for address in resolve(host, port, resolver):
        reason = refusal(address)
        if reason is not None:
            shown = host if host == str(address) else f"{host} ({address})"
            raise UrlNotAllowed(
                f"resolves to {shown}, which is {reason}; webhooks must go to a publicly routable address"
            )
    return parts.geturl()
