"""The email connector's spec and factory: a notifier, and the booking events it tells people
about (core's consumer ``hub.notifications.jobs.send_booking_emails`` on the ``notify`` queue)."""

from __future__ import annotations

from connectors.email.notifier import EmailNotifier
from connectors.email.transport import transport_for
from hub.clock import utcnow
from hub.connectors import Connector, ConnectorSpec, OutboxConsumer
from hub.settings import Settings

SPEC = ConnectorSpec(
    slug="email",
    name="Email (iCalendar invites)",
    capabilities=frozenset({"notifier"}),
    consumers=(
        OutboxConsumer(
            function="hub.notifications.jobs.send_booking_emails",
            events=frozenset(
                {
                    "booking.created",
                    "booking.cancelled",
                    "booking.rescheduled",
                    "booking.updated",
                    "booking_series.created",
                    "booking_series.cancelled",
                }
            ),
            queue="notify",
        ),
    ),
    factory="connectors.email.spec:build",
)


def build(settings: Settings) -> Connector:
    return Connector(notifier=EmailNotifier(transport_for(settings), sender=settings.email_from, clock=utcnow))
