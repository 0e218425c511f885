"""A local stand-in for the Microsoft identity platform (Entra ID v2.0) and Microsoft Graph.

It answers the calls Hub's Microsoft connector makes with the shapes PROTOCOLS.md sections D-F
document (and the fixtures under tests/connectors/microsoft/fixtures copy), keeps one mailbox
in memory, plays Graph's side of change notifications, and can be told to misbehave the ways
Microsoft does: a delta token Graph no longer knows (410 SyncStateNotFound), throttling (429
with a fractional Retry-After), a revoked grant (400 invalid_grant, AADSTS70008), a create whose
response is lost on the way back (the client retries; ``transactionId`` dedups).

It speaks HTTPS: MSAL only accepts an ``https://`` authority and token endpoint. The server
certificate is issued by a throw-away CA made here. Hub's HTTP clients verify against one TLS
context built from certifi (``hub.http._tls_context``), so Hub has to be told to trust ``ca_file``:
in-process, replace that function with ``trusting_context`` (the test fixture monkeypatches it);
in a ``hub worker`` process, ``worker_env`` puts a ``sitecustomize`` on ``PYTHONPATH`` that adds
the CA to that context at start-up. ``SSL_CERT_FILE`` is set as well, for plain httpx clients.

Identity (authority ``{url}/{TENANT_ID}``):

* ``GET /{tenant}/v2.0/.well-known/openid-configuration``: the discovery document MSAL reads
  (``instance_discovery`` off).
* ``GET /{tenant}/oauth2/v2.0/authorize``: what the user's browser visits. The stand-in "signs
  the user in" at once and redirects to ``redirect_uri`` with a code (or ``error=access_denied``
  when told to). It keeps the request's ``nonce`` and PKCE ``code_challenge`` for that code.
* ``POST /{tenant}/oauth2/v2.0/token``: ``authorization_code`` (checks client secret, redirect
  URI and the S256 ``code_verifier``; answers with ``client_info`` and an id_token carrying the
  authorize request's nonce) and ``refresh_token`` (new tokens, rotated refresh token; or
  400 ``invalid_grant`` / ``error_codes: [70008]`` once ``revoked`` is set).

Graph (``{url}/v1.0``), every call needing a bearer token the token endpoint issued:
``GET /me``, ``GET /me/calendars``, ``GET /me[/calendars/{id}]/calendarView/delta`` (window,
``$skiptoken`` pages, ``$deltatoken`` increments with ``@removed``), ``POST`` and ``GET``
``/me[/calendars/{id}]/events`` (``transactionId`` dedup; the ``singleValueExtendedProperties``
``$filter``), ``PATCH`` and ``DELETE /me/events/{id}``, ``POST/PATCH/DELETE /subscriptions[/{id}]`` (creation
runs the validation handshake against Hub when ``route_public`` tells it where Hub is).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import ipaddress
import json
import os
import re
import secrets
import socket
import ssl
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import certifi
import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CLIENT_ID = "11112222-bbbb-3333-cccc-4444dddd5555"
CLIENT_SECRET = "hub~test~client~secret"
TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"
USER_ID = "00000000-0000-0000-66f3-3332eca7ea81"  # the user's object id: /me id, oid, client_info uid
ACCOUNT_EMAIL = "alice@contoso.com"
ACCOUNT_UPN = "alice@contoso.onmicrosoft.com"
CALENDAR_ID = "AAMkAGI2TG93AAA="
GRANTED_SCOPE = "Calendars.ReadWrite User.Read profile openid email"
RETRY_AFTER = "1.5"
MAX_SUBSCRIPTION_MINUTES = 4230  # the stored docs snapshot's limit for Outlook events (PROTOCOLS D)
MAX_CLIENT_STATE = 128

Answer = tuple[int | None, Any, dict[str, str]]  # status None: drop the connection, no response


# The sitecustomize ``worker_env`` installs: a ``hub worker`` process adds the stand-in's CA to the
# TLS context Hub's HTTP clients share (whether or not hub.http caches that context).
_SITECUSTOMIZE = '''"""Written by tests/support/graph_standin.py: trust a test stand-in's throw-away CA."""
import functools
import os

_ca = os.environ.get("HUB_TEST_EXTRA_CA_FILE")
if _ca:
    import hub.http as _http

    _original = getattr(_http, "_tls_context", None)
    if _original is not None:

        @functools.cache
        def _trusting():
            context = _original()
            context.load_verify_locations(cafile=_ca)
            return context

        _http._tls_context = _trusting
'''


# --- TLS ------------------------------------------------------------------------------------------


def _make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for 127.0.0.1/localhost signed by it."""

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Hub test stand-in CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())

    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_file, cert_file, key_file


class _TLSServer(ThreadingHTTPServer):
    """A threading HTTP server whose TLS handshake runs in each request's own thread."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: Any, context: ssl.SSLContext) -> None:
        super().__init__(address, handler)
        self.tls = context

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(15)
        try:
            tls = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            with contextlib.suppress(OSError):
                tls.shutdown(socket.SHUT_RDWR)
            tls.close()


# --- wire helpers -----------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _graph_time(moment: dt.datetime) -> str:
    """Graph's ``dateTime``: wall clock, no offset, seven fractional digits."""
    return moment.replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%S.0000000")


def _utc_stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_instant(value: str, zone: str | None = None) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_zone(zone))
    return parsed.astimezone(dt.UTC)


def _zone(name: str | None) -> dt.tzinfo:
    if not name or name == "UTC":
        return dt.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def graph_error(status: int, code: str, message: str) -> tuple[int, dict[str, Any]]:
    """Graph's error body (PROTOCOLS E): ``{"error": {"code", "message", "innerError"}}``."""
    request_id = str(uuid.uuid4())
    return status, {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": request_id,
            },
        }
    }


def entra_error(error: str, code: int, text: str) -> dict[str, Any]:
    """Entra's token-endpoint error body (PROTOCOLS F)."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    return {
        "error": error,
        "error_description": (
            f"AADSTS{code}: {text}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {now}"
        ),
        "error_codes": [code],
        "timestamp": now,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }


class GraphStandIn:
    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or Path(tempfile.mkdtemp(prefix="graph-standin-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ca_file, cert_file, key_file = _make_certificates(self.directory)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)

        self.lock = threading.RLock()
        # the mailbox
        self.events: dict[str, dict[str, Any]] = {}  # id -> stored event (internal keys start with "_")
        self.version = 0
        self._counter = 0
        # identity
        self.codes: dict[str, dict[str, Any]] = {}  # authorization code -> the authorize request
        self.access_tokens: dict[str, float] = {}  # token -> expiry (epoch)
        self.refresh_tokens: set[str] = set()
        self.last_refresh_token: str | None = None  # the newest one issued (Entra rotates them)
        self.authorizations: list[dict[str, str]] = []  # authorize requests' query parameters
        self.token_requests: list[dict[str, str]] = []  # token endpoint forms (secrets included)
        # Graph state
        self.delta_tokens: dict[str, dict[str, Any]] = {}
        self.skip_tokens: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, dict[str, Any]] = {}  # active, by id
        self.removed_subscriptions: dict[str, dict[str, Any]] = {}  # dropped by Graph on its own
        self.subscription_requests: list[dict[str, Any]] = []  # POST /subscriptions bodies
        self.subscription_patches: list[tuple[str, dict[str, Any]]] = []
        self.subscription_deletes: list[str] = []
        self.validations: list[dict[str, Any]] = []  # handshakes run against Hub
        self.creates: list[dict[str, Any]] = []  # every POST .../events body, duplicates included
        self.deletes: list[str] = []  # ids deleted by DELETE .../events/{id}
        self.patches: list[tuple[str, dict[str, Any]]] = []  # (id, body) of every PATCH .../events/{id}
        self.lookups: list[dict[str, str]] = []  # GET .../events queries
        self.requests: list[dict[str, Any]] = []  # every request: at, method, path, query, status
        # switches
        self.revoked = False  # refresh_token grants answer 400 invalid_grant (AADSTS70008)
        self.deny_next_consent = False  # the next authorize redirects with error=access_denied
        self.wrong_nonce_next = False  # the next code redemption's id_token carries another nonce
        self.expire_delta_tokens_once = False  # the next $deltatoken call answers 410 SyncStateNotFound
        self.throttle_next = 0  # answer this many Graph calls with 429 + Retry-After: 1.5
        self.drop_next_create_response = False  # store the next created event, then drop the connection
        self.page_size: int | None = None  # cap delta pages below the client's odata.maxpagesize
        # the calendar's allowedOnlineMeetingProviders (an admin may allow none: ["unknown"])
        self.online_meeting_providers = ["teamsForBusiness"]
        self.meetings: list[str] = []  # joinUrl of every Teams meeting Graph made
        # where Hub really is, for handshakes and deliveries: public prefix -> reachable prefix
        self.routes: dict[str, str] = {}

        standin = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 15

            def do_GET(self) -> None:
                standin._handle(self, "GET")

            def do_POST(self) -> None:
                standin._handle(self, "POST")

            def do_PATCH(self) -> None:
                standin._handle(self, "PATCH")

            def do_DELETE(self) -> None:
                standin._handle(self, "DELETE")

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = _TLSServer(("127.0.0.1", 0), Handler, context)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}"
        self.authority = f"{self.url}/{TENANT_ID}"
        self.graph_url = f"{self.url}/v1.0"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> GraphStandIn:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def settings(self) -> dict[str, Any]:
        """The Hub settings (field names) that point its Microsoft connector here."""
        return {
            "microsoft_client_id": CLIENT_ID,
            "microsoft_client_secret": CLIENT_SECRET,
            "microsoft_authority": self.authority,
            "microsoft_graph_url": self.graph_url,
        }

    def env(self) -> dict[str, str]:
        """``settings()`` as Hub's environment variables, plus the CA to trust."""
        return {
            **{f"HUB_{name.upper()}": str(value) for name, value in self.settings().items()},
            "SSL_CERT_FILE": str(self.ca_file),
        }

    def worker_env(self, directory: Path) -> dict[str, str]:
        """``env()`` for a ``hub worker`` process, which also has to trust the stand-in's CA."""
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "sitecustomize.py").write_text(_SITECUSTOMIZE)
        path = [str(directory), *filter(None, [os.environ.get("PYTHONPATH")])]
        return {**self.env(), "PYTHONPATH": os.pathsep.join(path), "HUB_TEST_EXTRA_CA_FILE": str(self.ca_file)}

    def ssl_context(self) -> ssl.SSLContext:
        """Trusts only the stand-in (the test's own browser-like requests)."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def trusting_context(self) -> ssl.SSLContext:
        """What Hub's TLS context trusts (certifi) plus the stand-in's CA."""
        context = ssl.create_default_context(cafile=certifi.where())
        context.load_verify_locations(cafile=str(self.ca_file))
        return context

    def route_public(self, public_prefix: str, reachable_prefix: str) -> None:
        """Deliver what is addressed to ``public_prefix`` (Hub's HTTPS name) to ``reachable_prefix``."""
        self.routes[public_prefix.rstrip("/")] = reachable_prefix.rstrip("/")

    # --- test controls: the mailbox --------------------------------------------------------------

    def add_event(
        self,
        event_id: str,
        start: dt.datetime,
        end: dt.datetime,
        *,
        subject: str = "Busy",
        show_as: str = "busy",
        is_cancelled: bool = False,
        is_all_day: bool = False,
        event_type: str = "singleInstance",
    ) -> dict[str, Any]:
        """Create or replace an event (``start``/``end`` aware datetimes)."""
        with self.lock:
            now = dt.datetime.now(dt.UTC)
            previous = self.events.get(event_id)
            self.version += 1
            self.events[event_id] = {
                "id": event_id,
                "subject": subject,
                "showAs": show_as,
                "isCancelled": is_cancelled,
                "isAllDay": is_all_day,
                "type": event_type,
                "createdDateTime": previous["createdDateTime"] if previous else _utc_stamp(now),
                "lastModifiedDateTime": _utc_stamp(now),
                "iCalUId": "040000008200E00074C5B7101A82E008" + hashlib.sha256(event_id.encode()).hexdigest()[:32],
                "_start": start.astimezone(dt.UTC),
                "_end": end.astimezone(dt.UTC),
                "_zone": "UTC",
                "_version": self.version,
                "_deleted": False,
            }
            return self.render(self.events[event_id])

    def respond(self, event_id: str, email: str, response: str) -> None:
        """An attendee answers: their ``status.response`` (accepted, declined, tentativelyAccepted...)."""
        with self.lock:
            event = self.events[event_id]
            for attendee in event.get("_attendees", []):
                if attendee["emailAddress"]["address"] == email:
                    attendee["status"] = {"response": response, "time": _utc_stamp(dt.datetime.now(dt.UTC))}
            self.version += 1
            event["_version"] = self.version

    def move_event(self, event_id: str, start: dt.datetime, end: dt.datetime) -> None:
        """The host drags the event to another time in Outlook."""
        with self.lock:
            event = self.events[event_id]
            self.version += 1
            event.update({"_start": start.astimezone(dt.UTC), "_end": end.astimezone(dt.UTC), "_version": self.version})

    def delete_event(self, event_id: str) -> None:
        with self.lock:
            self.version += 1
            self.events[event_id].update({"_deleted": True, "_version": self.version})

    def live_events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self.render(e) for e in self.events.values() if not e["_deleted"]]

    def render(self, event: dict[str, Any], zone: str | None = None) -> dict[str, Any]:
        """An event as Graph documents it (MS-EVT): start/end without offset plus ``timeZone``."""
        zone_name = zone or "UTC"
        tz = _zone(zone_name)
        etag = base64.b64encode(f"{event['id']}:{event['_version']}".encode()).decode()
        body: dict[str, Any] = {
            "@odata.type": "#microsoft.graph.event",
            "@odata.etag": f'W/"{etag}"',
            "id": event["id"],
            "createdDateTime": event["createdDateTime"],
            "lastModifiedDateTime": event["lastModifiedDateTime"],
            "changeKey": etag,
            "iCalUId": event["iCalUId"],
            "subject": event["subject"],
            "isAllDay": event["isAllDay"],
            "isCancelled": event["isCancelled"],
            "isOrganizer": True,
            "showAs": event["showAs"],
            "type": event["type"],
            "seriesMasterId": None,
            "responseStatus": {"response": "organizer", "time": "0001-01-01T00:00:00Z"},
            "start": {"dateTime": _graph_time(event["_start"].astimezone(tz)), "timeZone": zone_name},
            "end": {"dateTime": _graph_time(event["_end"].astimezone(tz)), "timeZone": zone_name},
            "organizer": {"emailAddress": {"name": "Alice Example", "address": ACCOUNT_EMAIL}},
            "attendees": [
                {"status": {"response": "none", "time": "0001-01-01T00:00:00Z"}, **a}
                for a in event.get("_attendees", [])
            ],
            "recurrence": None,
            "isOnlineMeeting": bool(event.get("_online_meeting")),
            "onlineMeetingProvider": "teamsForBusiness" if event.get("_online_meeting") else "unknown",
            "onlineMeeting": event.get("_online_meeting"),
        }
        if event.get("_transaction_id"):
            body["transactionId"] = event["_transaction_id"]  # "only returned ... if an app has set it"
        if event.get("_body"):
            body["body"] = event["_body"]
        return body

    def etag(self, event_id: str) -> str:
        with self.lock:
            return str(self.render(self.events[event_id])["@odata.etag"])

    # --- test controls: what Graph sends to Hub ---------------------------------------------------

    def active_subscription(self) -> dict[str, Any]:
        with self.lock:
            assert len(self.subscriptions) == 1, f"expected one subscription, have {list(self.subscriptions)}"
            return dict(next(iter(self.subscriptions.values())))

    def change_item(
        self,
        change_type: str,
        event_id: str,
        *,
        subscription: dict[str, Any] | None = None,
        client_state: str | None = None,
    ) -> dict[str, Any]:
        """One change notification as Graph posts it (MS-WH; no ``@odata.etag`` on delete)."""
        sub = subscription or self.active_subscription()
        resource = f"Users/{USER_ID}/Events/{event_id}"
        data: dict[str, Any] = {"@odata.type": "#Microsoft.Graph.Event", "@odata.id": resource, "id": event_id}
        if change_type != "deleted":
            data["@odata.etag"] = self.etag(event_id)
        return {
            "subscriptionId": sub["id"],
            "subscriptionExpirationDateTime": sub["expirationDateTime"],
            "changeType": change_type,
            "resource": resource,
            "resourceData": data,
            "clientState": sub["clientState"] if client_state is None else client_state,
            "tenantId": TENANT_ID,
        }

    def lifecycle_item(self, event: str, *, subscription: dict[str, Any] | None = None) -> dict[str, Any]:
        """One lifecycle notification (MS-LC)."""
        sub = subscription or self.active_subscription()
        return {
            "subscriptionId": sub["id"],
            "subscriptionExpirationDateTime": sub["expirationDateTime"],
            "tenantId": TENANT_ID,
            "clientState": sub["clientState"],
            "lifecycleEvent": event,
        }

    def deliver(self, items: list[dict[str, Any]], *, url: str | None = None) -> httpx.Response:
        """POST a ``changeNotificationCollection`` the way Graph does, to Hub's real address."""
        if url is None:
            with self.lock:
                sub = self.subscriptions.get(items[0]["subscriptionId"]) or self.removed_subscriptions.get(
                    items[0]["subscriptionId"]
                )
            assert sub is not None, "no such subscription"
            key = "lifecycleNotificationUrl" if "lifecycleEvent" in items[0] else "notificationUrl"
            url = sub[key]
        return httpx.post(
            self.reachable(url),
            content=json.dumps({"value": items}).encode(),
            headers={"Content-Type": "application/json; charset=utf-8"},
            timeout=10,
        )

    def remove_subscription(self) -> dict[str, Any]:
        """Graph drops the subscription on its own (password reset...); returns what it was."""
        with self.lock:
            sub = self.active_subscription()
            self.removed_subscriptions[sub["id"]] = self.subscriptions.pop(sub["id"])
            return sub

    def reachable(self, url: str) -> str:
        for public, actual in self.routes.items():
            if url.startswith(public):
                return actual + url[len(public) :]
        return url

    # --- the HTTP side ---------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(request.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        length = int(request.headers.get("content-length") or 0)
        raw = request.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in request.headers.items()}
        with self.lock:
            try:
                status, body, extra = self._route(method, parts.path, query, headers, raw)
            except Exception as exc:  # noqa: BLE001 - a stand-in bug shows up as a 500 the test can read
                status, body, extra = 500, {"error": {"code": "standInBug", "message": repr(exc)}}, {}
            self.requests.append(
                {"at": time.monotonic(), "method": method, "path": parts.path, "query": query, "status": status}
            )
        if status is None:  # the response is lost on the way back
            request.close_connection = True
            return
        if isinstance(body, (bytes, str)):
            payload = body.encode() if isinstance(body, str) else body
            content_type = extra.pop("content-type", "text/plain")
        else:
            payload = b"" if body is None else json.dumps(body).encode()
            content_type = "application/json; charset=utf-8" if body is not None else ""
        request.send_response(status)
        for name, value in extra.items():
            request.send_header(name, value)
        if content_type:
            request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    def _route(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], raw: bytes) -> Answer:
        tenant, _, rest = path.lstrip("/").partition("/")
        if tenant != "v1.0":
            return self._identity(method, tenant, "/" + rest, query, headers, raw)
        api = "/" + rest
        token = headers.get("authorization", "").removeprefix("Bearer ")
        if self.access_tokens.get(token, 0) < time.time():
            return (
                *graph_error(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid."),
                {},
            )
        if self.throttle_next > 0:
            self.throttle_next -= 1
            status, body = graph_error(429, "TooManyRequests", "Please retry again later.")
            return status, body, {"Retry-After": RETRY_AFTER}
        zone = _prefer_zone(headers.get("prefer", ""))
        if api == "/me" and method == "GET":
            return 200, self._me(), {}
        if api == "/me/calendars" and method == "GET":
            return 200, self._calendars(), {}
        match = re.fullmatch(r"/me(?:/calendars/([^/]+))?/calendarView/delta", api)
        if match and method == "GET":
            if match.group(1) not in (None, CALENDAR_ID):
                return (*graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store."), {})
            return (*self._delta(api, query, headers, zone), {})
        match = re.fullmatch(r"/me(?:/calendars/([^/]+))?/events", api)
        if match:
            if match.group(1) not in (None, CALENDAR_ID):
                return (*graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store."), {})
            if method == "POST":
                return self._create(json.loads(raw))
            if method == "GET":
                return (*self._list_events(query, zone), {})
        match = re.fullmatch(r"/me(?:/calendars/[^/]+)?/events/([^/]+)", api)
        if match and method == "GET":
            event = self.events.get(match.group(1))
            if event is None or event["_deleted"]:
                return (*graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store."), {})
            return 200, self.render(event, zone), {}
        if match and method == "PATCH":
            return (*self._patch(match.group(1), json.loads(raw), zone), {})
        if match and method == "DELETE":
            event = self.events.get(match.group(1))
            if event is None or event["_deleted"]:
                return (*graph_error(404, "itemNotFound", "The specified object was not found in the store."), {})
            self.deletes.append(event["id"])
            self.version += 1
            event.update({"_deleted": True, "_version": self.version})
            return 204, None, {}
        if api == "/subscriptions" and method == "POST":
            return (*self._subscribe(json.loads(raw)), {})
        match = re.fullmatch(r"/subscriptions/([^/]+)(/reauthorize)?", api)
        if match:
            sub = self.subscriptions.get(match.group(1))
            if sub is None:
                return (*graph_error(404, "ResourceNotFound", f"The object '{match.group(1)}' does not exist."), {})
            if match.group(2) and method == "POST":
                return 204, None, {}
            if method == "PATCH":
                body = json.loads(raw)
                self.subscription_patches.append((sub["id"], body))
                problem = _expiry_problem(body.get("expirationDateTime"))
                if problem:
                    return (*graph_error(400, "InvalidRequest", problem), {})
                sub["expirationDateTime"] = body["expirationDateTime"]
                return 200, _public_subscription(sub), {}
            if method == "DELETE":
                self.subscription_deletes.append(sub["id"])
                del self.subscriptions[sub["id"]]
                return 204, None, {}
        return (*graph_error(400, "BadRequest", f"stand-in has no route {method} {path}"), {})

    # --- identity ----------------------------------------------------------------------------------

    def _identity(
        self, method: str, tenant: str, path: str, query: dict[str, str], headers: dict[str, str], raw: bytes
    ) -> Answer:
        if tenant not in (TENANT_ID, "common", "organizations"):
            body = entra_error("invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
            return 400, body, {}
        base = f"{self.url}/{tenant}"
        if path == "/v2.0/.well-known/openid-configuration" and method == "GET":
            return 200, self._discovery(base, tenant), {}
        if path == "/oauth2/v2.0/authorize" and method == "GET":
            return self._authorize(query)
        if path == "/oauth2/v2.0/token" and method == "POST":
            form = {k: v[-1] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
            self.token_requests.append(form)
            status, body = self._token(form, headers)
            return status, body, {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}
        return 404, {"error": "not_found", "error_description": f"no route {method} {path}"}, {}

    def _discovery(self, base: str, tenant: str) -> dict[str, Any]:
        """Shaped like Entra's v2.0 document (fixture entra_openid_configuration_common.json)."""
        issuer_tenant = "{tenantid}" if tenant in ("common", "organizations") else tenant
        return {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{self.url}/{issuer_tenant}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{self.graph_url.removesuffix('/v1.0')}/oidc/userinfo",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": [
                "sub",
                "iss",
                "cloud_instance_name",
                "cloud_instance_host_name",
                "cloud_graph_host_name",
                "msgraph_host",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "acr",
                "nonce",
                "preferred_username",
                "name",
                "tid",
                "ver",
                "at_hash",
                "c_hash",
                "email",
            ],
            "kerberos_endpoint": f"{base}/kerberos",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }

    def _authorize(self, query: dict[str, str]) -> Answer:
        """The user consents at once; the browser is sent back to ``redirect_uri``."""
        self.authorizations.append(dict(query))
        redirect = query.get("redirect_uri", "")
        if query.get("client_id") != CLIENT_ID or not redirect or query.get("response_type") != "code":
            return 400, "AADSTS900144: The request body must contain the following parameter", {}
        back: dict[str, str] = {}
        if self.deny_next_consent:
            self.deny_next_consent = False
            back = {
                "error": "access_denied",
                "error_description": "AADSTS65004: User declined to consent to access the app.",
            }
        else:
            code = "1.AXkA" + secrets.token_urlsafe(24)
            self.codes[code] = {**query, "_issued": time.time()}
            back = {"code": code}
        if "state" in query:
            back["state"] = query["state"]
        back["session_state"] = str(uuid.uuid4())
        separator = "&" if "?" in redirect else "?"
        return 302, b"", {"Location": f"{redirect}{separator}{urlencode(back)}", "content-type": "text/html"}

    def _token(self, form: dict[str, str], headers: dict[str, str]) -> tuple[int, Any]:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        basic = headers.get("authorization", "")
        if basic.startswith("Basic "):
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        if client_id != CLIENT_ID or secret != CLIENT_SECRET:
            return 401, entra_error("invalid_client", 7000215, "Invalid client secret provided.")
        grant = form.get("grant_type")
        if grant == "authorization_code":
            auth = self.codes.pop(form.get("code", ""), None)
            if auth is None or time.time() - auth["_issued"] > 600:
                return 400, entra_error(
                    "invalid_grant", 70008, "The provided authorization code or refresh token has expired."
                )
            if form.get("redirect_uri") != auth.get("redirect_uri"):
                return 400, entra_error("invalid_grant", 50011, "The redirect URI does not match.")
            challenge = _b64url(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
            if auth.get("code_challenge_method") != "S256" or challenge != auth.get("code_challenge"):
                return 400, entra_error("invalid_grant", 501481, "The Code_Verifier does not match the code_challenge.")
            nonce = auth.get("nonce")
            if self.wrong_nonce_next:
                self.wrong_nonce_next = False
                nonce = hashlib.sha256(b"somebody else's sign-in").hexdigest()
            self.revoked = False
            return 200, self._tokens(nonce)
        if grant == "refresh_token":
            if self.revoked or form.get("refresh_token") not in self.refresh_tokens:
                return 400, entra_error(
                    "invalid_grant",
                    70008,
                    "The provided authorization code or refresh token has expired due to inactivity. "
                    "Send a new interactive authorization request for this user and resource.",
                )
            return 200, self._tokens(None)
        return 400, entra_error("unsupported_grant_type", 70003, "The app requested an unsupported grant type.")

    def _tokens(self, nonce: str | None) -> dict[str, Any]:
        """An Entra-shaped success response (PROTOCOLS F, entra_token_response.json)."""
        access = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + _b64url(secrets.token_bytes(24)) + ".sig"
        refresh = "1.AXkA-" + secrets.token_urlsafe(32)
        self.access_tokens[access] = time.time() + 4486
        self.refresh_tokens.add(refresh)
        self.last_refresh_token = refresh
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": CLIENT_ID,
            "iss": f"{self.url}/{TENANT_ID}/v2.0",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "name": "Alice Example",
            "oid": USER_ID,
            "preferred_username": ACCOUNT_EMAIL,
            "sub": "AAAAAAAAAAAAAAAAAAAAAExampleSubject",
            "tid": TENANT_ID,
            "ver": "2.0",
        }
        if nonce is not None:
            claims["nonce"] = nonce
        header = _b64url(json.dumps({"typ": "JWT", "alg": "RS256", "kid": "standin"}).encode())
        id_token = f"{header}.{_b64url(json.dumps(claims).encode())}.c2lnbmF0dXJl"
        client_info = base64.b64encode(json.dumps({"uid": USER_ID, "utid": TENANT_ID}).encode()).decode()
        return {
            "token_type": "Bearer",
            "scope": GRANTED_SCOPE,
            "expires_in": 4486,
            "ext_expires_in": 4486,
            "access_token": access,
            "refresh_token": refresh,
            "id_token": id_token,
            "client_info": client_info,
        }

    # --- Graph resources ---------------------------------------------------------------------------

    def _me(self) -> dict[str, Any]:
        return {
            "@odata.context": f"{self.graph_url}/$metadata#users/$entity",
            "id": USER_ID,
            "displayName": "Alice Example",
            "mail": ACCOUNT_EMAIL,
            "userPrincipalName": ACCOUNT_UPN,
        }

    def _calendars(self) -> dict[str, Any]:
        return {
            "@odata.context": f"{self.graph_url}/$metadata#me/calendars",
            "value": [
                {
                    "id": CALENDAR_ID,
                    "name": "Calendar",
                    "color": "auto",
                    "isDefaultCalendar": True,
                    "changeKey": "nfZyf7VcrEKLNoU37KWlkQAAA0x0+w==",
                    "canShare": True,
                    "canViewPrivateItems": True,
                    "canEdit": True,
                    "owner": {"name": "Alice Example", "address": ACCOUNT_EMAIL},
                    "allowedOnlineMeetingProviders": list(self.online_meeting_providers),
                    "defaultOnlineMeetingProvider": self.online_meeting_providers[0],
                }
            ],
        }

    def _delta(self, api: str, query: dict[str, str], headers: dict[str, str], zone: str) -> tuple[int, dict[str, Any]]:
        link_base = f"{self.graph_url}{api}"
        if "$skiptoken" in query:
            state = self.skip_tokens.pop(query["$skiptoken"], None)
            if state is None:
                return graph_error(410, "SyncStateNotFound", "The sync state generation is not found.")
            items = state["items"]
        elif "$deltatoken" in query:
            state = self.delta_tokens.get(query["$deltatoken"])
            if state is None or self.expire_delta_tokens_once:
                self.expire_delta_tokens_once = False
                return graph_error(
                    410,
                    "SyncStateNotFound",
                    "The sync state generation is not found. The delta token is expired and data must be "
                    "synchronized again.",
                )
            items = self._changes_since(state, zone)
        else:
            if "startDateTime" not in query or "endDateTime" not in query:
                return graph_error(
                    400,
                    "ErrorInvalidParameter",
                    "This request requires a time window specified by the query string parameters StartDateTime "
                    "and EndDateTime.",
                )
            state = {
                "start": _parse_instant(query["startDateTime"]),
                "end": _parse_instant(query["endDateTime"]),
                "version": 0,
            }
            items = [
                self.render(e, zone)
                for e in self.events.values()
                if not e["_deleted"] and self._in_window(e, state) and e["type"] != "seriesMaster"
            ]
        size = _max_page_size(headers.get("prefer", ""))
        if self.page_size is not None:
            size = min(size, self.page_size)
        page, rest = items[:size], items[size:]
        body: dict[str, Any] = {"@odata.context": f"{self.graph_url}/$metadata#Collection(event)", "value": page}
        if rest:
            token = secrets.token_urlsafe(12)
            self.skip_tokens[token] = {**state, "items": rest}
            body["@odata.nextLink"] = f"{link_base}?$skiptoken={token}"
        else:
            token = secrets.token_urlsafe(12)
            self.delta_tokens[token] = {"start": state["start"], "end": state["end"], "version": self.version}
            body["@odata.deltaLink"] = f"{link_base}?$deltatoken={token}"
        return 200, body

    @staticmethod
    def _in_window(event: dict[str, Any], window: dict[str, Any]) -> bool:
        return bool(event["_start"] < window["end"] and event["_end"] > window["start"])

    def _changes_since(self, state: dict[str, Any], zone: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for event in self.events.values():
            if event["_version"] <= state["version"]:
                continue
            if event["_deleted"] or not self._in_window(event, state):
                reason = "deleted" if event["_deleted"] else "changed"
                items.append(
                    {"@odata.type": "#microsoft.graph.event", "id": event["id"], "@removed": {"reason": reason}}
                )
            else:
                items.append(self.render(event, zone))
        return items

    def _create(self, body: dict[str, Any]) -> Answer:
        self.creates.append(body)
        transaction = body.get("transactionId")
        if transaction:
            for event in self.events.values():
                if event.get("_transaction_id") == transaction and not event["_deleted"]:
                    # Graph's dedup: a repeated POST with the same transactionId makes no second event
                    return 201, self.render(event, body["start"].get("timeZone")), {}
        self._counter += 1
        event_id = f"AAMkAGI1AAAt9AH{self._counter:03d}AAA="
        start = _parse_instant(body["start"]["dateTime"], body["start"].get("timeZone"))
        end = _parse_instant(body["end"]["dateTime"], body["end"].get("timeZone"))
        self.add_event(event_id, start, end, subject=body.get("subject") or "", show_as=body.get("showAs", "busy"))
        event = self.events[event_id]
        event["_transaction_id"] = transaction
        event["_properties"] = list(body.get("singleValueExtendedProperties") or [])
        event["_attendees"] = list(body.get("attendees") or [])
        if body.get("body"):
            event["_body"] = body["body"]
        provider = body.get("onlineMeetingProvider")
        if body.get("isOnlineMeeting") and provider in self.online_meeting_providers:
            join = f"https://teams.microsoft.com/l/meetup-join/19%3ameeting_{hashlib.sha256(event_id.encode()).hexdigest()[:24]}%40thread.v2/0"
            self.meetings.append(join)
            event["_online_meeting"] = {"joinUrl": join}
        if self.drop_next_create_response:
            self.drop_next_create_response = False
            return None, None, {}
        return 201, self.render(event, body["start"].get("timeZone")), {}

    def _patch(self, event_id: str, body: dict[str, Any], zone: str) -> tuple[int, Any]:
        """``PATCH /me/events/{id}``: the properties sent replace the stored ones; 404 when gone;
        ``transactionId`` cannot change (400, as Graph documents it may not be updated)."""
        event = self.events.get(event_id)
        if event is None or event["_deleted"]:
            return graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        if "transactionId" in body and body["transactionId"] != event.get("_transaction_id"):
            return graph_error(400, "ErrorInvalidRequest", "transactionId cannot be changed.")
        self.patches.append((event_id, body))
        self.version += 1
        if "start" in body:
            event["_start"] = _parse_instant(body["start"]["dateTime"], body["start"].get("timeZone"))
        if "end" in body:
            event["_end"] = _parse_instant(body["end"]["dateTime"], body["end"].get("timeZone"))
        if "subject" in body:
            event["subject"] = body["subject"]
        if "body" in body:
            event["_body"] = body["body"]
        if "attendees" in body:
            event["_attendees"] = list(body["attendees"])
        event["lastModifiedDateTime"] = _utc_stamp(dt.datetime.now(dt.UTC))
        event["_version"] = self.version
        return 200, self.render(event, zone)

    def _list_events(self, query: dict[str, str], zone: str) -> tuple[int, dict[str, Any]]:
        """``GET .../events`` with the single-value extended property ``$filter`` the connector uses."""
        self.lookups.append(dict(query))
        wanted = query.get("$filter", "")
        match = re.fullmatch(
            r"singleValueExtendedProperties/Any\(ep: ep/id eq '((?:[^']|'')*)' and ep/value eq '((?:[^']|'')*)'\)",
            wanted,
        )
        if wanted and match is None:
            return graph_error(400, "ErrorInvalidUrlQueryFilter", "The filter expression is not supported.")
        found = []
        for event in self.events.values():
            if event["_deleted"]:
                continue
            if match is not None:
                prop_id, value = match.group(1).replace("''", "'"), match.group(2).replace("''", "'")
                if not any(
                    p.get("id", "").lower() == prop_id.lower() and p.get("value") == value
                    for p in event.get("_properties", [])
                ):
                    continue
            found.append(self.render(event, zone))
        found = found[: int(query.get("$top", "10"))]
        if "$select" in query:
            keep = {"@odata.etag", *query["$select"].split(",")}
            found = [{k: v for k, v in e.items() if k in keep} for e in found]
        return 200, {"@odata.context": f"{self.graph_url}/$metadata#Collection(event)", "value": found}

    def _subscribe(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.subscription_requests.append(body)
        for key in ("changeType", "notificationUrl", "resource", "expirationDateTime"):
            if not body.get(key):
                return graph_error(400, "InvalidRequest", f"{key} is required.")
        for key in ("notificationUrl", "lifecycleNotificationUrl"):
            if body.get(key) and not str(body[key]).startswith("https://"):
                return graph_error(400, "InvalidRequest", f"The {key} must be an HTTPS URL.")
        if len(body.get("clientState") or "") > MAX_CLIENT_STATE:
            return graph_error(400, "InvalidRequest", "clientState is longer than 128 characters.")
        problem = _expiry_problem(body["expirationDateTime"])
        if problem:
            return graph_error(400, "InvalidRequest", problem)
        for key in ("notificationUrl", "lifecycleNotificationUrl"):
            if body.get(key) and not self._validate(body[key]):
                return graph_error(
                    400,
                    "ValidationError",
                    "Subscription validation request failed. Notification endpoint must respond with 200 OK to "
                    "validation request.",
                )
        sub = {
            "@odata.context": f"{self.graph_url}/$metadata#subscriptions/$entity",
            "id": str(uuid.uuid4()),
            "resource": body["resource"],
            "applicationId": CLIENT_ID,
            "changeType": body["changeType"],
            "clientState": body.get("clientState"),
            "notificationUrl": body["notificationUrl"],
            "notificationQueryOptions": None,
            "lifecycleNotificationUrl": body.get("lifecycleNotificationUrl"),
            "expirationDateTime": body["expirationDateTime"],
            "creatorId": USER_ID,
            "includeResourceData": body.get("includeResourceData"),
            "latestSupportedTlsVersion": body.get("latestSupportedTlsVersion", "v1_2"),
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationUrlAppId": None,
        }
        self.subscriptions[sub["id"]] = sub
        return 201, sub

    def _validate(self, address: str) -> bool:
        """Graph's handshake (MS-WH): POST ``?validationToken=`` and expect it back, decoded, in 10 s."""
        target = self.reachable(address)
        if target == address and not self.routes:
            return True  # nowhere to reach Hub: skip the handshake
        token = f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"
        separator = "&" if "?" in target else "?"
        started = time.perf_counter()
        try:
            answer = httpx.post(
                f"{target}{separator}validationToken={quote(token)}",
                content=b"",
                headers={"Content-Type": "text/plain; charset=utf-8"},
                timeout=10,
            )
        except httpx.HTTPError as exc:
            self.validations.append({"url": address, "ok": False, "error": repr(exc)})
            return False
        ok = (
            answer.status_code == 200
            and answer.headers.get("content-type", "").startswith("text/plain")
            and answer.text == token
        )
        self.validations.append(
            {
                "url": address,
                "ok": ok,
                "status": answer.status_code,
                "content_type": answer.headers.get("content-type"),
                "seconds": time.perf_counter() - started,
            }
        )
        return ok


def _prefer_zone(prefer: str) -> str:
    match = re.search(r'outlook\.timezone="([^"]+)"', prefer)
    return match.group(1) if match else "UTC"


def _max_page_size(prefer: str) -> int:
    match = re.search(r"odata\.maxpagesize=(\d+)", prefer)
    return int(match.group(1)) if match else 1000


def _expiry_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return "expirationDateTime is required."
    try:
        expiry = _parse_instant(value)
    except ValueError:
        return "expirationDateTime is not a valid date and time."
    minutes = (expiry - dt.datetime.now(dt.UTC)).total_seconds() / 60
    if minutes > MAX_SUBSCRIPTION_MINUTES:
        return f"Subscription expiration can only be {MAX_SUBSCRIPTION_MINUTES} minutes in the future."
    if minutes <= 0:
        return "Subscription expiration must be in the future."
    return None


def _public_subscription(sub: dict[str, Any]) -> dict[str, Any]:
    """What PATCH answers: the subscription; clientState is not echoed back by reads."""
    return {k: v for k, v in sub.items() if k != "clientState"}
