"""Linked calendar accounts: OAuth linking, connection health, calendars, sync and push.

``controllers`` is the API (and the OAuth callback) over ``service`` (reading connections,
choosing calendars, asking for a sync, unlinking, and the health fields the jobs write) and
``oauth`` (the authorize step and the code exchange); ``credentials`` keeps provider
credentials encrypted on the connection row; ``schemas`` are the wire shapes.

``jobs`` holds the worker's entry points, each a thin wrapper over the work re-exported here:
``_calendars`` (listing the account's calendars), ``_feed`` (syncing a calendar's busy time
from the change feed), ``_push`` (subscribing, renewing and stopping push channels),
``_notifications`` (acting on a stored provider notification), ``_bookings`` (writing
bookings into target calendars), ``_unlink`` (stopping push and revoking the grant after an
unlink) and ``_sweeps`` (the periodic safety nets), over ``_access`` (a job's checked access to
one connection: its credentials, its calendars as connectors see them, its failures).
``_requests`` enqueues these jobs (coalescing syncs) and depends only on ``hub.jobs``, so the
API, the webhook intake and the jobs themselves ask for work the same way.
"""

from hub.connections._access import has_push
from hub.connections._bookings import write_booking
from hub.connections._calendars import refresh_calendars
from hub.connections._conference import CHECK_CONFERENCE, check_conference
from hub.connections._feed import FULL_SYNC_EVERY, sync_calendar
from hub.connections._notifications import process_notification
from hub.connections._push import renew_channels, renew_one, stop_channels, subscribe
from hub.connections._requests import (
    PROCESS_NOTIFICATION,
    SETUP_CONNECTION,
    SUBSCRIBE_PUSH,
    SYNC_CALENDAR,
    UNLINK_CONNECTION,
    clear_pending,
    request_processing,
    request_setup,
    request_subscribe,
    request_sync,
    request_unlink,
)
from hub.connections._sweeps import sweep_inbox, sweep_polled_calendars, sweep_quiet_calendars, sweep_unlinks
from hub.connections._unlink import unlink

__all__ = [
    "CHECK_CONFERENCE",
    "FULL_SYNC_EVERY",
    "PROCESS_NOTIFICATION",
    "SETUP_CONNECTION",
    "SUBSCRIBE_PUSH",
    "SYNC_CALENDAR",
    "UNLINK_CONNECTION",
    "check_conference",
    "clear_pending",
    "has_push",
    "process_notification",
    "refresh_calendars",
    "renew_channels",
    "renew_one",
    "request_processing",
    "request_setup",
    "request_subscribe",
    "request_sync",
    "request_unlink",
    "stop_channels",
    "subscribe",
    "sweep_inbox",
    "sweep_polled_calendars",
    "sweep_quiet_calendars",
    "sweep_unlinks",
    "sync_calendar",
    "unlink",
    "write_booking",
]
