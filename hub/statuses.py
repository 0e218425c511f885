"""The states Hub stores and shows, one ``Literal`` each.

The database keeps these exact strings (``String`` columns typed with these in
``hub.db.tables``) and the API shows them unchanged, so mypy checks every comparison and
assignment against the list here instead of trusting a string literal.
"""

from __future__ import annotations

from typing import Literal

ConnectionStatus = Literal["active", "reauth_required", "error", "revoked"]
"""A linked account: ``error`` after a permanent failure (a success makes it ``active``
again), ``reauth_required`` once the grant is gone, ``revoked`` once unlinked."""

PushChannelStatus = Literal["active", "stopped"]
PushStateName = Literal["active", "expiring", "none"]
"""A connection's push notifications as the API shows them (its earliest live channel)."""

SyncTrigger = Literal["initial", "webhook", "schedule", "manual"]
SyncOutcome = Literal["running", "succeeded", "failed", "skipped"]

NotificationStatus = Literal["received", "processed", "ignored"]

BookingStatus = Literal["confirmed", "cancelled"]
HoldStatus = Literal["active", "expired", "converted", "released"]
"""A hold as stored. ``active`` past its ``expires_at`` is shown (and treated) as ``expired``
before the tidy job writes it so: expiry is decided by ``expires_at``, not by the stored word."""
BookingEventStatus = Literal["written", "deleted", "failed"]
"""A booking's event in one linked calendar."""

EndpointStatus = Literal["enabled", "disabled"]
DeliveryStatus = Literal["pending", "succeeded", "failed"]
