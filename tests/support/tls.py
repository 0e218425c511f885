"""Throw-away TLS for tests: one CA, server certificates for chosen names, and the "internet"
a pinned request goes through (a public address routed to a local server)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterable
from pathlib import Path

import certifi
import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


class ThrowawayCA:
    """A certificate authority made for one test; ``issue`` signs a server certificate."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        now = dt.datetime.now(dt.UTC)
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Hub test CA")])
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(self._name)
            .issuer_name(self._name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, name: str, *, dns: Iterable[str] = (), ips: Iterable[str] = ()) -> ssl.SSLContext:
        """A server TLS context whose certificate is valid for ``dns`` names and ``ips``."""

        now = dt.datetime.now(dt.UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        alt_names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        alt_names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self._name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        cert_file, key_file = self.directory / f"{name}.pem", self.directory / f"{name}.key"
        cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        return context

    def trusting_context(self) -> ssl.SSLContext:
        """What Hub's TLS context trusts (certifi) plus this CA."""
        context = ssl.create_default_context(cafile=certifi.where())
        context.load_verify_locations(cafile=str(self.ca_file))
        return context


def resolver_answering(*answers: str) -> Callable[..., list[tuple[object, ...]]]:
    """A resolver (``socket.getaddrinfo``'s shape) giving ``answers[n]`` to its n-th question
    and the last one from then on; ``.questions`` lists the host names it was asked."""
    questions: list[str] = []

    def resolve(host: str, port: int, *_args: object, **_kwargs: object) -> list[tuple[object, ...]]:
        questions.append(host)
        address = answers[min(len(questions), len(answers)) - 1]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    resolve.questions = questions  # type: ignore[attr-defined]
    return resolve


def routed(routes: dict[tuple[str, int], int]) -> Callable[[ssl.SSLContext], httpx.BaseTransport]:
    """The internet for a pinned request: a connection to a (public address, port) in ``routes``
    reaches the local server on that port; every other address is connected to as it is."""

    class Router(httpx.BaseTransport):
        def __init__(self, verify: ssl.SSLContext) -> None:
            self.inner = httpx.HTTPTransport(verify=verify)

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            url = request.url
            port = routes.get((url.host, url.port or (443 if url.scheme == "https" else 80)))
            if port is not None:
                url = url.copy_with(host="127.0.0.1", port=port)
            forwarded = httpx.Request(
                request.method, url, headers=request.headers, stream=request.stream, extensions=request.extensions
            )
            return self.inner.handle_request(forwarded)

        def close(self) -> None:
            self.inner.close()

    return Router
