"""The pinned client: it connects to the checked addresses only, keeping the request's URL."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from hub import egress


def answers(*addresses: str) -> egress.Resolver:
    def resolve(host: str, port: int, **_kwargs: Any) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return resolve


@pytest.fixture
def local_server() -> Iterator[tuple[int, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append({k.lower(): v for k, v in self.headers.items()})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()


def test_check_returns_the_checked_addresses_in_order() -> None:
    destination = egress.check(
        "https://Hooks.Example.com/in", allow_private=False, resolver=answers("93.184.215.14", "1.1.1.1")
    )
    assert (destination.host, destination.port, destination.scheme) == ("hooks.example.com", 443, "https")
    assert destination.addresses == (ipaddress.ip_address("93.184.215.14"), ipaddress.ip_address("1.1.1.1"))
    assert destination.pinned


def test_allowing_private_addresses_does_not_resolve_or_pin() -> None:
    destination = egress.check("http://intranet:8080/x", allow_private=True, resolver=answers())
    assert not destination.pinned
    assert destination.url == "http://intranet:8080/x"


def test_refusals_name_the_host_but_not_the_resolved_address() -> None:
    with pytest.raises(egress.UrlNotAllowed) as caught:
        egress.check("https://h.example.com/", allow_private=False, resolver=answers("8.8.8.8", "100.64.0.7"))
    assert str(caught.value) == "h.example.com resolves to an address that is not publicly routable"
    assert caught.value.reason == "not publicly routable"


def test_the_pinned_client_connects_to_the_checked_address_with_the_host_header(
    local_server: tuple[int, list[dict[str, str]]],
) -> None:
    port, seen = local_server
    destination = egress.Destination(
        url=f"http://hooks.example.test:{port}/in",
        scheme="http",
        host="hooks.example.test",
        port=port,
        addresses=(ipaddress.ip_address("127.0.0.1"),),
    )
    with egress.client(destination) as client:
        response = client.get(destination.url)
    assert response.status_code == 204
    assert str(response.request.url) == f"http://hooks.example.test:{port}/in"  # not the address
    assert seen[0]["host"] == f"hooks.example.test:{port}"


def test_the_pinned_client_tries_the_next_checked_address_when_one_refuses(
    local_server: tuple[int, list[dict[str, str]]],
) -> None:
    port, seen = local_server
    # the server listens on 127.0.0.1 only, so 127.0.0.2 refuses the connection
    destination = egress.Destination(
        url=f"http://hooks.example.test:{port}/in",
        scheme="http",
        host="hooks.example.test",
        port=port,
        addresses=(ipaddress.ip_address("127.0.0.2"), ipaddress.ip_address("127.0.0.1")),
    )
    with egress.client(destination) as client:
        assert client.get(destination.url).status_code == 204
    assert len(seen) == 1


@pytest.mark.parametrize(
    "url",
    ["http://other.example.test:{port}/in", "http://hooks.example.test:1/in", "https://hooks.example.test:{port}/in"],
)
def test_the_pinned_client_refuses_any_other_destination(
    local_server: tuple[int, list[dict[str, str]]], url: str
) -> None:
    port, seen = local_server
    destination = egress.Destination(
        url=f"http://hooks.example.test:{port}/in",
        scheme="http",
        host="hooks.example.test",
        port=port,
        addresses=(ipaddress.ip_address("127.0.0.1"),),
    )
    with egress.client(destination) as client, pytest.raises(httpx.ConnectError, match="only calls the checked"):
        client.get(url.format(port=port))
    assert seen == []
