"""A local stand-in for Google's OAuth and Calendar v3 endpoints, for end-to-end tests.

It answers the calls Hub's Google connector makes with the shapes Google documents (the
shared fixtures): calendar list, events list / insert / patch / delete, watch and stop; it keeps
events in memory, and can be told to misbehave the ways Google does:
an expired sync token (410 fullSyncRequired), a rate limit (429 with Retry-After), a revoked
refresh token (400 invalid_grant).

Conferences follow Google's documented flow: an insert with ``conferenceDataVersion=1`` and
``conferenceData.createRequest`` answers the request with ``status.statusCode: "pending"``
(``meet_pending``) or ``"success"``, and ``finish_conferences()`` makes the pending ones
succeed (entry points and ``hangoutLink``), as ``events.get`` then shows. The host's own
actions are ``respond`` (a guest's ``responseStatus``), ``move_event`` and ``cancel_event``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

CLIENT_ID = "hub-test-client.apps.googleusercontent.com"
CLIENT_SECRET = "hub-test-secret"
ACCOUNT_SUB = "110248495921238986420"
ACCOUNT_EMAIL = "ada.host@gmail.com"
SCOPE = (
    "openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/calendar.events "
    "https://www.googleapis.com/auth/calendar.calendarlist.readonly"
)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def id_token() -> str:
    now = int(time.time())
    claims = {
        "iss": "https://accounts.google.com",
        "azp": CLIENT_ID,
        "aud": CLIENT_ID,
        "sub": ACCOUNT_SUB,
        "email": ACCOUNT_EMAIL,
        "email_verified": True,
        "iat": now,
        "exp": now + 3600,
    }
    return f"{_b64({'alg': 'RS256', 'kid': 'test', 'typ': 'JWT'})}.{_b64(claims)}.c2lnbmF0dXJl"


def _error(status: int, reason: str, message: str, domain: str = "global") -> tuple[int, dict[str, Any]]:
    return status, {
        "error": {
            "errors": [{"domain": domain, "reason": reason, "message": message}],
            "code": status,
            "message": message,
        }
    }


class GoogleStandIn:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calendar_id = ACCOUNT_EMAIL
        self.events: dict[str, dict[str, Any]] = {}  # id -> event, with "_version"
        self.version = 0
        self.revoked = False
        self.fail_next_sync_token = False  # 410 fullSyncRequired on the next incremental list
        self.rate_limit_next = 0  # answer this many calls with 429 + Retry-After: 1
        self.inserts: list[dict[str, Any]] = []
        self.deletes: list[str] = []
        self.patches: list[tuple[str, dict[str, Any]]] = []  # (event id, body) of every events.patch
        self.watches: list[dict[str, Any]] = []
        self.stopped: list[dict[str, Any]] = []
        self.requests: list[str] = []
        self.meet_pending = True  # new Meet conferences start "pending"
        self.conference_requests: list[str] = []  # requestId of every conference Google made
        standin = self

        class Handler(BaseHTTPRequestHandler):
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

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> GoogleStandIn:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def settings(self) -> dict[str, Any]:
        """The Hub settings (field names) that point its Google connector here."""
        return {
            "google_client_id": CLIENT_ID,
            "google_client_secret": CLIENT_SECRET,
            "google_auth_url": f"{self.url}/o/oauth2/v2/auth",
            "google_token_url": f"{self.url}/token",
            "google_revoke_url": f"{self.url}/revoke",
            "google_api_url": f"{self.url}/calendar/v3",
        }

    def env(self) -> dict[str, str]:
        """``settings()`` as Hub's environment variables."""
        return {f"HUB_{name.upper()}": str(value) for name, value in self.settings().items()}

    # --- test controls ---------------------------------------------------------------------

    def add_event(self, event_id: str, start: str, end: str, **extra: Any) -> None:
        with self.lock:
            self.version += 1
            self.events[event_id] = {
                "kind": "calendar#event",
                "id": event_id,
                "status": "confirmed",
                "start": {"dateTime": start},
                "end": {"dateTime": end},
                "updated": "2030-11-01T10:00:00.000Z",
                **extra,
                "_version": self.version,
            }

    def finish_conferences(self, status: str = "success") -> None:
        """Google finishes every pending conference (``success`` or ``failure``)."""
        with self.lock:
            for event in self.events.values():
                request = (event.get("conferenceData") or {}).get("createRequest")
                if request and request["status"]["statusCode"] == "pending":
                    event["conferenceData"] = _conference(request["requestId"], status)
                    if status == "success":
                        event["hangoutLink"] = _meet_link(request["requestId"])
                    self.version += 1
                    event["_version"] = self.version

    def respond(self, event_id: str, email: str, status: str) -> None:
        """A guest answers: their ``responseStatus`` (needsAction, accepted, declined, tentative)."""
        with self.lock:
            event = self.events[event_id]
            for attendee in event.get("attendees", []):
                if attendee["email"] == email:
                    attendee["responseStatus"] = status
            self.version += 1
            event["_version"] = self.version

    def move_event(self, event_id: str, start: str, end: str) -> None:
        """The host drags the event to another time in Google Calendar."""
        with self.lock:
            event = self.events[event_id]
            event["start"] = {"dateTime": start, "timeZone": "Europe/Berlin"}
            event["end"] = {"dateTime": end, "timeZone": "Europe/Berlin"}
            self.version += 1
            event["_version"] = self.version

    def cancel_event(self, event_id: str) -> None:
        with self.lock:
            self.version += 1
            self.events[event_id] = {
                "kind": "calendar#event",
                "id": event_id,
                "status": "cancelled",
                "_version": self.version,
            }

    # --- the HTTP side ------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(request.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(request.headers.get("content-length") or 0)
        raw = request.rfile.read(length) if length else b""
        self.requests.append(f"{method} {parts.path}")
        with self.lock:
            status, body, headers = self._route(method, unquote(parts.path), query, raw)
        payload = b"" if body is None else json.dumps(body).encode()
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        if body is not None:
            request.send_header("content-type", "application/json; charset=UTF-8")
        request.send_header("content-length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    def _route(self, method: str, path: str, query: dict[str, str], raw: bytes) -> tuple[int, Any, dict[str, str]]:
        if path == "/token":
            return (*self._token({k: v[-1] for k, v in parse_qs(raw.decode()).items()}), {})
        if path == "/revoke":
            self.revoked = True
            return 200, {}, {}
        if self.rate_limit_next > 0 and path.startswith("/calendar/v3/"):
            self.rate_limit_next -= 1
            return (*_error(429, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits"), {"Retry-After": "1"})
        api = path.removeprefix("/calendar/v3")
        if api == "/users/me/calendarList" and method == "GET":
            return (
                200,
                {
                    "kind": "calendar#calendarList",
                    "etag": '"p33k"',
                    "nextSyncToken": "cl1",
                    "items": [
                        {
                            "kind": "calendar#calendarListEntry",
                            "id": self.calendar_id,
                            "summary": "Ada Host",
                            "timeZone": "Europe/Berlin",
                            "accessRole": "owner",
                            "primary": True,
                            "conferenceProperties": {"allowedConferenceSolutionTypes": ["hangoutsMeet"]},
                        }
                    ],
                },
                {},
            )
        if api == "/channels/stop" and method == "POST":
            self.stopped.append(json.loads(raw))
            return 204, None, {}
        prefix = f"/calendars/{self.calendar_id}/events"
        if api == prefix + "/watch" and method == "POST":
            body = json.loads(raw)
            self.watches.append(body)
            expiration = str(int((time.time() + 7 * 86400) * 1000))
            return (
                200,
                {
                    "kind": "api#channel",
                    "id": body["id"],
                    "resourceId": "o3hgv1538sdjfh",
                    "resourceUri": f"{self.url}/calendar/v3/calendars/{self.calendar_id}/events?alt=json",
                    "token": body.get("token"),
                    "expiration": expiration,
                },
                {},
            )
        if api == prefix and method == "GET":
            return (*self._list(query), {})
        if api == prefix and method == "POST":
            body = json.loads(raw)
            if body.get("id") in self.events:
                return (*_error(409, "duplicate", "The requested identifier already exists."), {})
            self.inserts.append(body)
            self.version += 1
            request = (body.get("conferenceData") or {}).get("createRequest")
            if query.get("conferenceDataVersion") != "1":
                body.pop("conferenceData", None)  # "Version 0 ... ignores conference data in the event's body"
            elif request:
                self.conference_requests.append(request["requestId"])
                body["conferenceData"] = _conference(
                    request["requestId"], "pending" if self.meet_pending else "success"
                )
                if not self.meet_pending:
                    body["hangoutLink"] = _meet_link(request["requestId"])
            for attendee in body.get("attendees", []):
                attendee.setdefault("responseStatus", "needsAction")
            self.events[body["id"]] = {
                **body,
                "kind": "calendar#event",
                "status": "confirmed",
                "_version": self.version,
            }
            return 200, {k: v for k, v in self.events[body["id"]].items() if k != "_version"}, {}
        if api.startswith(prefix + "/") and method == "GET":
            event = self.events.get(api.removeprefix(prefix + "/"))
            if event is None:
                return (*_error(404, "notFound", "Not Found"), {})
            return 200, {k: v for k, v in event.items() if k != "_version"}, {}
        if api.startswith(prefix + "/") and method == "PATCH":
            return (*self._patch(api.removeprefix(prefix + "/"), json.loads(raw)), {})
        if api.startswith(prefix + "/") and method == "DELETE":
            event_id = api.removeprefix(prefix + "/")
            if event_id not in self.events or self.events[event_id]["status"] == "cancelled":
                return (*_error(410, "deleted", "Resource has been deleted"), {})
            self.deletes.append(event_id)
            self.version += 1
            self.events[event_id] = {
                "kind": "calendar#event",
                "id": event_id,
                "status": "cancelled",
                "_version": self.version,
            }
            return 204, None, {}
        return 404, {"error": {"code": 404, "message": f"stand-in has no route {method} {path}"}}, {}

    def _patch(self, event_id: str, body: dict[str, Any]) -> tuple[int, Any]:
        """events.patch: the fields sent replace the stored ones (arrays whole); a deleted event
        is 410 ``deleted``, an unknown one 404 ``notFound``."""
        event = self.events.get(event_id)
        if event is None:
            return _error(404, "notFound", "Not Found")
        if event["status"] == "cancelled":
            return _error(410, "deleted", "Resource has been deleted")
        self.patches.append((event_id, body))
        self.version += 1
        event.update(body)
        event["_version"] = self.version
        return 200, {k: v for k, v in event.items() if k != "_version"}

    def live_events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [
                {k: v for k, v in e.items() if k != "_version"}
                for e in self.events.values()
                if e["status"] != "cancelled"
            ]

    def _token(self, form: dict[str, str]) -> tuple[int, Any]:
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return 401, {"error": "invalid_client", "error_description": "Unauthorized"}
        if form.get("grant_type") == "authorization_code":
            if form.get("code") != "good-code" or not form.get("code_verifier"):
                return 400, {"error": "invalid_grant", "error_description": "Bad Request"}
            self.revoked = False
            return 200, {
                "access_token": f"ya29.access-{time.time_ns()}",
                "expires_in": 3599,
                "token_type": "Bearer",
                "scope": SCOPE,
                "refresh_token": "1//refresh-token",
                "id_token": id_token(),
            }
        if form.get("grant_type") == "refresh_token":
            if self.revoked:
                return 400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
            return 200, {
                "access_token": f"ya29.access-{time.time_ns()}",
                "expires_in": 3599,
                "scope": SCOPE,
                "token_type": "Bearer",
            }
        return 400, {"error": "unsupported_grant_type"}

    def _list(self, query: dict[str, str]) -> tuple[int, Any]:
        token = query.get("syncToken")
        if token is not None:
            if self.fail_next_sync_token:
                self.fail_next_sync_token = False
                return _error(
                    410, "fullSyncRequired", "Sync token is no longer valid, a full sync is required.", "calendar"
                )
            since = int(token.removeprefix("sync-"))
            items = [e for e in self.events.values() if e["_version"] > since]
        else:
            items = [e for e in self.events.values() if e["status"] != "cancelled"]
        return 200, {
            "kind": "calendar#events",
            "summary": self.calendar_id,
            "timeZone": "Europe/Berlin",
            "items": [{k: v for k, v in e.items() if k != "_version"} for e in items],
            "nextSyncToken": f"sync-{self.version}",
        }


def _meet_link(request_id: str) -> str:
    code = hashlib.sha256(request_id.encode()).hexdigest()
    return f"https://meet.google.com/{code[:3]}-{code[3:7]}-{code[7:10]}"


def _conference(request_id: str, status: str) -> dict[str, Any]:
    """``conferenceData`` as Google answers it for a Meet create request in ``status``."""
    data: dict[str, Any] = {
        "createRequest": {
            "requestId": request_id,
            "conferenceSolutionKey": {"type": "hangoutsMeet"},
            "status": {"statusCode": status},
        },
        "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet"},
    }
    if status == "success":
        link = _meet_link(request_id)
        data["entryPoints"] = [
            {"entryPointType": "video", "uri": link, "label": link.removeprefix("https://")},
            {"entryPointType": "more", "uri": "https://tel.meet/abc-defg-hij?pin=1234"},
        ]
        data["conferenceId"] = link.rsplit("/", 1)[-1]
    return data


def push_headers(channel_id: str, token: str, number: int, state: str = "exists") -> dict[str, str]:
    return {
        "X-Goog-Channel-ID": channel_id,
        "X-Goog-Channel-Token": token,
        "X-Goog-Channel-Expiration": "Tue, 19 Nov 2030 01:13:52 GMT",
        "X-Goog-Message-Number": str(number),
        "X-Goog-Resource-ID": "o3hgv1538sdjfh",
        "X-Goog-Resource-State": state,
        "X-Goog-Resource-URI": "https://www.googleapis.com/calendar/v3/calendars/ada.host%40gmail.com/events?alt=json",
    }
