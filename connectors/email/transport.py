"""Sending a composed email: over SMTP, or into ``.eml`` files for development.

``SmtpTransport`` opens one connection per message (plain, STARTTLS or implicit TLS; optional
login; a 15 s timeout) and sorts every failure by what the job must do about it:

* ``TransientError``: the server is unreachable, slow, or answered 4xx (greylisting, a full
  mailbox, "try again later"). The job raises it and RQ retries on its schedule.
* ``MessageRefused`` (a ``PermanentError``): 5xx for this recipient or this message
  (``smtp_recipient_refused``, ``smtp_message_refused``). Other recipients may still succeed.
* ``PermanentError``: 5xx about Hub's own setup (``smtp_auth_failed``, ``smtp_sender_refused``,
  ``smtp_tls_failed``, ...). Every message would fail the same way until the settings change.

``FileTransport`` writes ``<data_dir>/mail/<timestamp>-<slug>.eml``, which any mail client
opens; ``hub dev`` uses it so a newcomer sees what would have been sent.
"""

from __future__ import annotations

import os
import re
import smtplib
import ssl
from email import policy
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Protocol

from hub.clock import utcnow
from hub.errors import PermanentError, PipelineError, TransientError
from hub.files import create_private, private_dir
from hub.settings import Settings

TIMEOUT_SECONDS = 15.0
_WIRE = policy.SMTP  # CRLF line ends, as on the wire and in .eml files


class MessageRefused(PermanentError):
    """The server refused this message or its recipient for good; other messages may go through."""

    code = "smtp_message_refused"


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Deliver ``message`` to its ``To`` address or raise a ``PipelineError``."""
        ...


class SmtpTransport:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: str = "none",  # "none", "starttls" or "tls"
        username: str | None = None,
        password: str | None = None,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self.username, self.password, self.timeout = username, password, timeout

    def send(self, message: EmailMessage) -> None:
        stage = "connect"
        try:
            with self._connect() as smtp:
                if self.security == "starttls":
                    stage = "starttls"
                    smtp.starttls(context=ssl.create_default_context())
                if self.username:
                    stage = "login"
                    smtp.login(self.username, self.password or "")
                stage = "send"
                smtp.send_message(message)
        except PipelineError:
            raise
        except (smtplib.SMTPException, OSError) as exc:
            raise classify(exc, stage, f"{self.host}:{self.port}") from exc

    def _connect(self) -> smtplib.SMTP:
        if self.security == "tls":
            context = ssl.create_default_context()
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout)


def _reply(code: int, text: bytes | str) -> str:
    message = text.decode(errors="replace") if isinstance(text, bytes) else text
    return f"{code} {message}".strip()


def _by_code(code: int, reply: str, permanent: PermanentError) -> PipelineError:
    if 400 <= code < 500:
        return TransientError(f"SMTP server deferred: {reply}", code="smtp_deferred")
    return permanent


def classify(exc: BaseException, stage: str, server: str) -> PipelineError:
    """The pipeline error for an SMTP failure at ``stage`` (connect, starttls, login, send)."""
    return _smtp_answer(exc, stage, server) or _network_failure(exc, stage, server)


def _smtp_answer(exc: BaseException, stage: str, server: str) -> PipelineError | None:
    """An error the SMTP server said (or a closed connection); None for anything else."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()), (550, b"refused"))
        reply = _reply(code, text)
        return _by_code(code, reply, MessageRefused(f"recipient refused: {reply}", code="smtp_recipient_refused"))
    if isinstance(exc, smtplib.SMTPSenderRefused):
        reply = _reply(exc.smtp_code, exc.smtp_error)
        return _by_code(
            exc.smtp_code,
            reply,
            PermanentError(
                f"the sender {exc.sender} was refused ({reply}); check HUB_EMAIL_FROM", code="smtp_sender_refused"
            ),
        )
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        reply = _reply(exc.smtp_code, exc.smtp_error)
        return _by_code(
            exc.smtp_code,
            reply,
            PermanentError(
                f"login refused ({reply}); check HUB_SMTP_USERNAME / HUB_SMTP_PASSWORD", code="smtp_auth_failed"
            ),
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        if stage == "send":
            return MessageRefused(f"the server cannot carry this message: {exc}", code="smtp_utf8_unsupported")
        what = {"starttls": "STARTTLS (HUB_SMTP_TLS)", "login": "AUTH (HUB_SMTP_USERNAME)"}.get(stage, stage)
        return PermanentError(f"{server} does not support {what}", code=f"smtp_{stage}_unsupported")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        if isinstance(exc.__context__, TimeoutError):  # smtplib re-raises timed-out reads this way
            return TransientError(f"{server} timed out during {stage}", code="smtp_timeout")
        return TransientError(f"{server} closed the connection during {stage}", code="smtp_disconnected")
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = _reply(exc.smtp_code, exc.smtp_error)
        if stage == "send":
            return _by_code(exc.smtp_code, reply, MessageRefused(f"message refused: {reply}"))
        return _by_code(
            exc.smtp_code, reply, PermanentError(f"{server} refused {stage}: {reply}", code=f"smtp_{stage}_refused")
        )
    return None


def _network_failure(exc: BaseException, stage: str, server: str) -> PipelineError:
    """TLS, timeouts and unreachable servers; anything unknown is permanent."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return PermanentError(f"TLS certificate of {server} not trusted: {exc.verify_message}", code="smtp_tls_failed")
    if isinstance(exc, TimeoutError):
        return TransientError(f"{server} timed out during {stage}", code="smtp_timeout")
    if isinstance(exc, OSError):
        return TransientError(f"cannot reach {server} ({type(exc).__name__}: {exc})", code="smtp_unavailable")
    return PermanentError(f"SMTP {stage} failed: {type(exc).__name__}: {exc}", code="smtp_error")


class FileTransport:
    """Writes each message to ``directory/<UTC timestamp>-<recipient and subject>.eml``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: EmailMessage) -> None:
        private_dir(self.directory)  # 0700: the names show recipients and subjects
        stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
        name = f"{stamp}-{_slug(parseaddr(str(message['To']))[1], str(message['Subject']))}"
        data = message.as_bytes(policy=_WIRE)
        for suffix in ("", *(f"-{n}" for n in range(2, 100))):
            try:
                # 0600, never overwritten: a message may carry a link that works for days
                with os.fdopen(create_private(self.directory / f"{name}{suffix}.eml"), "wb") as handle:
                    handle.write(data)
                return
            except FileExistsError:
                continue
        raise PermanentError(f"no free file name for {name}.eml in {self.directory}", code="email_file_exists")


def _slug(*parts: str) -> str:
    text = "-".join(parts).lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:80].rstrip("-") or "message"


def transport_for(settings: Settings) -> Transport:
    """``SmtpTransport`` when ``email_backend`` is ``smtp``, else files under ``data_dir/mail``."""
    if settings.email_backend == "smtp":
        return SmtpTransport(
            settings.smtp_host,
            settings.smtp_port,
            security=settings.smtp_tls,
            username=settings.smtp_username,
            password=settings.smtp_password,
        )
    return FileTransport(settings.data_dir / "mail")
