"""``GET /v1/availability?user_ids=...``: slots of a team in three zones across DST changes, with
``required``, each slot listing exactly the users free for it; and the ``calendars`` and
``warnings`` of every availability answer, from the connection rows as the sync leaves them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from hub.clock import utcnow
from hub.db.tables import Connection
from tests.integration.helpers import assert_problem, create_booking, error_fields, link_calendar
from tests.support.tenants import Tenant

# 2030: New York moves to summer time on Sunday March 10, Berlin on Sunday March 31; Tokyo has none.
WINDOW: dict[str, str | int] = {"start": "2030-03-04T00:00:00Z", "end": "2030-04-02T00:00:00Z", "duration_minutes": 60}
MONDAYS = ("2030-03-04", "2030-03-11", "2030-03-18", "2030-03-25", "2030-04-01")


def team(tenant: Tenant) -> list[str]:
    """Three hosts who work on Mondays: Berlin 07:00-15:00, New York 06:00-12:00, Tokyo 18:00-24:00.

    In UTC: Berlin 06-14Z (winter) / 05-13Z (summer); New York 11-17Z / 10-16Z; Tokyo 09-15Z.
    """
    hosts = [
        ("Berlin Host", "Europe/Berlin", "07:00", "15:00"),
        ("New York Host", "America/New_York", "06:00", "12:00"),
        ("Tokyo Host", "Asia/Tokyo", "18:00", "24:00"),
    ]
    return [
        tenant.create_user(name=name, timezone=zone, working_hours=[{"weekday": "mon", "start": start, "end": end}])[
            "id"
        ]
        for name, zone, start, end in hosts
    ]


def ask(tenant: Tenant, **params: Any) -> dict[str, Any]:
    response = tenant.client.get("/v1/availability", params={**WINDOW, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "availability"
    return dict(body)


def by_hour(body: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """``(start as MM-DDTHH, user_ids)`` of each slot."""
    return [(slot["start"][5:13], slot["user_ids"]) for slot in body["slots"]]


def test_three_zones_across_both_dst_changes_when_all_must_be_free(tenant: Tenant) -> None:
    berlin, new_york, tokyo = ids = team(tenant)
    body = ask(tenant, user_ids=",".join(ids))

    everyone = [berlin, new_york, tokyo]
    assert by_hour(body) == [
        # Before New York's change: 11-14Z is shared.
        *[(f"03-04T{h}", everyone) for h in ("11", "12", "13")],
        # New York on summer time, Berlin not yet: 10-14Z.
        *[(f"03-{d}T{h}", everyone) for d in ("11", "18", "25") for h in ("10", "11", "12", "13")],
        # Both on summer time: 10-13Z.
        *[(f"04-01T{h}", everyone) for h in ("10", "11", "12")],
    ]
    assert body["user_id"] == berlin
    assert body["user_ids"] == ids
    assert body["required"] == 3
    assert body["timezone"] == "Europe/Berlin"  # the first user's zone
    assert body["interval_minutes"] == 60
    assert body["slots"][-1]["local_start"] == "2030-04-01T14:00:00+02:00"
    assert body["calendars"] == []
    assert body["warnings"] == []

    # The timezone parameter renders the answer and reads a local window; the slots stay.
    tokyo_view = ask(
        tenant, user_ids=",".join(ids), timezone="Asia/Tokyo", start="2030-03-04T00:00:00", end="2030-03-05T00:00:00"
    )
    assert tokyo_view["timezone"] == "Asia/Tokyo"
    assert [s["local_start"] for s in tokyo_view["slots"]] == [
        "2030-03-04T20:00:00+09:00",
        "2030-03-04T21:00:00+09:00",
        "2030-03-04T22:00:00+09:00",
    ]


def test_required_n_offers_slots_with_exactly_the_free_users(tenant: Tenant) -> None:
    berlin, new_york, tokyo = ids = team(tenant)
    monday = {"start": "2030-03-04T00:00:00Z", "end": "2030-03-05T00:00:00Z"}
    two = ask(tenant, user_ids=",".join(ids), required="2", **monday)
    assert two["required"] == 2
    assert by_hour(two) == [
        ("03-04T09", [berlin, tokyo]),
        ("03-04T10", [berlin, tokyo]),
        ("03-04T11", ids),
        ("03-04T12", ids),
        ("03-04T13", ids),
        ("03-04T14", [new_york, tokyo]),
    ]
    one = ask(tenant, user_ids=",".join(ids), required="1", interval_minutes=30, **monday)
    assert [hour for hour, _ in by_hour(one)][:2] == ["03-04T06", "03-04T06"]  # 06:00 and 06:30, Berlin alone
    assert one["slots"][0]["user_ids"] == [berlin]
    assert one["slots"][-1]["start"] == "2030-03-04T16:00:00Z"  # New York's last hour, alone
    assert one["slots"][-1]["user_ids"] == [new_york]
    # The order of user_ids is the caller's, in the answer and in every slot.
    reordered = ask(tenant, user_ids=f"{tokyo},{berlin}", required="all", **monday)
    assert reordered["timezone"] == "Asia/Tokyo"
    assert by_hour(reordered) == [(f"03-04T{h}", [tokyo, berlin]) for h in ("09", "10", "11", "12", "13")]


def test_slots_step_from_the_window_start(tenant: Tenant) -> None:
    ids = team(tenant)
    body = ask(
        tenant,
        user_ids=",".join(ids),
        start="2030-03-04T10:45:00Z",
        end="2030-03-04T15:00:00Z",
        duration_minutes=45,
        interval_minutes=40,
    )
    # 10:45, 11:25, 12:05, ...: all three are free 11:00-14:00, so 11:25 to 12:45 (13:25 would end at 14:10).
    assert [s["start"][11:16] for s in body["slots"]] == ["11:25", "12:05", "12:45"]


def test_a_booking_a_hold_and_a_calendar_event_of_one_host_remove_only_that_host(tenant: Tenant) -> None:
    berlin, new_york, tokyo = ids = team(tenant)
    create_booking(tenant.client, {"host_id": tokyo, "start": "2030-03-04T12:00:00Z", "duration_minutes": 60})
    hold = tenant.client.post(
        "/v1/holds", json={"host_id": new_york, "start": "2030-03-04T13:00:00Z", "duration_minutes": 60}
    )
    assert hold.status_code == 201, hold.text
    link_calendar(tenant.db, tenant.organization_id, berlin, busy=[("2030-03-04T09:00:00Z", "2030-03-04T10:00:00Z")])
    monday = {"start": "2030-03-04T00:00:00Z", "end": "2030-03-05T00:00:00Z"}

    assert by_hour(ask(tenant, user_ids=",".join(ids), **monday)) == [("03-04T11", ids)]
    assert by_hour(ask(tenant, user_ids=",".join(ids), required="2", **monday)) == [
        ("03-04T10", [berlin, tokyo]),  # 09Z is Berlin's calendar event: Tokyo alone
        ("03-04T11", ids),
        ("03-04T12", [berlin, new_york]),  # Tokyo's booking
        ("03-04T13", [berlin, tokyo]),  # New York's hold
        ("03-04T14", [new_york, tokyo]),
    ]
    # Released, the hold stops blocking at once.
    assert tenant.client.delete(f"/v1/holds/{hold.json()['id']}").status_code == 200
    assert ("03-04T13", ids) in by_hour(ask(tenant, user_ids=",".join(ids), required="2", **monday))


def test_each_users_buffer_and_notice_count_for_that_user_only(tenant: Tenant) -> None:
    every_day = [
        {"weekday": d, "start": "00:00", "end": "24:00"} for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    ]
    now = utcnow()
    start = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    buffered = tenant.create_user(timezone="UTC", working_hours=every_day, buffer_minutes=30)["id"]
    plain = tenant.create_user(timezone="UTC", working_hours=every_day)["id"]
    patient = tenant.create_user(timezone="UTC", working_hours=every_day, minimum_notice_minutes=3 * 24 * 60)["id"]
    for host in (buffered, plain):
        create_booking(
            tenant.client, {"host_id": host, "start": (start + timedelta(hours=2)).isoformat(), "duration_minutes": 60}
        )
    body = ask(
        tenant,
        user_ids=f"{buffered},{plain},{patient}",
        required="1",
        start=start.isoformat(),
        end=(start + timedelta(hours=5)).isoformat(),
    )
    hours = [(int(s["start"][11:13]), s["user_ids"]) for s in body["slots"]]
    # The booking is 02-03; the buffered host is busy 01:30-03:30, so 01 and 03 are the plain host's only.
    assert hours == [(0, [buffered, plain]), (1, [plain]), (3, [plain]), (4, [buffered, plain])]
    # The patient host is never free within three days' notice, so required=all has nothing.
    assert (
        ask(
            tenant,
            user_ids=f"{buffered},{plain},{patient}",
            start=start.isoformat(),
            end=(start + timedelta(hours=5)).isoformat(),
        )["slots"]
        == []
    )


def test_one_user_answers_keep_their_shape_and_gain_the_new_fields(tenant: Tenant) -> None:
    berlin, _, _ = team(tenant)
    monday = {"start": "2030-03-04T00:00:00Z", "end": "2030-03-05T00:00:00Z"}
    alone = ask(tenant, user_id=berlin, **monday)
    assert set(alone) == {
        "object", "user_id", "timezone", "duration_minutes", "interval_minutes", "start", "end", "slots",
        "user_ids", "required", "calendars", "warnings",
    }  # fmt: skip
    assert [s["start"][11:13] for s in alone["slots"]] == ["06", "07", "08", "09", "10", "11", "12", "13"]
    assert all(s["user_ids"] == [berlin] for s in alone["slots"])
    assert (alone["user_ids"], alone["required"]) == ([berlin], 1)
    # user_ids with one id is the same question.
    assert ask(tenant, user_ids=berlin, **monday) == alone
    assert ask(tenant, user_id=berlin, required="1", **monday) == alone


def test_another_organizations_or_an_unknown_user_is_not_found(tenant: Tenant, other_tenant: Tenant) -> None:
    ids = team(tenant)
    stranger = other_tenant.create_user()["id"]
    for user_ids, missing in (
        (f"{ids[0]},{stranger}", stranger),
        (f"{stranger},{ids[0]}", stranger),
        (f"{ids[0]},usr_01jd3w9k6v0m3y0q6d2x9t7h1e", "usr_01jd3w9k6v0m3y0q6d2x9t7h1e"),
        (f"{ids[0]},someone,{ids[1]}", "someone"),
    ):
        response = tenant.client.get("/v1/availability", params={**WINDOW, "user_ids": user_ids})
        problem = assert_problem(response, 404, "not_found")
        assert repr(missing) in problem["detail"]
    # The other organization sees nothing of this team either.
    response = other_tenant.client.get("/v1/availability", params={**WINDOW, "user_ids": f"{stranger},{ids[1]}"})
    assert_problem(response, 404, "not_found")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"user_ids": "{0},{1}", "user_id": "{0}"}, "user_ids"),
        ({"user_ids": "{0},{1},{0}"}, "user_ids"),
        ({"user_ids": "{0},,{1}"}, "user_ids"),
        ({"user_ids": ""}, "user_ids"),
        ({"user_ids": ",".join(["{0}"] + [f"usr_{i:026d}" for i in range(20)])}, "user_ids"),
        ({"user_ids": "{0},{1},{2}", "required": "0"}, "required"),
        ({"user_ids": "{0},{1},{2}", "required": "4"}, "required"),
        ({"user_ids": "{0},{1},{2}", "required": "-1"}, "required"),
        ({"user_ids": "{0},{1},{2}", "required": "2.5"}, "required"),
        ({"user_ids": "{0},{1},{2}", "required": "any"}, "required"),
        ({"user_ids": "{0},{1},{2}", "required": "²"}, "required"),
        ({"user_id": "{0}", "required": "2"}, "required"),
        ({"user_ids": "{0},{1}", "interval_minutes": "0"}, "interval_minutes"),
        ({}, "user_id"),
    ],
)
def test_bad_team_parameters_are_validation_failures(tenant: Tenant, params: dict[str, str], field: str) -> None:
    ids = team(tenant)
    query = {**WINDOW, **{key: value.format(*ids) for key, value in params.items()}}
    problem = assert_problem(tenant.client.get("/v1/availability", params=query), 422, "validation_failed")
    assert error_fields(problem) == [field], params


def test_twenty_users_are_allowed(tenant: Tenant) -> None:
    hosts = [
        tenant.create_user(timezone="UTC", working_hours=[{"weekday": "mon", "start": "10:00", "end": "11:00"}])["id"]
        for _ in range(20)
    ]
    body = ask(tenant, user_ids=",".join(hosts), start="2030-03-04T00:00:00Z", end="2030-03-05T00:00:00Z")
    assert [(s["start"], s["user_ids"]) for s in body["slots"]] == [("2030-03-04T10:00:00Z", hosts)]


# --- calendars and warnings -------------------------------------------------------------------


def test_calendars_and_warnings_say_which_busy_times_may_be_wrong(tenant: Tenant) -> None:
    berlin, new_york, tokyo = ids = team(tenant)
    org = tenant.organization_id
    healthy = link_calendar(tenant.db, org, berlin, push_expires_in=timedelta(days=2))
    quiet_but_pushed = link_calendar(
        tenant.db, org, berlin, last_success=timedelta(hours=5), push_expires_in=timedelta(hours=1)
    )
    reauth = link_calendar(tenant.db, org, new_york, provider="microsoft", status="reauth_required", failures=1)
    failing = link_calendar(
        tenant.db, org, tokyo, failures=3, last_success=timedelta(minutes=10), push_expires_in=timedelta(days=1)
    )
    polled = link_calendar(tenant.db, org, tokyo, provider="caldav", last_success=timedelta(minutes=31))
    expired_push = link_calendar(
        tenant.db, org, berlin, last_success=timedelta(hours=2), push_expires_in=-timedelta(minutes=5)
    )
    link_calendar(tenant.db, org, tokyo, status="revoked")  # unlinked: not listed
    recent_poll = link_calendar(tenant.db, org, new_york, provider="caldav", last_success=timedelta(minutes=29))

    body = ask(tenant, user_ids=",".join(ids))
    calendars = {c["connection_id"]: c for c in body["calendars"]}
    # Users in the order asked, each user's connections oldest first.
    assert [c["connection_id"] for c in body["calendars"]] == [
        healthy, quiet_but_pushed, expired_push, reauth, recent_poll, failing, polled
    ]  # fmt: skip
    assert {k: c["stale"] for k, c in calendars.items()} == {
        healthy: False,
        quiet_but_pushed: False,  # push is on: a quiet calendar is current
        expired_push: True,
        reauth: False,
        recent_poll: False,
        failing: False,
        polled: True,
    }
    assert calendars[reauth] | {"last_success_at": None} == {
        "user_id": new_york, "connection_id": reauth, "provider": "microsoft", "status": "reauth_required",
        "last_success_at": None, "stale": False,
    }  # fmt: skip
    assert calendars[reauth]["last_success_at"].endswith("Z")
    assert [(w["code"], w["user_id"], w["connection_id"]) for w in body["warnings"]] == [
        ("calendar_stale", berlin, expired_push),
        ("calendar_reauth_required", new_york, reauth),
        ("calendar_sync_failing", tokyo, failing),
        ("calendar_stale", tokyo, polled),
    ]
    messages = {w["code"]: w["message"] for w in body["warnings"]}
    assert "linked again" in messages["calendar_reauth_required"]
    assert "3 time(s) in a row (provider_unavailable)" in messages["calendar_sync_failing"]
    assert "more than 30 minutes ago" in messages["calendar_stale"]

    # The one-user answer carries the same for its user only.
    alone = ask(tenant, user_id=tokyo)
    assert [c["connection_id"] for c in alone["calendars"]] == [failing, polled]
    assert [w["code"] for w in alone["warnings"]] == ["calendar_sync_failing", "calendar_stale"]

    # A success brings the connection back: no warnings for it any more.
    with tenant.db.write() as session:
        session.execute(
            update(Connection)
            .where(Connection.id.in_([failing, polled]))
            .values(consecutive_failures=0, last_error_code=None, last_success_at=utcnow())
        )
    assert ask(tenant, user_id=tokyo)["warnings"] == []


def test_a_connection_that_never_synced_is_stale_only_after_thirty_minutes(tenant: Tenant) -> None:
    host = tenant.create_user()["id"]
    connection = link_calendar(tenant.db, tenant.organization_id, host, last_success=None)
    body = ask(tenant, user_id=host)
    assert body["calendars"][0]["last_success_at"] is None
    assert body["calendars"][0]["stale"] is True  # linked three days ago, never synced
    assert [w["code"] for w in body["warnings"]] == ["calendar_stale"]
    assert "never synced" in body["warnings"][0]["message"]
    with tenant.db.write() as session:
        session.execute(update(Connection).where(Connection.id == connection).values(created_at=utcnow()))
    fresh = ask(tenant, user_id=host)
    assert fresh["calendars"][0]["stale"] is False  # just linked: the first sync is under way
    assert fresh["warnings"] == []
