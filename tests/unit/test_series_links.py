"""Where a series' invitation puts its occurrences' conference links: one link every occurrence
shares on the series' event, else each occurrence's on an override of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hub.db.tables import Booking
from hub.notifications._series import series_links

START = datetime(2031, 3, 17, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
PLANNED = [START + timedelta(days=7 * i) for i in range(3)]


def _occurrence(index: int, conferencing: dict[str, Any] | None, shift: timedelta = timedelta(0)) -> Booking:
    return Booking(start_at=PLANNED[index] + shift, end_at=PLANNED[index] + shift + HOUR, conferencing=conferencing)


def _ready(link: str) -> dict[str, Any]:
    return {"provider": "google_meet", "status": "ready", "join_url": link, "error": None}


def test_one_shared_link_goes_on_the_series_and_only_moved_occurrences_are_overrides() -> None:
    link = "https://meet.google.com/abc-defg-hij"
    confirmed = {
        0: _occurrence(0, _ready(link)),
        1: _occurrence(1, _ready(link), HOUR),
        2: _occurrence(2, _ready(link)),
    }
    common, overrides = series_links(confirmed, PLANNED, HOUR)
    assert common == link
    assert [(o.recurrence_id, o.join_url) for o in overrides] == [(PLANNED[1], link)]


def test_different_links_each_go_on_their_occurrence_and_a_failed_one_has_none() -> None:
    failed = {"provider": "google_meet", "status": "failed", "join_url": None, "error": "conference_timeout: late"}
    confirmed = {
        0: _occurrence(0, _ready("https://meet/a")),
        1: _occurrence(1, failed),
        2: _occurrence(2, _ready("https://meet/c")),
    }
    common, overrides = series_links(confirmed, PLANNED, HOUR)
    assert common is None
    assert [(o.recurrence_id, o.join_url) for o in overrides] == [
        (PLANNED[0], "https://meet/a"),
        (PLANNED[2], "https://meet/c"),
    ]


def test_a_series_without_conferencing_has_no_link_and_no_override() -> None:
    confirmed = {i: _occurrence(i, None) for i in range(3)}
    assert series_links(confirmed, PLANNED, HOUR) == (None, ())
