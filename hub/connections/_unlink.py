"""Unlinking at the provider, after the API marked the connection ``revoked``: stop its push
channels, revoke the grant, and drop the credentials and sync cursors (history is kept)."""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy import update

from hub.connections._access import credentials
from hub.connections._push import stop_channels
from hub.db.tables import Calendar, Connection
from hub.errors import PermanentError, ReauthRequired, SkippableError
from hub.jobs.context import JobContext

log = structlog.get_logger("hub.connections")


def unlink(ctx: JobContext, connection_id: str) -> dict[str, Any]:
    with ctx.db.read() as session:
        connection = session.get(Connection, connection_id)
    if connection is None or connection.credentials_ciphertext is None:
        return {"outcome": "already_unlinked"}
    connector = ctx.connectors.get(connection.provider)
    stopped = stop_channels(ctx, connection, connector.push) if connector.push is not None else 0
    linker = connector.oauth or connector.password
    if linker is not None:
        try:
            linker.revoke(credentials(ctx, connection))
        except (SkippableError, PermanentError, ReauthRequired) as exc:
            log.info("oauth.revoke_failed", code=exc.code)  # the grant is gone either way
    with ctx.db.write() as session:
        session.execute(update(Connection).where(Connection.id == connection_id).values(credentials_ciphertext=None))
        session.execute(update(Calendar).where(Calendar.connection_id == connection_id).values(sync_cursor=None))
    return {"outcome": "unlinked", "channels_stopped": stopped}
