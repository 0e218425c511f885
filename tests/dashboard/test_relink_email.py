"""The relink email's job: it sends a relink notice through core's notifier (the email
connector, over a real SMTP server), and sorts a failure the way the job pipeline needs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
import redis

from dashboard.relink import send_relink_email
from hub.db import Database
from hub.errors import TransientError
from hub.jobs.context import JobContext, running
from hub.settings import Settings
from tests.dashboard import seed
from tests.support.smtp import SmtpServer
from tests.support.tenants import Tenant

USER = "ada.host@example.com"


@pytest.fixture
def smtp_server(settings: Settings, db: Database, connection: redis.Redis) -> Iterator[SmtpServer]:
    """A real SMTP server, and a job context whose settings send to it."""
    with SmtpServer() as server:
        changed = msgspec.structs.replace(
            settings,
            email_backend="smtp",
            smtp_host="127.0.0.1",
            smtp_port=server.port,
            email_from="Hub <hub@hub.example.com>",
            public_url="https://hub.example.com",
        )
        with running(JobContext(changed, db, connection)):
            yield server


def test_the_relink_email_reaches_the_user_with_a_signed_link(
    tenant: Tenant, db: Database, host: dict[str, Any], smtp_server: SmtpServer
) -> None:
    connection_id = seed.connection(db, tenant.organization_id, host["id"], status="reauth_required")

    assert send_relink_email(connection_id, "key_test") == {"outcome": "sent", "recipient": USER}

    (received,) = smtp_server.mailbox.messages
    assert (received.mail_from, received.rcpt_tos) == ("hub@hub.example.com", [USER])
    mail = received.message
    assert mail["Subject"] == "Reconnect your Google Calendar"
    assert mail["From"] == "Hub <hub@hub.example.com>"
    text = mail.get_content()
    assert "your Google Calendar account ada@example.com is no longer connected" in text
    assert "https://hub.example.com/dashboard/relink/" in text


def test_an_address_the_server_refuses_for_good_fails_the_job(
    tenant: Tenant, db: Database, host: dict[str, Any], smtp_server: SmtpServer
) -> None:
    connection_id = seed.connection(db, tenant.organization_id, host["id"], status="reauth_required")
    smtp_server.mailbox.refuse[USER] = "550 5.1.1 No such user here"

    result = send_relink_email(connection_id, "key_test")

    assert (result["outcome"], result["code"]) == ("failed", "smtp_recipient_refused")
    assert "550 5.1.1 No such user here" in result["error"]
    assert smtp_server.mailbox.messages == []


def test_a_deferred_address_is_retried_later(
    tenant: Tenant, db: Database, host: dict[str, Any], smtp_server: SmtpServer
) -> None:
    connection_id = seed.connection(db, tenant.organization_id, host["id"], status="reauth_required")
    smtp_server.mailbox.refuse[USER] = "451 4.7.1 Greylisted, try again later"

    with pytest.raises(TransientError) as caught:  # RQ retries the job on its schedule
        send_relink_email(connection_id, "key_test")
    assert caught.value.code == "smtp_deferred"
