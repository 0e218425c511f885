from __future__ import annotations

from tests.support.tenants import Tenant


def test_booking_round_trip(tenant: Tenant) -> None:
    user = tenant.create_user()
    created = tenant.client.post(
        "/v1/bookings",
        json={
            "host_id": user["id"],
            "start": "2030-12-02T09:00:00",
            "end": "2030-12-02T09:30:00",
            "timezone": "Europe/Berlin",
        },
    )
    assert created.status_code == 201, created.text
    booking = created.json()
    assert booking["start"] == "2030-12-02T08:00:00Z"
    assert booking["local_start"] == "2030-12-02T09:00:00+01:00"
    fetched = tenant.client.get(f"/v1/bookings/{booking['id']}")
    assert fetched.json() == booking
