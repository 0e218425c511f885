"""Jobs of linked calendars: set up a new link, sync busy time, keep push channels alive,
write bookings into the target calendar, unlink, and the sweeps behind them. Entry points are
thin: each takes the process's job context and hands over to the work in ``hub.connections``;
``hub.connections._requests`` enqueues them."""

from __future__ import annotations

from hub import connections
from hub.jobs.context import context
from hub.jobs.runner import hub_job
from hub.statuses import SyncTrigger


@hub_job("connections.setup")
def setup_connection(connection_id: str) -> dict[str, object]:
    ctx = context()
    calendars = connections.refresh_calendars(ctx, connection_id)
    pushed = connections.has_push(ctx, connection_id)
    for calendar_id in calendars:
        connections.request_sync(ctx.redis, calendar_id, "initial")
        if pushed:
            connections.request_subscribe(ctx.redis, calendar_id)
    return {"busy_sources": calendars}


@hub_job("connections.sync")
def sync_calendar(calendar_id: str, trigger: SyncTrigger) -> dict[str, object]:
    ctx = context()
    connections.clear_pending(ctx.redis, calendar_id)
    return connections.sync_calendar(ctx, calendar_id, trigger)


@hub_job("connections.subscribe")
def subscribe_push(calendar_id: str) -> dict[str, object]:
    return connections.subscribe(context(), calendar_id)


@hub_job("connections.renew")
def renew_channels() -> dict[str, int]:
    return connections.renew_channels(context())


@hub_job("connections.unlink")
def unlink_connection(connection_id: str) -> dict[str, object]:
    return connections.unlink(context(), connection_id)


@hub_job("connections.notification")
def process_notification(notification_id: str) -> dict[str, object]:
    return connections.process_notification(context(), notification_id)


@hub_job("connections.write_booking")
def write_booking(outbox_id: str) -> dict[str, object]:
    return connections.write_booking(context(), outbox_id)


@hub_job("connections.check_conference")
def check_conference(booking_id: str, attempt: int) -> dict[str, object]:
    """Read a booking's pending conference back; again later while the provider makes it."""
    return connections.check_conference(context(), booking_id, attempt)


@hub_job("sweep.calendars")
def sweep_quiet_calendars() -> dict[str, int]:
    """The safety net: push is not 100 % reliable, so sync calendars that were quiet too long,
    and subscribe busy calendars that have no live push channel (a failed or lapsed one)."""
    return connections.sweep_quiet_calendars(context())


@hub_job("sweep.polled_calendars")
def sweep_polled_calendars() -> dict[str, int]:
    """Calendars of providers without push (CalDAV) are synced every ``poll_every``."""
    return connections.sweep_polled_calendars(context())


@hub_job("sweep.unlinks")
def sweep_unlinks() -> dict[str, int]:
    """Unlinked connections whose unlink job never ran (Redis was down) still hold credentials."""
    return connections.sweep_unlinks(context())


@hub_job("sweep.inbox")
def sweep_inbox() -> dict[str, int]:
    """Notifications stored while Redis was down get their processing job now."""
    return connections.sweep_inbox(context())
