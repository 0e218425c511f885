"""The compatibility layer's worked example: clients pinned to ``Hub-Version: 2026-06-01`` send
and receive ``guests`` and ``length_minutes``; handlers only ever see the v1 shape."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.versioning.compat import CHANGES, Change, downgrade, pending, upgrade
from hub.versioning.compat.booking_guests import downgrade_response, upgrade_request
from hub.versioning.headers import deprecation_value, sunset_value
from tests.integration.helpers import BERLIN, MONDAY, assert_problem, error_fields
from tests.support.tenants import Tenant

OLD = {"Hub-Version": "2026-06-01"}
GUIDE = "https://hub.example.com/docs/migration-guide.md#hub-version-2026-06-01"


# --- the translations, as pure functions ---------------------------------------------------------


def test_upgrade_renames_guests_and_length() -> None:
    old = {"host_id": "usr_1", "start": "2030-12-02T09:00:00", "guests": ["a@example.com"], "length_minutes": 30}
    assert upgrade_request(old) == {
        "host_id": "usr_1",
        "start": "2030-12-02T09:00:00",
        "attendees": [{"email": "a@example.com"}],
        "duration_minutes": 30,
    }


def test_upgrade_lets_the_new_fields_win() -> None:
    body = {"guests": ["old@example.com"], "attendees": [{"email": "new@example.com"}], "length_minutes": 15}
    assert upgrade_request({**body, "duration_minutes": 45}) == {
        "attendees": [{"email": "new@example.com"}],
        "duration_minutes": 45,
    }


@pytest.mark.parametrize("body", [None, [], "text", 3, {"host_id": "usr_1"}])
def test_upgrade_leaves_other_bodies_alone(body: Any) -> None:
    assert upgrade_request(body) == body


def test_upgrade_passes_malformed_guests_on_for_validation() -> None:
    assert upgrade_request({"guests": "a@example.com"}) == {"attendees": "a@example.com"}
    assert upgrade_request({"guests": [7]}) == {"attendees": [7]}


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(
        st.sampled_from(["guests", "attendees", "length_minutes", "duration_minutes", "object", "data", "errors",
                         "field", "email", "requested", "x"]),
        inner,
        max_size=5,
    )
    | st.fixed_dictionaries({"object": st.sampled_from(["booking", "list"]), "data": st.lists(inner, max_size=3)}),
    max_leaves=20,
)  # fmt: skip


@settings(max_examples=300, derandomize=True, deadline=None)
@given(body=JSON)
def test_translations_take_any_json_and_settle(body: Any) -> None:
    """Whatever a client sends or a handler answers, translating never raises, and a second
    pass changes nothing (the middleware must not turn odd bodies into 500s)."""
    upgraded = upgrade_request(body)
    assert upgrade_request(upgraded) == upgraded
    downgraded = downgrade_response(body)
    assert downgrade_response(downgraded) == downgraded


def _booking(**overrides: Any) -> dict[str, Any]:
    body = {
        "id": "bkg_1",
        "object": "booking",
        "attendees": [{"email": "a@example.com", "name": "A"}, {"email": "b@example.com", "name": None}],
        "requested": {"start": "2030-12-02T09:00:00", "end": None, "timezone": BERLIN, "duration_minutes": 30},
    }
    body.update(overrides)
    return body


def test_downgrade_a_booking() -> None:
    old = downgrade_response(_booking())
    assert old["guests"] == ["a@example.com", "b@example.com"]
    assert "attendees" not in old
    assert old["requested"] == {"start": "2030-12-02T09:00:00", "end": None, "timezone": BERLIN, "length_minutes": 30}


def test_downgrade_a_list_of_bookings_leaves_the_envelope() -> None:
    page = {"object": "list", "data": [_booking(), _booking(id="bkg_2")], "next_cursor": "abc"}
    old = downgrade_response(page)
    assert old["next_cursor"] == "abc"
    assert [b["guests"] for b in old["data"]] == [["a@example.com", "b@example.com"]] * 2


def test_downgrade_renames_fields_in_validation_errors() -> None:
    problem = {
        "code": "validation_failed",
        "detail": "attendees[2].email: invalid e-mail; duration_minutes: Expected `int` >= 1",
        "errors": [
            {"field": "attendees[2].email", "message": "invalid e-mail"},
            {"field": "duration_minutes", "message": "Expected `int` >= 1"},
            {"field": "attendees", "message": "Expected `array`"},
            {"field": "start", "message": "is required"},
        ],
    }
    assert [e["field"] for e in downgrade_response(problem)["errors"]] == [
        "guests[2]",
        "length_minutes",
        "guests",
        "start",
    ]
    assert downgrade_response(problem)["detail"] == "guests[2]: invalid e-mail; length_minutes: Expected `int` >= 1"


@pytest.mark.parametrize("body", [None, [1], {"object": "user", "attendees": []}])
def test_downgrade_leaves_other_bodies_alone(body: Any) -> None:
    assert downgrade_response(body) == body


def test_round_trip_through_a_current_shape_handler() -> None:
    """What an old client sends comes back to it in its own words."""
    sent = {"host_id": "usr_1", "start": "2030-12-02T09:00:00", "guests": ["a@example.com"], "length_minutes": 30}
    changes = pending(CHANGES, "2026-06-01", "POST", "/v1/bookings")
    seen_by_handler = upgrade(sent, changes)
    answered = _booking(
        attendees=[{"email": a["email"], "name": None} for a in seen_by_handler["attendees"]],
        requested={"start": sent["start"], "end": None, "timezone": None, **{"duration_minutes": 30}},
    )
    received = downgrade(answered, changes)
    assert received["guests"] == sent["guests"]
    assert received["requested"]["length_minutes"] == sent["length_minutes"]


def _change(revision: str, route: tuple[str, str], mark: str) -> Change:
    def up(body: Any) -> Any:
        return [*body, f"up {mark}"]

    def down(body: Any) -> Any:
        return [*body, f"down {mark}"]

    return Change(
        revision=revision, summary=mark, routes=frozenset({route}), upgrade_request=up, downgrade_response=down
    )


def test_changes_apply_in_order_upgrading_oldest_first() -> None:
    route = ("POST", "/v1/things")
    changes = (
        _change("2027-03-01", route, "C"),
        _change("2026-06-01", route, "A"),
        _change("2026-11-01", route, "B"),
        _change("2026-11-01", ("GET", "/v1/things"), "other route"),
    )
    chain = pending(changes, "2026-06-01", "post", "/v1/things")
    assert [c.summary for c in chain] == ["B", "C"]
    assert upgrade([], chain) == ["up B", "up C"]
    assert downgrade([], chain) == ["down C", "down B"]
    assert pending(changes, "2027-03-01", "POST", "/v1/things") == []


# --- over HTTP ----------------------------------------------------------------------------------


def _old_booking(host_id: str, **extra: Any) -> dict[str, Any]:
    body = {
        "host_id": host_id,
        "start": f"{MONDAY}T09:00:00",
        "timezone": BERLIN,
        "length_minutes": 30,
        "guests": ["guest@example.com"],
        "title": "Intro call",
    }
    body.update(extra)
    return body


def _assert_deprecated_revision(headers: Any) -> None:
    assert headers["hub-version"] == "2026-06-01"
    assert headers["deprecation"] == deprecation_value(date(2026, 11, 1))
    assert headers["sunset"] == sunset_value(date(2027, 5, 1))
    assert headers["link"] == f'<{GUIDE}>; rel="deprecation"'


def test_old_revision_round_trip_over_http(tenant: Tenant) -> None:
    host = tenant.create_user()
    created = tenant.client.post("/v1/bookings", json=_old_booking(host["id"]), headers=OLD)
    assert created.status_code == 201, created.text
    _assert_deprecated_revision(created.headers)
    booking = created.json()
    assert booking["guests"] == ["guest@example.com"]
    assert "attendees" not in booking
    assert booking["requested"]["length_minutes"] == 30
    assert "duration_minutes" not in booking["requested"]
    assert (booking["local_start"], booking["local_end"]) == (f"{MONDAY}T09:00:00+01:00", f"{MONDAY}T09:30:00+01:00")

    current = tenant.client.get(f"/v1/bookings/{booking['id']}")
    assert current.status_code == 200
    assert current.headers["hub-version"] == "2026-11-01"
    assert "deprecation" not in current.headers
    assert "sunset" not in current.headers
    assert current.json()["attendees"] == [{"email": "guest@example.com", "name": None, "response": "needs_action"}]
    assert current.json()["requested"]["duration_minutes"] == 30

    again = tenant.client.get(f"/v1/bookings/{booking['id']}", headers=OLD)
    _assert_deprecated_revision(again.headers)
    assert again.json() == booking

    listed = tenant.client.get("/v1/bookings", params={"host_id": host["id"]}, headers=OLD)
    assert [b["guests"] for b in listed.json()["data"]] == [["guest@example.com"]]

    cancelled = tenant.client.post(f"/v1/bookings/{booking['id']}/cancel", json={"reason": "moved"}, headers=OLD)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["guests"] == ["guest@example.com"]


def test_old_revision_validation_errors_name_the_old_fields(tenant: Tenant) -> None:
    host = tenant.create_user()
    response = tenant.client.post(
        "/v1/bookings", json=_old_booking(host["id"], guests=["not an address"], length_minutes=0), headers=OLD
    )
    body = assert_problem(response, 422, "validation_failed")
    fields = error_fields(body)
    assert fields
    assert set(fields) <= {"guests[0]", "length_minutes"}
    assert not any(f.startswith(("attendees", "duration_minutes")) for f in fields)
    assert "attendees" not in body["detail"]
    assert "duration_minutes" not in body["detail"]
    _assert_deprecated_revision(response.headers)


def test_old_revision_idempotent_replay_is_downgraded_too(tenant: Tenant) -> None:
    host = tenant.create_user()
    headers = {**OLD, "Idempotency-Key": "old-client-retry-1"}
    first = tenant.client.post("/v1/bookings", json=_old_booking(host["id"]), headers=headers)
    replay = tenant.client.post("/v1/bookings", json=_old_booking(host["id"]), headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    assert replay.json()["guests"] == ["guest@example.com"]


def test_old_revision_on_an_unchanged_route_is_still_announced(tenant: Tenant) -> None:
    user = tenant.create_user()
    response = tenant.client.get(f"/v1/users/{user['id']}", headers=OLD)
    assert response.status_code == 200
    assert response.json() == tenant.client.get(f"/v1/users/{user['id']}").json()
    _assert_deprecated_revision(response.headers)


def test_current_revision_by_name_is_not_deprecated(tenant: Tenant) -> None:
    response = tenant.client.get("/v1/bookings", headers={"Hub-Version": "2026-11-01"})
    assert response.status_code == 200
    assert response.headers["hub-version"] == "2026-11-01"
    assert "deprecation" not in response.headers


@pytest.mark.parametrize("value", ["2020-01-01", "2026-06-02", "latest", "v1"])
def test_unknown_revision_is_a_validation_problem(tenant: Tenant, value: str) -> None:
    response = tenant.client.get("/v1/bookings", headers={"Hub-Version": value})
    body = assert_problem(response, 422, "validation_failed")
    assert error_fields(body) == ["Hub-Version"]
    assert "2026-11-01" in body["detail"]


def test_unknown_revision_without_a_key_is_still_unauthenticated(tenant: Tenant) -> None:
    response = tenant.key_client("hub_sk_wrong").get("/v1/bookings", headers={"Hub-Version": "1999-01-01"})
    assert_problem(response, 401, "unauthenticated")
