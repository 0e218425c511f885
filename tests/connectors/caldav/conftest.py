"""A real CalDAV server (Radicale on loopback) for the CalDAV connector's tests, started once per
module, and the connector's parts built over it with Hub's egress guard (private allowed)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from caldav.davclient import DAVClient

from connectors.caldav._transport import guarded
from connectors.caldav.auth import CalDavLinker
from connectors.caldav.calendar import CalDavCalendars
from connectors.caldav.client import CalDavClient
from connectors.caldav.sync import CalDavChangeFeed
from hub.connectors import LinkedAccount, PasswordLogin, ProviderCalendar
from tests.connectors.shared_suite.harness import MemoryStore
from tests.support.servers import RadicaleServer

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
PASSWORD = "app-pass-1234"


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RadicaleServer]:
    server = RadicaleServer(Path(tmp_path_factory.mktemp("radicale"))).start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Account:
    """One user on the server with one calendar, linked through the connector."""

    server: RadicaleServer
    username: str
    calendar_url: str
    linked: LinkedAccount
    calendars: CalDavCalendars
    feed: CalDavChangeFeed
    linker: CalDavLinker

    @property
    def store(self) -> MemoryStore:
        return MemoryStore(self.linked.credentials)

    @property
    def calendar(self) -> ProviderCalendar:
        return ProviderCalendar(self.calendar_url, "Work", True, "Europe/Berlin")

    def dav(self) -> DAVClient:
        return DAVClient(url=self.server.url, username=self.username, password=PASSWORD)

    def put(self, name: str, ics: str) -> None:
        with self.dav() as dav:
            answer = dav.put(f"{self.calendar_url}{name}", ics, {"Content-Type": "text/calendar"})
            assert answer.status in (201, 204), answer.status

    def delete(self, name: str) -> None:
        with self.dav() as dav:
            assert dav.delete(f"{self.calendar_url}{name}").status in (200, 204)

    def get(self, name: str) -> tuple[int, str]:
        with self.dav() as dav:
            answer = dav.request(f"{self.calendar_url}{name}", "GET")
            return answer.status, answer.raw if isinstance(answer.raw, str) else answer.raw.decode()


def parts(*, allow_private: bool = True) -> tuple[CalDavLinker, CalDavCalendars, CalDavChangeFeed]:
    client = CalDavClient(guarded(allow_private=allow_private), sleep=lambda _s: None)
    calendars = CalDavCalendars(client, clock=lambda: NOW)
    return (
        CalDavLinker(client, calendars, allow_private=allow_private),
        calendars,
        CalDavChangeFeed(client, clock=lambda: NOW),
    )


@pytest.fixture
def account(radicale: RadicaleServer) -> Account:
    username = f"user{uuid.uuid4().hex[:8]}"
    radicale.add_user(username, PASSWORD)
    calendar_url = f"{radicale.url}{username}/work/"
    with DAVClient(url=radicale.url, username=username, password=PASSWORD) as dav:
        assert dav.request(calendar_url, "MKCALENDAR").status == 201
    linker, calendars, feed = parts()
    linked = linker.link(PasswordLogin(username=username, password=PASSWORD, server_url=radicale.url))
    return Account(radicale, username, calendar_url, linked, calendars, feed, linker)
