"""Calls to URLs that Hub's customers choose: which addresses Hub may reach, and pinning.

A customer-chosen URL (a webhook endpoint today; a CalDAV server of a connector later) must be
``http`` or ``https`` with a host and no credentials. Unless private addresses are allowed,
``check`` resolves the host once and refuses it when *any* answer is not publicly routable:
private, loopback, link-local, multicast, reserved, unspecified and other non-global ranges
(IPv4 and IPv6, including IPv4 addresses inside IPv4-mapped, 6to4 and Teredo IPv6 addresses).

The answer that was checked is the one Hub connects to. ``client(destination)`` gives an httpx
client (from ``hub.http.client``, so timeouts, user agent, tracing and TLS trust are the usual
ones) whose transport sends every request to the checked addresses only: it never asks DNS again,
so a name that answers a public address to the check and ``127.0.0.1`` a moment later (DNS
rebinding) still only reaches the public address. The request keeps its URL, so the ``Host``
header names the host and, over HTTPS, the TLS server name (SNI) is the host and the certificate
is verified against the host name, not the address. A request to any other host or port (a
redirect elsewhere, for instance) is refused by that transport.

Refusal messages name the host the customer gave, never the addresses it resolved to.

The resolver and the transport under the pinned one are the outside world; ``network()`` holds
them and tests replace it with ``replaced_network``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit

import httpx

from hub import http

MAX_URL_LENGTH = 2048

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[..., Sequence[tuple[Any, ...]]]  # socket.getaddrinfo's signature


class UrlError(ValueError):
    """The URL is malformed or unusable; ``code`` is the API error code to answer with."""

    code = "validation_failed"


class UrlNotAllowed(UrlError):
    """The URL's host is, or resolves to, an address Hub refuses to call."""

    code = "url_not_allowed"

    def __init__(self, host: str, reason: str, *, literal: bool) -> None:
        phrase = _PHRASES.get(reason, f"a {reason} address")
        super().__init__(f"{host} is {phrase}" if literal else f"{host} resolves to {phrase}")
        self.host = host
        self.reason = reason


_PHRASES = {
    "unspecified": "an unspecified address",
    "not publicly routable": "an address that is not publicly routable",
}


def _direct(verify: ssl.SSLContext) -> httpx.BaseTransport:
    return httpx.HTTPTransport(verify=verify)


@dataclass(frozen=True)
class Network:
    """The outside world under Hub's pinned requests: name resolution, and the transport that
    opens a connection to an address (given the TLS context to verify servers with)."""

    resolver: Resolver = socket.getaddrinfo
    transport: Callable[[ssl.SSLContext], httpx.BaseTransport] = _direct


class _Seam:
    """The process's one network seam: tests replace it, like the DNS it stands for."""

    def __init__(self) -> None:
        self.network = Network()


_seam = _Seam()


def network() -> Network:
    return _seam.network


@contextlib.contextmanager
def replaced_network(replacement: Network) -> Iterator[Network]:
    """Use ``replacement`` (a test's DNS and routing) for every check and pinned client."""
    previous, _seam.network = _seam.network, replacement
    try:
        yield replacement
    finally:
        _seam.network = previous


@dataclass(frozen=True)
class Destination:
    """A URL Hub may call. ``addresses`` are the checked ones to connect to; empty when private
    addresses are allowed and nothing was resolved (the connection then resolves as usual)."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[IPAddress, ...] = field(default=())

    @property
    def pinned(self) -> bool:
        return bool(self.addresses)


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
        raise UrlError("must not contain credentials")
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


def resolve(host: str, port: int, resolver: Resolver | None = None) -> list[IPAddress]:
    """Every address ``host`` resolves to, in the resolver's order (a literal resolves to itself)."""
    try:
        infos = (resolver or network().resolver)(host, port, type=socket.SOCK_STREAM)
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


def check(url: str, *, allow_private: bool, resolver: Resolver | None = None) -> Destination:
    """Where Hub may send a request for ``url``.

    Raises ``UrlError`` for a malformed URL or a host that does not resolve, and
    ``UrlNotAllowed`` when any of its addresses is refused. With ``allow_private`` the host is
    not resolved and the destination is not pinned.
    """
    parts = parse(url)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    destination = Destination(url=parts.geturl(), scheme=parts.scheme, host=host, port=port)
    if allow_private:
        return destination
    addresses = resolve(host, port, resolver)
    for address in addresses:
        reason = refusal(address)
        if reason is not None:
            raise UrlNotAllowed(host, reason, literal=_is_literal(host))
    return Destination(url=destination.url, scheme=parts.scheme, host=host, port=port, addresses=tuple(addresses))


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class PinnedTransport(httpx.BaseTransport):
    """Sends each request to the destination's checked addresses (in order, the next one only if
    connecting fails), with the request's own ``Host`` header and, over HTTPS, the host as TLS
    server name; certificates are verified against the host name."""

    def __init__(self, destination: Destination, inner: httpx.BaseTransport) -> None:
        if not destination.pinned:
            raise ValueError("a pinned transport needs the checked addresses")
        self.destination = destination
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        if (url.scheme, url.host.lower(), port) != (
            self.destination.scheme,
            self.destination.host,
            self.destination.port,
        ):
            raise httpx.ConnectError(
                f"this client only calls the checked destination {self.destination.host}:{self.destination.port}",
                request=request,
            )
        extensions = dict(request.extensions)
        if url.scheme == "https":
            extensions["sni_hostname"] = url.raw_host.decode("ascii")
        failure: httpx.ConnectError | None = None
        for address in self.destination.addresses:
            pinned = httpx.Request(
                request.method,
                url.copy_with(host=str(address)),
                headers=request.headers,  # Host names the host, as httpx set it from the URL
                stream=request.stream,
                extensions=extensions,
            )
            try:
                return self.inner.handle_request(pinned)
            except httpx.ConnectError as exc:  # nothing was sent: try the next checked address
                failure = exc
        assert failure is not None  # there is at least one address
        raise httpx.ConnectError(str(failure), request=request) from failure

    def close(self) -> None:
        self.inner.close()


def client(destination: Destination, *, verify: ssl.SSLContext | None = None, **options: Any) -> httpx.Client:
    """An httpx client (``hub.http.client``) for ``destination``: pinned to its checked addresses,
    or an ordinary one when it was not resolved (private addresses allowed). Close it when done."""
    if not destination.pinned:
        if verify is not None:
            options["verify"] = verify
        return http.client(**options)
    inner = network().transport(verify or http.tls_context())
    return http.client(transport=PinnedTransport(destination, inner), **options)
