"""The CalDAV connector against a real CalDAV server (Radicale on loopback): discovery, busy
times (recurrence, DST, transparency, cancellation), incremental sync, and booking writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from icalendar import Calendar

from connectors.caldav.auth import PRESETS, server_of
from hub.connectors import BusyChange, LinkRefused, OutboundEvent, PasswordLogin
from hub.errors import ReauthRequired
from hub.settings import Settings
from tests.connectors.caldav.conftest import NOW, PASSWORD, Account, parts
from tests.support.servers import RadicaleServer, free_port

SERIES = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Test//EN
BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE
BEGIN:VEVENT
UID:weekly-standup
DTSTAMP:20270101T000000Z
DTSTART;TZID=Europe/Berlin:20270315T090000
DTEND;TZID=Europe/Berlin:20270315T093000
RRULE:FREQ=WEEKLY;COUNT=5
EXDATE;TZID=Europe/Berlin:20270322T090000
SUMMARY:Standup
END:VEVENT
BEGIN:VEVENT
UID:weekly-standup
DTSTAMP:20270101T000000Z
RECURRENCE-ID;TZID=Europe/Berlin:20270405T090000
DTSTART;TZID=Europe/Berlin:20270405T110000
DTEND;TZID=Europe/Berlin:20270405T113000
SUMMARY:Standup (moved)
END:VEVENT
END:VCALENDAR
"""


def single(uid: str, start: str, end: str, extra: str = "") -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Test//EN",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20270101T000000Z",
        f"DTSTART:{start}",
        f"DTEND:{end}",
        *([extra] if extra else []),
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ]
    return "\r\n".join(lines)


def busy(changes: list[BusyChange]) -> list[tuple[datetime, datetime]]:
    return sorted((c.start, c.end) for c in changes if c.busy and c.start is not None and c.end is not None)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_bare_host_is_found_through_well_known_with_its_calendars(account: Account) -> None:
    credentials = account.linked.credentials
    assert account.linked.account_id == f"{account.server.url}{account.username}/"
    assert credentials["home_url"] == f"{account.server.url}{account.username}/"
    assert credentials["password"] == PASSWORD
    assert [c.provider_calendar_id for c in account.linked.calendars] == [account.calendar_url]
    assert account.linked.calendars[0].primary


def test_a_recurring_series_keeps_its_wall_clock_time_across_dst_with_exdate_and_override(
    account: Account,
) -> None:
    account.put("standup.ics", SERIES)
    batch = account.feed.pull(account.store, account.calendar, None)
    assert batch.full
    assert busy(batch.changes) == [
        (utc(2027, 3, 15, 8, 0), utc(2027, 3, 15, 8, 30)),  # 09:00 CET
        # 22 March is an EXDATE
        (utc(2027, 3, 29, 7, 0), utc(2027, 3, 29, 7, 30)),  # 09:00 CEST after the change
        (utc(2027, 4, 5, 9, 0), utc(2027, 4, 5, 9, 30)),  # the override: 11:00 CEST
        (utc(2027, 4, 12, 7, 0), utc(2027, 4, 12, 7, 30)),
    ]
    assert {c.item for c in batch.changes} == {f"{account.calendar_url}standup.ics"}


def test_transparent_and_cancelled_events_do_not_block_and_all_day_is_in_the_hosts_zone(
    account: Account,
) -> None:
    account.put("free.ics", single("free", "20270310T100000Z", "20270310T110000Z", "TRANSP:TRANSPARENT"))
    account.put("off.ics", single("off", "20270311T100000Z", "20270311T110000Z", "STATUS:CANCELLED"))
    account.put(
        "day.ics",
        single("day", "20270312", "20270313")
        .replace("DTSTART:", "DTSTART;VALUE=DATE:")
        .replace("DTEND:", "DTEND;VALUE=DATE:"),
    )
    batch = account.feed.pull(account.store, account.calendar, None)
    assert busy(batch.changes) == [(utc(2027, 3, 11, 23, 0), utc(2027, 3, 12, 23, 0))]  # Berlin midnight


def test_changes_on_the_server_arrive_incrementally(account: Account) -> None:
    account.put("a.ics", single("a", "20270310T100000Z", "20270310T110000Z"))
    first = account.feed.pull(account.store, account.calendar, None)
    assert busy(first.changes) == [(utc(2027, 3, 10, 10), utc(2027, 3, 10, 11))]

    account.put("b.ics", single("b", "20270311T100000Z", "20270311T110000Z"))
    account.put("a.ics", single("a", "20270310T140000Z", "20270310T150000Z"))
    second = account.feed.pull(account.store, account.calendar, first.cursor)
    assert not second.full
    assert busy(second.changes) == [
        (utc(2027, 3, 10, 14), utc(2027, 3, 10, 15)),
        (utc(2027, 3, 11, 10), utc(2027, 3, 11, 11)),
    ]
    assert {c.item for c in second.changes} == {f"{account.calendar_url}a.ics", f"{account.calendar_url}b.ics"}

    account.delete("b.ics")
    third = account.feed.pull(account.store, account.calendar, second.cursor)
    assert not third.full
    assert third.changes == [
        BusyChange(f"{account.calendar_url}b.ics", busy=False, item=f"{account.calendar_url}b.ics")
    ]

    quiet = account.feed.pull(account.store, account.calendar, third.cursor)
    assert quiet.changes == []


def test_the_expansion_window_moves_forward_with_a_full_pull(account: Account) -> None:
    _linker, _calendars, later_feed = parts()
    first = account.feed.pull(account.store, account.calendar, None)
    later_feed._clock = lambda: NOW + timedelta(days=2)
    assert later_feed.pull(account.store, account.calendar, first.cursor).full


BOOKING = OutboundEvent(
    booking_id="bkg_01J8ZQ4W3X5Y6Z7A8B9C0D1E2F",
    title="Intro call",
    start=utc(2027, 3, 30, 8, 0),
    end=utc(2027, 3, 30, 8, 30),
    timezone="Europe/Berlin",
    attendees=(("bob@example.org", "Bob Example"),),
)


def test_a_booking_is_written_once_moved_in_place_and_deleted(account: Account) -> None:
    first = account.calendars.write_event(account.store, account.calendar_url, BOOKING)
    again = account.calendars.write_event(account.store, account.calendar_url, BOOKING)
    assert first.split("#")[0] == again.split("#")[0] == f"{account.calendar_url}hub-{BOOKING.booking_id}.ics"
    status, body = account.get(f"hub-{BOOKING.booking_id}.ics")
    assert status == 200
    calendar = Calendar.from_ical(body)
    [event] = calendar.walk("VEVENT")
    assert str(event["UID"]) == f"{BOOKING.booking_id}@hub"
    assert int(event["SEQUENCE"]) == 0, "the booking's version, as in its invitation"
    assert [str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")] == ["Europe/Berlin"]
    assert event["DTSTART"].dt.isoformat() == "2027-03-30T10:00:00+02:00"
    attendee = event["ATTENDEE"]
    assert str(attendee) == "mailto:bob@example.org"
    assert attendee.params["SCHEDULE-AGENT"] == "CLIENT"

    moved = msgspec.structs.replace(BOOKING, start=utc(2027, 3, 31, 8, 0), end=utc(2027, 3, 31, 8, 30), sequence=1)
    updated = account.calendars.update_event(account.store, account.calendar_url, first, moved)
    assert updated.split("#")[0] == first.split("#")[0]
    assert updated != first, "the id carries the new ETag"
    [event] = Calendar.from_ical(account.get(f"hub-{BOOKING.booking_id}.ics")[1]).walk("VEVENT")
    assert event["DTSTART"].dt.isoformat() == "2027-03-31T10:00:00+02:00"
    assert int(event["SEQUENCE"]) == 1

    account.calendars.delete_event(account.store, account.calendar_url, updated)
    account.calendars.delete_event(account.store, account.calendar_url, updated)  # already gone: fine
    assert account.get(f"hub-{BOOKING.booking_id}.ics")[0] == 404

    recreated = account.calendars.update_event(account.store, account.calendar_url, updated, moved)
    assert account.get(f"hub-{BOOKING.booking_id}.ics")[0] == 200, "a vanished resource is written afresh"
    assert recreated.split("#")[0] == first.split("#")[0]


def test_a_wrong_password_is_caldav_auth_failed(account: Account) -> None:
    with pytest.raises(LinkRefused) as refused:
        account.linker.link(PasswordLogin(username=account.username, password="wrong", server_url=account.server.url))
    assert refused.value.code == "caldav_auth_failed"
    assert "wrong" not in str(refused.value)


def test_a_revoked_password_later_requires_reauth(account: Account) -> None:
    store = account.store
    store.credentials["password"] = "revoked"
    with pytest.raises(ReauthRequired):
        account.calendars.list_calendars(store)


def test_no_server_there_is_caldav_unreachable() -> None:
    linker, _calendars, _feed = parts()
    with pytest.raises(LinkRefused) as refused:
        linker.link(PasswordLogin(username="u", password="p", server_url=f"http://127.0.0.1:{free_port()}/"))
    assert refused.value.code == "caldav_unreachable"


def test_a_private_address_is_refused_without_the_allow_flag(radicale: RadicaleServer) -> None:
    linker, _calendars, _feed = parts(allow_private=False)
    https = radicale.url.replace("http://", "https://")
    with pytest.raises(LinkRefused) as refused:
        linker.link(PasswordLogin(username="u", password="p", server_url=https))
    assert refused.value.code == "caldav_url_not_allowed"
    with pytest.raises(LinkRefused) as plain:
        linker.link(PasswordLogin(username="u", password="p", server_url=radicale.url))
    assert plain.value.code == "caldav_url_not_allowed"
    assert Settings.from_env({"HUB_CALDAV_ALLOW_PRIVATE": "true"}).caldav_allow_private


def test_presets_name_their_servers_and_nextcloud_needs_one() -> None:
    assert server_of(PasswordLogin("u", "p", preset="icloud"), allow_private=False) == PRESETS["icloud"]
    assert (
        server_of(PasswordLogin("u", "p", preset="fastmail"), allow_private=False) == "https://caldav.fastmail.com/dav/"
    )
    with pytest.raises(LinkRefused):
        server_of(PasswordLogin("u", "p", preset="nextcloud"), allow_private=False)
    assert (
        server_of(
            PasswordLogin("u", "p", preset="nextcloud", server_url="https://cloud.example.com/"), allow_private=False
        )
        == "https://cloud.example.com/"
    )
