"""Which webhook URLs Hub refuses: malformed ones, and (unless allowed) private addresses."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from hub.deliveries import urls


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/hook", "loopback"),
        ("http://127.9.9.9:8080/hook", "loopback"),
        ("http://localhost/hook", "loopback"),
        ("http://2130706433/hook", "loopback"),  # 127.0.0.1 written as one number
        ("http://[::1]/hook", "loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),  # IPv4-mapped IPv6
        ("http://10.1.2.3/hook", "private"),
        ("https://172.16.0.1/hook", "private"),
        ("https://192.168.1.10/hook", "private"),
        ("http://[fd00::1]/hook", "private"),
        ("http://[2002:c0a8:0101::1]/hook", "private"),  # 6to4 around 192.168.1.1
        ("http://169.254.169.254/latest/meta-data", "link-local"),  # cloud metadata
        ("http://[fe80::1]/hook", "link-local"),
        ("http://224.0.0.1/hook", "multicast"),
        ("http://[ff02::1]/hook", "multicast"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://[::]/hook", "unspecified"),
        ("http://240.0.0.1/hook", "private"),  # reserved (class E); Python also calls it private
        ("http://100.64.0.1/hook", "not publicly routable"),  # carrier-grade NAT
    ],
)
def test_private_addresses_are_refused(url: str, reason: str) -> None:
    with pytest.raises(urls.UrlNotAllowed, match=reason) as caught:
        urls.check(url, allow_private=False)
    assert caught.value.code == "webhook_url_not_allowed"


@pytest.mark.parametrize(
    "url", ["https://8.8.8.8/hook", "http://1.1.1.1:8443/a?b=c", "https://[2606:4700:4700::1111]/hook"]
)
def test_public_addresses_are_accepted(url: str) -> None:
    assert urls.check(url, allow_private=False) == url


def test_allow_private_accepts_loopback_without_resolving() -> None:
    def no_dns(*_args: Any, **_kwargs: Any) -> list[Any]:
        raise AssertionError("must not resolve")

    assert urls.check("http://127.0.0.1:9/hook", allow_private=True, resolver=no_dns) == "http://127.0.0.1:9/hook"


def test_one_private_answer_among_public_ones_is_enough_to_refuse() -> None:
    def resolver(host: str, port: int, **_kwargs: Any) -> list[tuple[Any, ...]]:
        assert (host, port) == ("hooks.example.com", 443)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fe80::1%eth0", port, 0, 2)),
        ]

    with pytest.raises(urls.UrlNotAllowed) as caught:
        urls.check("https://hooks.example.com/in", allow_private=False, resolver=resolver)
    assert str(caught.value) == (
        "hooks.example.com resolves to a link-local address; webhooks must go to a publicly routable address"
    )  # the resolved addresses are not shown


def test_a_literal_address_is_named_as_given() -> None:
    with pytest.raises(urls.UrlNotAllowed) as caught:
        urls.check("http://127.0.0.1:8080/hook", allow_private=False)
    assert str(caught.value).startswith("127.0.0.1 is a loopback address;")


def test_a_host_that_does_not_resolve_is_a_validation_error() -> None:
    def resolver(*_args: Any, **_kwargs: Any) -> list[Any]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(urls.UrlError, match="does not resolve") as caught:
        urls.check("https://nowhere.invalid/hook", allow_private=False, resolver=resolver)
    assert caught.value.code == "validation_failed"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://8.8.8.8/hook", "http:// or https://"),
        ("8.8.8.8/hook", "http:// or https://"),
        ("https:///hook", "must name a host"),
        ("https://user:pass@8.8.8.8/hook", "credentials"),
        ("https://8.8.8.8:99999/hook", "not a valid URL"),
        ("https://8.8.8.8:0/hook", "port 0"),
        ("https://8.8.8.8/" + "a" * 2048, "at most 2048"),
    ],
)
def test_malformed_urls_are_refused_even_when_private_is_allowed(url: str, message: str) -> None:
    with pytest.raises(urls.UrlError, match=message) as caught:
        urls.check(url, allow_private=True)
    assert caught.value.code == "validation_failed"
