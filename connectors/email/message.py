"""The emails, composed for one recipient: a booking's invitation (iMIP, RFC 6047) and the
relink email.

An invitation is ``multipart/mixed``: a ``multipart/alternative`` with ``text/plain``,
``text/html`` and the iMIP part ``text/calendar; method=REQUEST|CANCEL; charset=utf-8`` (the
``method`` parameter always equals the calendar's ``METHOD``), then the same calendar as an
``application/ics`` attachment named ``invite.ics`` for clients that only offer attachments.
The bodies come from the templates in ``templates/`` and show the time in the booking's zone
and in UTC.

The ``Message-ID`` is derived from the booking, its sequence and the recipient, so composing
the same email again yields the same id; a reschedule or a cancellation refers to the invitation's
id so mail clients thread them. A reschedule's bodies show the old time and the new one, both
in the booking's zone and in UTC.

Names and addresses come from stored data. The API refuses line breaks and NUL in them, but a
row written before that rule (or by other means) may still hold one, and a header cannot: a
recipient whose name or address cannot be written raises ``InvalidRecipient`` (a
``PermanentError``, code ``email_invalid_recipient``), which the notifier reports as that
recipient's failure alone. The organizer's name is left out of ``Reply-To`` when it cannot be
written, and line breaks in a title become spaces in the ``Subject``.

Messages are composed with ``_policy.COMPOSE``, ``policy.default`` with header parsing done
once per repeated header (the same bytes, less work per message). An invitation's two multipart
boundaries are set when it is composed (``_boundary``), so writing it out does not make them
and search the whole message text for each (about half of what writing an invitation cost).

The relink email (``compose_relink``) is plain text from ``templates/relink.txt``: the signed
link that lets a user connect a calendar account again.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from connectors.email._policy import COMPOSE
from connectors.email.ics import build_ics
from connectors.email.invite import Invite, Person
from hub.connectors import RelinkNotice
from hub.errors import PermanentError

TEMPLATES = Path(__file__).parent / "templates"
ATTACHMENT_NAME = "invite.ics"

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DASH = "\N{EN DASH}"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_UNWRITABLE = re.compile(r"[\x00\r\n]")  # what no header may carry
_BREAKS = re.compile(r"[\x00\r\n]+")


class InvalidRecipient(PermanentError):
    """The recipient's name or address cannot be written into an email header; retrying cannot help."""

    code = "email_invalid_recipient"


@cache
def _templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _day(moment: datetime) -> str:
    return f"{_DAYS[moment.weekday()]} {moment.day} {_MONTHS[moment.month - 1]} {moment.year}"


def _utc_offset(moment: datetime) -> str:
    minutes = int((moment.utcoffset() or UTC.utcoffset(None)).total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _span(start: datetime, end: datetime) -> str:
    """``Mon 2 Dec 2030, 09:00 - 09:30`` (with an en dash); the end's day only when it differs."""
    end_text = f"{end:%H:%M}" if end.date() == start.date() else f"{_day(end)}, {end:%H:%M}"
    return f"{_day(start)}, {start:%H:%M} {_DASH} {end_text}"


def when_local(invite: Invite, start: datetime | None = None, end: datetime | None = None) -> str:
    """The booking's time (or ``start``-``end``) in its own zone:
    ``Mon 2 Dec 2030, 09:00 - 09:30 (Europe/Berlin, UTC+01:00)``."""
    zone = ZoneInfo(invite.timezone)
    local_start, local_end = (start or invite.start).astimezone(zone), (end or invite.end).astimezone(zone)
    return f"{_span(local_start, local_end)} ({invite.timezone}, {_utc_offset(local_start)})"


def when_utc(invite: Invite, start: datetime | None = None, end: datetime | None = None) -> str:
    """The booking's time (or ``start``-``end``) in UTC: ``Mon 2 Dec 2030, 08:00 - 08:30 UTC``."""
    return f"{_span((start or invite.start).astimezone(UTC), (end or invite.end).astimezone(UTC))} UTC"


def _previous(invite: Invite) -> dict[str, str | None]:
    """The times before a move, rendered as the new ones are (empty for other invitations)."""
    if invite.previous_start is None or invite.previous_end is None:
        return {"previous_local": None, "previous_utc": None}
    return {
        "previous_local": when_local(invite, invite.previous_start, invite.previous_end),
        "previous_utc": when_utc(invite, invite.previous_start, invite.previous_end),
    }


def subject(invite: Invite, recipient: Person) -> str:
    start = invite.start.astimezone(ZoneInfo(invite.timezone))
    when = f"{_day(start)} {start:%H:%M} ({invite.timezone})"
    if invite.method == "CANCEL":
        prefix = "Cancelled"
    elif invite.kind == "reschedule":
        prefix = "Moved"
    else:
        prefix = "New booking" if _is_host(invite, recipient) else "Invitation"
    return f"{prefix}: {_BREAKS.sub(' ', invite.summary)} @ {when}"


def message_id(booking_id: str, sequence: int, recipient: str, domain: str) -> str:
    """``<booking.s<sequence>.<recipient digest>@domain>``: the same inputs give the same id."""
    digest = hashlib.sha256(recipient.casefold().encode()).hexdigest()[:16]
    return f"<{booking_id}.s{sequence}.{digest}@{domain}>"


def sender_domain(sender: str) -> str:
    return parseaddr(sender)[1].rpartition("@")[2] or "hub"


def _is_host(invite: Invite, recipient: Person) -> bool:
    return invite.is_host(recipient)


_EVERY = {"daily": "day", "weekly": "week", "monthly": "month"}
_DAY_NAMES = {"mon": "Mon", "tue": "Tue", "wed": "Wed", "thu": "Thu", "fri": "Fri", "sat": "Sat", "sun": "Sun"}


def repeats(invite: Invite) -> str | None:
    """How a series repeats, in words (``every week on Mon, Thu, 10 times``); for one occurrence
    ``one occurrence of a recurring booking``; None for a single booking."""
    if invite.series is None:
        return None
    rule = invite.series.rule
    if rule is None:
        return "one occurrence of a recurring booking"
    unit = _EVERY.get(rule.frequency, rule.frequency)
    words = f"every {unit}" if rule.interval == 1 else f"every {rule.interval} {unit}s"
    if rule.weekdays:
        words += " on " + ", ".join(_DAY_NAMES.get(d, d) for d in rule.weekdays)
    if rule.count is not None:
        words += f", {rule.count} times"
    elif rule.until is not None:
        words += f", until {_day(rule.until.astimezone(ZoneInfo(invite.timezone)))}"
    if invite.series.excluded:
        words += f" (except {len(invite.series.excluded)} date(s))"
    return words


def render(invite: Invite, recipient: Person) -> tuple[str, str]:
    """The text and HTML bodies for ``recipient``."""
    values: dict[str, Any] = {
        "recipient": recipient,
        "is_host": _is_host(invite, recipient),
        "organizer": invite.organizer,
        "hosts": (invite.organizer, *invite.other_hosts()),
        "guests": invite.guests(),
        "summary": invite.summary,
        "when_local": when_local(invite),
        "when_utc": when_utc(invite),
        "cancellation_reason": invite.cancellation_reason,
        "reschedule_reason": invite.reschedule_reason,
        "join_url": invite.join_url if invite.method == "REQUEST" else None,
        "repeats": repeats(invite),
        **_previous(invite),
    }
    environment = _templates()
    text = environment.get_template(f"{invite.kind}.txt").render(values)
    html = environment.get_template(f"{invite.kind}.html").render(values)
    return text, html


def _cte(text: str) -> str | None:
    """Let the library pick for ASCII; quoted-printable (never raw 8-bit) otherwise."""
    return None if text.isascii() else "quoted-printable"


def _address(person: Person) -> Address:
    """``person`` as a header address, or ``InvalidRecipient`` when that cannot be written."""
    username, _, domain = person.email.rpartition("@")
    if _UNWRITABLE.search(person.email) or _UNWRITABLE.search(person.name or "") or not username:
        raise InvalidRecipient(
            f"the name or address of recipient {person.email!r} holds a line break or NUL character, "
            "or is not an address; no email header can carry it (correct the booking or the user)"
        )
    try:
        return Address(display_name=person.name or "", username=username, domain=domain)
    except ValueError as exc:
        raise InvalidRecipient(f"recipient {person.email!r} cannot be written as an address: {exc}") from None


def _reply_to(organizer: Person) -> Address | None:
    """The organizer for ``Reply-To``: without the name if it cannot be written, else not at all."""
    for person in (organizer, Person(organizer.email)):
        try:
            return _address(person)
        except InvalidRecipient:
            continue
    return None


def _boundary() -> str:
    """A MIME boundary no part of the message can contain: ``=_`` and 128 random bits in hex.
    Quoted-printable writes ``=`` as ``=3D`` and base64 has no ``_``, so no encoded part can hold
    it, and a 7-bit text part only by a chance of one in 2**128 (its text is written before the
    boundary is drawn, so not even its author can aim at it)."""
    return "=_" + secrets.token_hex(16)


def compose(invite: Invite, recipient: Person, *, sender: str, now: datetime, ics: bytes | None = None) -> EmailMessage:
    """The complete email of ``invite`` for ``recipient``, sent from ``sender``; ``ics`` is the
    invitation's calendar when it was built already (it is the same for every recipient)."""
    domain = sender_domain(sender)
    ics = build_ics(invite) if ics is None else ics
    ics_text = ics.decode()
    text, html = render(invite, recipient)

    message = EmailMessage(policy=COMPOSE)
    message["From"] = sender
    message["To"] = _address(recipient)
    reply_to = None if _is_host(invite, recipient) else _reply_to(invite.organizer)
    if reply_to is not None:
        message["Reply-To"] = reply_to
    message["Subject"] = subject(invite, recipient)
    message["Date"] = format_datetime(now.astimezone(UTC))
    message["Message-ID"] = message_id(invite.booking_id, invite.sequence, recipient.email, domain)
    if invite.sequence > 0 or invite.thread != invite.booking_id:  # a change threads under the invitation
        original = message_id(invite.thread, 0, recipient.email, domain)
        message["In-Reply-To"] = original
        message["References"] = original
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies

    message.set_content(text, subtype="plain", cte=_cte(text))
    message.add_alternative(html, subtype="html", cte=_cte(html))
    message.add_alternative(ics_text, subtype="calendar", params={"method": invite.method}, cte=_cte(ics_text))
    message.add_attachment(
        ics, maintype="application", subtype="ics", filename=ATTACHMENT_NAME, params={"name": ATTACHMENT_NAME}
    )
    for part in (message, *message.iter_parts()):  # multipart/mixed and its multipart/alternative
        if part.is_multipart():
            part.set_boundary(_boundary())
    return message


def compose_relink(notice: RelinkNotice, recipient: Person, *, sender: str) -> EmailMessage:
    """The relink email for ``recipient``, sent from ``sender``."""
    text = (
        _templates()
        .get_template("relink.txt")
        .render(provider_name=notice.provider_name, account=notice.account, url=notice.url)
    )
    message = EmailMessage(policy=COMPOSE)
    message["From"] = sender
    message["To"] = _address(recipient)
    message["Subject"] = f"Reconnect your {_BREAKS.sub(' ', notice.provider_name)}"
    message.set_content(text, cte=_cte(text))
    return message
