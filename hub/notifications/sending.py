"""The registered notifier, and sending a one-off notice through it.

The notifier is the ``notifier`` part of the connector whose spec declares the ``notifier``
capability (the email connector), taken from the job context's connectors (built once per
worker process from its settings).
"""

from __future__ import annotations

from hub.connectors import Notifier, Recipient, RelinkNotice, specs
from hub.errors import PermanentError, SkippableError
from hub.jobs.context import JobContext


def notifier_for(ctx: JobContext) -> Notifier:
    for spec in specs():
        if "notifier" in spec.capabilities:
            notifier = ctx.connectors.get(spec.slug).notifier
            if notifier is not None:
                return notifier
    raise PermanentError("no connector that sends notifications is registered", code="notifier_missing")


def send_relink(ctx: JobContext, notice: RelinkNotice, recipient: Recipient) -> None:
    """Send the relink email. It has one recipient, so one refused for good fails the job."""
    try:
        notifier_for(ctx).send(notice, recipient)
    except SkippableError as exc:
        raise PermanentError(exc.message, code=exc.code) from exc
