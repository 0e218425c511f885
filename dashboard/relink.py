"""Re-sending the relink link: an email that lets a user connect their calendar account again.

Support asks for it on a connection's page. A job on the ``notify`` queue sends the email
(``hub.notifications``: a relink notice through the notifier connector, which writes it from its
template and sends it over SMTP, or as an ``.eml`` file in development), so a slow mail server
never holds up the page and a failure is retried like any other job.

The email does not carry a provider authorize URL (those expire after ten minutes) but a
signed dashboard link, valid for seven days, naming the connection and the key that sent it.
Opening it starts a fresh link for the connection's user and provider (``hub.connections.oauth``)
and redirects to the provider's consent page; the provider then sends the browser to
``/dashboard/linked``. The link stops working when the key that sent it is revoked.
"""

from __future__ import annotations

import time

import msgspec
import redis
from sqlalchemy import select

from dashboard.signing import Signer, signer_for
from hub.auth import audit
from hub.auth.principal import Principal
from hub.connections import oauth
from hub.connections.service import load
from hub.connectors import Recipient, RelinkNotice, spec
from hub.crypto import Keyring
from hub.db import Database
from hub.db.tables import ApiKey, Connection, User
from hub.errors import ApiError, Conflict, SkippableError
from hub.jobs.context import context
from hub.jobs.queues import NOTIFY
from hub.jobs.runner import enqueue, hub_job, job_id
from hub.notifications.sending import send_relink
from hub.settings import Settings

LINK_SECONDS = 7 * 24 * 3600
PURPOSE = "relink"


class RelinkClaim(msgspec.Struct, frozen=True):
    connection_id: str
    key_id: str
    expires: int


class LinkExpired(Exception):
    """The relink link is not valid (any more); the page says to ask for a new one."""


def link_url(settings: Settings, signer: Signer, connection_id: str, key_id: str) -> str:
    claim = RelinkClaim(connection_id, key_id, int(time.time()) + LINK_SECONDS)
    token = signer.sign(msgspec.json.encode(claim), PURPOSE)
    return f"{settings.public_url.rstrip('/')}/dashboard/relink/{token}"


def landing_url(settings: Settings) -> str:
    return f"{settings.public_url.rstrip('/')}/dashboard/linked"


def request_relink(
    db: Database, redis_client: redis.Redis, settings: Settings, principal: Principal, connection_id: str
) -> str:
    """Queue the relink email for the connection's user; returns the address it goes to."""
    with db.write() as session:
        connection = load(session, principal.organization_id, connection_id)
        if connection.status == "revoked":
            raise Conflict(
                "This connection was unlinked; the user links the account again from the app.",
                code="connection_revoked",
            )
        oauth.provider_or_404(connection.provider, settings)  # refuses now if the provider is not configured
        user = session.get(User, connection.user_id)
        recipient = user.email if user is not None and user.email else connection.account_email
        if not recipient:
            raise ApiError("Neither the user nor the linked account has an email address.", code="no_recipient")
        audit.record(
            session,
            organization_id=connection.organization_id,
            action="connection.relink_sent",
            actor_key_id=principal.key_id,
            target_type="connection",
            target_id=connection.id,
            data={"recipient": recipient},
        )
        # Enqueued inside the transaction: if Redis is down, no audit event claims a sent link.
        enqueue(
            redis_client,
            "dashboard.relink.send_relink_email",
            connection_id,
            principal.key_id,
            queue_name=NOTIFY,
            id=job_id("relink", connection_id, str(int(time.time()))),
        )
    return recipient


@hub_job("dashboard.relink_email")
def send_relink_email(connection_id: str, key_id: str) -> dict[str, str]:
    ctx = context()
    with ctx.db.read() as session:
        row = session.execute(
            select(Connection, User.email)
            .join(User, User.id == Connection.user_id)
            .where(Connection.id == connection_id)
        ).first()
    if row is None:
        raise SkippableError(f"connection {connection_id} does not exist", code="connection_missing")
    connection, email = row
    recipient = email or connection.account_email
    if not recipient:
        raise SkippableError("no address to send the relink link to", code="no_recipient")
    url = link_url(ctx.settings, signer_for(ctx.settings), connection_id, key_id)
    notice = RelinkNotice(provider_name=spec(connection.provider).name, account=connection.account_email, url=url)
    send_relink(ctx, notice, Recipient(recipient))
    return {"outcome": "sent", "recipient": recipient}


def start_link(db: Database, settings: Settings, keyring: Keyring, signer: Signer, token: str) -> str:
    """The provider consent URL for a relink link (a fresh OAuth state each time it is opened)."""
    payload = signer.unsign(token, PURPOSE)
    try:
        claim = msgspec.json.decode(payload, type=RelinkClaim) if payload else None
    except msgspec.DecodeError:
        claim = None
    if claim is None or claim.expires < time.time():
        raise LinkExpired
    with db.read() as session:
        key = session.get(ApiKey, claim.key_id)
        connection = session.get(Connection, claim.connection_id)
    if key is None or key.revoked_at is not None or connection is None or connection.status == "revoked":
        raise LinkExpired
    if connection.organization_id != key.organization_id:
        raise LinkExpired
    principal = Principal(
        key_id=key.id, organization_id=key.organization_id, role=key.role, scopes=frozenset(key.scopes)
    )
    answer = oauth.authorize(
        db, settings, keyring, principal, connection.user_id, connection.provider, landing_url(settings)
    )
    return answer.authorization_url
