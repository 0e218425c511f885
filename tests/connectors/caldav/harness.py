"""The CalDAV connector's contract harness (``tests/connectors/shared_suite/harness.py``), over a
real CalDAV server: Radicale on loopback, started on first use and stopped by ``close``.

Every ``install`` is a new user on that server with one calendar (``work``). The respx routes
forward each request to Radicale unchanged and only sort them for the suite to count:

* ``calendars``: ``PROPFIND`` of the calendar home (what ``list_calendars`` reads); the first
  one Radicale accepts is answered ``429`` with ``Retry-After`` instead (what a CalDAV server
  rate-limiting says), every later one as Radicale answers it;
* ``create_event``: a ``PUT`` with ``If-None-Match: *`` (a new resource); ``update_event``: any
  other ``PUT`` of a resource (``If-Match``: the resource as Hub last wrote it);
  ``delete_event``: ``DELETE``;
* ``feed``: ``REPORT`` on the calendar (``sync-collection``, then ``calendar-multiget``);
* anything else (``GET``, other ``PROPFIND``s) goes through unsorted.

python-caldav first sends each request of a new client without credentials and answers the
server's ``401`` challenge (Basic or Digest) with them; those probes go to Radicale directly
(``Negotiation``), so the routes count what the connector asks, once per request.

CalDAV has no token endpoint (``token`` is None): a wrong or revoked app password is refused by
the server itself, ``401``, Hub's ``reauth_required`` with provider code ``http_401``. What the
calendar holds is read back from Radicale (``RadicaleHoldings``), keyed by resource path (the
provider event id without the ETag after ``#``).
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
import respx
from icalendar import Calendar

from connectors.caldav.calendar import split_id
from connectors.caldav.schemas import Account
from connectors.caldav.spec import build
from hub.clock import utcnow
from hub.connectors import Connector, ProviderCalendar, ResyncRequired
from hub.errors import PermanentError, ReauthRequired, TransientError
from hub.settings import Settings
from tests.connectors.shared_suite.harness import ErrorCase, Mocks
from tests.support.servers import RadicaleServer

PASSWORD: Final = "app-pass-contract"
CALENDAR: Final = "work"
SYNC_TOKEN_ERROR: Final = (
    '<?xml version="1.0" encoding="utf-8"?>\n<D:error xmlns:D="DAV:"><D:valid-sync-token/></D:error>'
)
RETRY: Final = {"Retry-After": "3"}
DROPPED: Final = frozenset({"content-encoding", "content-length", "transfer-encoding", "connection"})


def key(provider_event_id: str) -> str:
    """The resource a provider event id names (its path; the ETag after ``#`` dropped)."""
    return urlsplit(split_id(provider_event_id)[0]).path


def single(uid: str, start: datetime) -> str:
    stamp = "%Y%m%dT%H%M%SZ"
    return "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//Contract//EN",
            "BEGIN:VEVENT",
            f"UID:{uid}",
            "DTSTAMP:20270101T000000Z",
            f"DTSTART:{start.strftime(stamp)}",
            f"DTEND:{(start + timedelta(hours=1)).strftime(stamp)}",
            "SUMMARY:Busy",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )


def wall_clock(value: Any) -> str:
    moment: datetime = value.dt
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


class RadicaleHoldings:
    """What one user's calendar on the real server holds, read and changed over plain HTTP."""

    def __init__(self, calendar_url: str, auth: tuple[str, str]) -> None:
        self.calendar_url = calendar_url
        self.http = httpx.Client(auth=auth, timeout=10)

    def key(self, provider_event_id: str) -> str:
        return key(provider_event_id)

    def _hrefs(self) -> list[str]:
        answer = self.http.request(
            "PROPFIND",
            self.calendar_url,
            headers={"Depth": "1", "Content-Type": "application/xml"},
            content=b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>',
        )
        assert answer.status_code == 207, answer.status_code
        root = httpx.URL(self.calendar_url)
        hrefs = [part.split("</", 1)[0] for part in answer.text.split("href>")[1::2]]
        return [href for href in hrefs if href.endswith(".ics") and root.path != href]

    def events(self) -> dict[str, Any]:
        held: dict[str, Any] = {}
        for href in self._hrefs():
            answer = self.http.get(httpx.URL(self.calendar_url).join(href))
            assert answer.status_code == 200, answer.status_code
            vevents = Calendar.from_ical(answer.text).walk("VEVENT")
            assert len(vevents) == 1, "one booking is one event in one resource"
            event = vevents[0]
            held[href] = {
                "uid": str(event["UID"]),
                "sequence": int(event.get("SEQUENCE", 0)),
                "start": {"dateTime": wall_clock(event["DTSTART"])},
                "end": {"dateTime": wall_clock(event["DTEND"])},
            }
        return held

    def forget(self) -> None:
        for href in self._hrefs():
            assert self.http.delete(httpx.URL(self.calendar_url).join(href)).status_code in (200, 204)

    def feed_begins(self) -> None:
        """Two busy events ahead, inside the window the connector expands over."""
        start = utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
        for index in range(2):
            answer = self.http.put(
                f"{self.calendar_url}busy-{index}.ics",
                content=single(f"busy-{index}", start + timedelta(days=index)),
                headers={"Content-Type": "text/calendar"},
            )
            assert answer.status_code in (201, 204), answer.status_code

    def feed_changes(self) -> None:
        """One of them removed, so the incremental pull has a removal."""
        assert self.http.delete(f"{self.calendar_url}busy-0.ics").status_code in (200, 204)

    def close(self) -> None:
        self.http.close()


class Negotiation(httpx.BaseTransport):
    """Requests with credentials to the suite's router; the library's unauthenticated probes
    straight to the server."""

    def __init__(self, routed: httpx.BaseTransport, direct: Callable[[httpx.Request], httpx.Response]) -> None:
        self.routed = routed
        self.direct = direct

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if "authorization" not in request.headers:
            return self.direct(request)
        return self.routed.handle_request(request)


class CalDavHarness:
    slug = "caldav"
    revoked_provider_code = "http_401"  # the server refuses the password itself
    paged_feed = False  # sync-collection answers in one response

    def __init__(self) -> None:
        self._server: RadicaleServer | None = None
        self._directory: Path | None = None
        self._username = ""
        self._holdings: list[RadicaleHoldings] = []
        self.forward = httpx.Client(timeout=10)

    def server(self) -> RadicaleServer:
        if self._server is None:
            self._directory = Path(tempfile.mkdtemp(prefix="hub-contract-radicale-"))
            self._server = RadicaleServer(self._directory).start()
        return self._server

    @property
    def home_url(self) -> str:
        return f"{self.server().url}{self._username}/"

    @property
    def calendar(self) -> ProviderCalendar:
        return ProviderCalendar(f"{self.home_url}{CALENDAR}/", "Work", primary=True, timezone="Europe/Berlin")

    def settings(self, base: Settings) -> Settings:
        return base

    def build(self, settings: Settings, *, sleep: Callable[[float], None], transport: httpx.BaseTransport) -> Connector:
        return build(settings, sleep=sleep, transport=Negotiation(transport, self._pass))

    def _account(self, password: str) -> dict[str, Any]:
        return Account(
            server_url=self.server().url,
            principal_url=self.home_url,
            home_url=self.home_url,
            username=self._username,
            password=password,
        ).stored()

    def credentials(self) -> dict[str, Any]:
        return self._account(PASSWORD)

    def revoked_credentials(self) -> dict[str, Any]:
        return self._account("revoked-app-password")

    def error_cases(self) -> list[ErrorCase]:
        def xml(status: int, body: str, **headers: str) -> httpx.Response:
            return httpx.Response(status, text=body, headers={"Content-Type": "application/xml", **headers})

        return [
            ErrorCase("caldav_401", httpx.Response(401), ReauthRequired, "reauth_required", "http_401"),
            ErrorCase("caldav_403", httpx.Response(403), PermanentError, "permission_denied", "http_403"),
            ErrorCase(
                "caldav_403_valid_sync_token",
                xml(403, SYNC_TOKEN_ERROR),
                ResyncRequired,
                "resync_required",
                "valid-sync-token",
            ),
            ErrorCase("caldav_429", httpx.Response(429, headers=RETRY), TransientError, "rate_limited", "http_429"),
            ErrorCase("caldav_503", httpx.Response(503), TransientError, "provider_unavailable", "http_503"),
            ErrorCase("caldav_507", httpx.Response(507), TransientError, "provider_unavailable", "http_507"),
        ]

    def conference_asked(self, request: httpx.Request) -> str | None:
        """CalDAV has no way to ask a server for a conference (the spec declares none)."""
        return None

    def _pass(self, request: httpx.Request) -> httpx.Response:
        """The request as Radicale answers it."""
        answer = self.forward.send(
            httpx.Request(request.method, request.url, headers=request.headers, content=request.content)
        )
        headers = [(name, value) for name, value in answer.headers.multi_items() if name.lower() not in DROPPED]
        return httpx.Response(answer.status_code, headers=headers, content=answer.content)

    def install(self, router: respx.Router, settings: Settings) -> Mocks:
        server = self.server()
        self._username = f"contract{uuid.uuid4().hex[:8]}"
        server.add_user(self._username, PASSWORD)
        auth = (self._username, PASSWORD)
        made = self.forward.request("MKCALENDAR", self.calendar.provider_calendar_id, auth=auth)
        assert made.status_code == 201, made.status_code
        holdings = RadicaleHoldings(self.calendar.provider_calendar_id, auth)
        self._holdings.append(holdings)
        answers = [httpx.Response(429, headers={"Retry-After": "2"})]

        def calendar_list(request: httpx.Request) -> httpx.Response:
            answer = self._pass(request)
            return answers.pop(0) if answers and answer.status_code == 207 else answer

        calendar = self.calendar.provider_calendar_id
        resources = rf"{calendar}[^/]+\.ics$"
        mocks = Mocks(
            calendars=router.route(method="PROPFIND", url=self.home_url, name="calendars").mock(
                side_effect=calendar_list
            ),
            create_event=router.put(
                url__regex=resources, headers__contains={"If-None-Match": "*"}, name="create_event"
            ).mock(side_effect=self._pass),
            # after the create route: every other PUT of a resource (If-Match, or no condition)
            update_event=router.put(url__regex=resources, name="update_event").mock(side_effect=self._pass),
            delete_event=router.delete(url__regex=resources, name="delete_event").mock(side_effect=self._pass),
            feed=router.route(method="REPORT", url=calendar, name="feed").mock(side_effect=self._pass),
            token=None,
            holdings=holdings,
        )
        router.route(name="server").mock(side_effect=self._pass)
        return mocks

    def close(self) -> None:
        for holdings in self._holdings:
            holdings.close()
        self.forward.close()
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
