"""The holds' periodic tidy job."""

from __future__ import annotations

from hub.holds.rows import expire_holds
from hub.jobs.context import context
from hub.jobs.runner import hub_job
from hub.observability.metrics import HOLDS


@hub_job("sweep.holds")
def sweep_holds() -> dict[str, int]:
    """Mark the holds whose time ran out ``expired`` and count them (once each). Their time was
    free from the moment they expired; this only tidies the stored status."""
    expired = expire_holds(context().db)
    if expired:
        HOLDS.labels("expired").inc(expired)
    return {"expired": expired}
