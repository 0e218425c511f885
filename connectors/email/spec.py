"""The email connector's spec: one outbox consumer on the ``notify`` queue."""

from __future__ import annotations

from hub.connectors import ConnectorSpec, OutboxConsumer

SPEC = ConnectorSpec(
    slug="email",
    name="Email (iCalendar invites)",
    consumers=(
        OutboxConsumer(
            function="connectors.email.jobs.send_booking_emails",
            events=frozenset({"booking.created", "booking.cancelled"}),
            queue="notify",
        ),
    ),
)
