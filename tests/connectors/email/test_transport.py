"""Sending over a real SMTP server, sorting its failures, and writing .eml files."""

from __future__ import annotations

import email
import os
import socket
import stat
from collections.abc import Iterator
from email import policy
from pathlib import Path

import pytest

from connectors.email.invite import Person
from connectors.email.message import compose
from connectors.email.transport import FileTransport, MessageRefused, SmtpTransport, transport_for
from hub.errors import PermanentError, TransientError
from hub.settings import Settings
from tests.connectors.email.helpers import make_invite, parse_calendar
from tests.connectors.email.test_message import NOW, SENDER
from tests.support.servers import free_port
from tests.support.smtp import SmtpServer


def message_to(address: str = "guest@example.com") -> email.message.EmailMessage:
    return compose(make_invite(), Person(address, "Guest"), sender=SENDER, now=NOW)


def smtp(server: SmtpServer, **options: object) -> SmtpTransport:
    return SmtpTransport("127.0.0.1", server.port, **options)  # type: ignore[arg-type]


def test_smtp_delivers_to_the_recipient(smtp_server: SmtpServer) -> None:
    smtp(smtp_server).send(message_to())

    (received,) = smtp_server.mailbox.messages
    assert received.mail_from == "hub@hub.example.com"
    assert received.rcpt_tos == ["guest@example.com"]
    assert parse_calendar(received.message)[0]["METHOD"] == "REQUEST"


def test_permanent_refusal_of_a_recipient_is_a_message_refusal(smtp_server: SmtpServer) -> None:
    smtp_server.mailbox.refuse["nobody@example.com"] = "550 5.1.1 No such user"
    with pytest.raises(MessageRefused) as caught:
        smtp(smtp_server).send(message_to("nobody@example.com"))
    assert caught.value.code == "smtp_recipient_refused"
    assert "550 5.1.1 No such user" in caught.value.message
    assert smtp_server.mailbox.messages == []


def test_temporary_refusal_is_transient(smtp_server: SmtpServer) -> None:
    smtp_server.mailbox.refuse["busy@example.com"] = "451 4.7.1 Greylisted, try again later"
    with pytest.raises(TransientError) as caught:
        smtp(smtp_server).send(message_to("busy@example.com"))
    assert caught.value.code == "smtp_deferred"


def test_no_server_is_transient() -> None:
    with pytest.raises(TransientError) as caught:
        SmtpTransport("127.0.0.1", free_port(), timeout=2).send(message_to())
    assert caught.value.code == "smtp_unavailable"


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)
        yield int(listener.getsockname()[1])


def test_a_server_that_never_answers_times_out_as_transient(silent_server: int) -> None:
    with pytest.raises(TransientError) as caught:
        SmtpTransport("127.0.0.1", silent_server, timeout=0.5).send(message_to())
    assert caught.value.code == "smtp_timeout"


def test_wrong_password_is_permanent_and_not_a_message_refusal() -> None:
    with SmtpServer(password="right") as server:
        with pytest.raises(PermanentError) as caught:
            smtp(server, username="hub", password="wrong").send(message_to())
        assert caught.value.code == "smtp_auth_failed"
        assert not isinstance(caught.value, MessageRefused)
        assert "wrong" not in caught.value.message  # the password is never repeated

        smtp(server, username="hub", password="right").send(message_to())
        assert len(server.mailbox.messages) == 1


def test_starttls_on_a_server_without_it_is_a_configuration_error(smtp_server: SmtpServer) -> None:
    with pytest.raises(PermanentError) as caught:
        smtp(smtp_server, security="starttls").send(message_to())
    assert caught.value.code == "smtp_starttls_unsupported"


def test_file_transport_writes_eml_files_a_mail_client_opens(tmp_path: Path) -> None:
    transport = transport_for(Settings(data_dir=tmp_path))
    assert isinstance(transport, FileTransport)
    transport.send(message_to())
    transport.send(message_to())  # the same message again is a second file, not an overwrite

    files = sorted((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 2
    assert all("guest-example-com-invitation-intro-call" in f.name for f in files)
    data = files[0].read_bytes()
    assert b"\r\n" in data
    assert b"\n" not in data.replace(b"\r\n", b"")
    parsed = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    assert parsed["To"] == "Guest <guest@example.com>"
    assert parse_calendar(parsed)[1]["UID"] == "bkg_01jtest000000000000000000@hub"


def test_file_transport_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    """The messages carry links that work for days: the directory is 0700, each file 0600."""
    previous = os.umask(0)
    try:
        transport_for(Settings(data_dir=tmp_path / "data")).send(message_to())
    finally:
        os.umask(previous)
    [file] = (tmp_path / "data" / "mail").glob("*.eml")
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "data" / "mail").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700


def test_settings_choose_the_transport(tmp_path: Path) -> None:
    transport = transport_for(
        Settings(
            data_dir=tmp_path,
            email_backend="smtp",
            smtp_host="mail.example.com",
            smtp_port=587,
            smtp_tls="starttls",
            smtp_username="hub",
            smtp_password="secret",
        )
    )
    assert isinstance(transport, SmtpTransport)
    assert (transport.host, transport.port, transport.security) == ("mail.example.com", 587, "starttls")
    assert (transport.username, transport.password, transport.timeout) == ("hub", "secret", 15.0)
