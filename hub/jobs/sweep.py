"""Periodic sweeps: outbox rows nobody dispatched (Redis was down, a process died) and expired
idempotency keys."""

from __future__ import annotations

from datetime import timedelta

import structlog
from sqlalchemy import delete, select

from hub.clock import utcnow
from hub.db.tables import OAuthState, OutboxMessage
from hub.idempotency import purge_expired
from hub.jobs.context import context
from hub.jobs.relay import enqueue_dispatch
from hub.jobs.runner import hub_job

log = structlog.get_logger("hub.sweep")

GRACE = timedelta(seconds=10)  # give the after-commit relay a head start
BATCH = 500


@hub_job("sweep.outbox")
def sweep_outbox() -> dict[str, int]:
    ctx = context()
    cutoff = utcnow() - GRACE
    with ctx.db.read() as session:
        ids = list(
            session.scalars(
                select(OutboxMessage.id)
                .where(OutboxMessage.dispatched_at.is_(None), OutboxMessage.created_at < cutoff)
                .order_by(OutboxMessage.created_at)
                .limit(BATCH)
            )
        )
    for outbox_id in ids:
        enqueue_dispatch(ctx.redis, outbox_id)
    if ids:
        log.info("sweep.outbox_requeued", count=len(ids))
    return {"requeued": len(ids)}


@hub_job("sweep.idempotency")
def sweep_idempotency_keys() -> dict[str, int]:
    """Expired idempotency keys, and pending links that expired more than a day ago."""
    db = context().db
    with db.write() as session:
        states = session.execute(delete(OAuthState).where(OAuthState.expires_at < utcnow() - timedelta(days=1)))
    return {"purged": purge_expired(db), "oauth_states": int(states.rowcount or 0)}  # type: ignore[attr-defined]
