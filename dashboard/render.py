"""Rendering pages: the template filters, flash messages, and the headers every page carries.

Times are rendered in UTC inside ``<time datetime=...>``; a few lines of JavaScript show them
in the viewer's own zone and keep UTC in the hover title. Pages are never cached and never
framed, and the content security policy allows only the dashboard's own script and styles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import msgspec
from jinja2 import Environment
from litestar import Request
from litestar.datastructures import Cookie
from litestar.response import Redirect, Template
from markupsafe import Markup

from dashboard.auth import COOKIE_PATH, Viewer, clear_cookie
from dashboard.signing import Signer

FLASH_COOKIE = "hub_dashboard_flash"

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}

STATUS_LABELS = {
    "active": "Active",
    "reauth_required": "Reauth required",
    "error": "Error",
    "revoked": "Revoked",
    "succeeded": "Succeeded",
    "failed": "Failed",
    "running": "Running",
    "skipped": "Skipped",
    "pending": "Pending",
    "enabled": "Enabled",
    "disabled": "Disabled",
    "received": "Received",
    "processed": "Processed",
    "ignored": "Ignored",
}


class Flash(msgspec.Struct, frozen=True):
    kind: str  # "ok" or "error"
    text: str


@dataclass(frozen=True)
class Ui:
    """What every template needs besides its own data."""

    viewer: Viewer | None
    section: str
    flash: Flash | None


def when(value: datetime | None, empty: str = "—") -> Markup:
    """A ``<time>`` element: UTC text and attribute, converted to the viewer's zone in the browser."""
    if value is None:
        return Markup('<span class="muted">{}</span>').format(empty)
    utc = value.astimezone(UTC)
    stamp = utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    return Markup('<time datetime="{}" title="{} UTC">{} UTC</time>').format(
        stamp, utc.strftime("%Y-%m-%d %H:%M:%S"), utc.strftime("%Y-%m-%d %H:%M")
    )


def duration(ms: int | None) -> str:
    if ms is None:
        return "—"
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    return f"{ms // 60_000} min {ms % 60_000 // 1000} s"


def badge(status: str | None) -> Markup:
    """A status in colour and in words (the class picks the colour and an icon)."""
    value = status or "unknown"
    label = STATUS_LABELS.get(value, value.replace("_", " ").capitalize())
    return Markup('<span class="badge badge-{}">{}</span>').format(value.replace("_", "-"), label)


def span(seconds: float) -> str:
    """A length of time in words: ``45 s``, ``12 min``, ``3 h 5 min``, ``2 d``."""
    total = int(seconds)
    if total < 60:
        return f"{total} s"
    if total < 3600:
        return f"{total // 60} min"
    if total < 86400:
        hours, minutes = divmod(total // 60, 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{total // 86400} d"


def window(actual_seconds: float, wanted_seconds: float, name: str) -> str:
    """``name`` for a window, or the shorter span actually covered (a process younger than the window)."""
    if actual_seconds >= wanted_seconds * 0.97:
        return name
    return f"last {span(actual_seconds)} (since start)"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def plain(value: Any) -> str:
    """A JSON value in words: lists joined by commas, objects as ``key: value`` pairs."""
    if isinstance(value, list):
        return ", ".join(plain(item) for item in value)
    if isinstance(value, dict):
        return "; ".join(f"{key}: {plain(item)}" for key, item in value.items())
    return "—" if value is None else str(value)


def query(params: dict[str, Any], **changes: Any) -> str:
    """``?a=1&b=2`` from ``params`` with ``changes`` applied; empty values are left out."""
    merged = {**params, **changes}
    pairs = {k: v for k, v in merged.items() if v not in (None, "")}
    return "?" + urlencode(pairs) if pairs else "?"


def install_filters(environment: Environment) -> None:
    environment.filters.update(
        {"when": when, "duration": duration, "badge": badge, "percent": percent, "span": span, "plain": plain}
    )
    environment.globals.update({"query": query, "window": window})
    environment.trim_blocks = True
    environment.lstrip_blocks = True


def read_flash(signer: Signer, request: Request[Any, Any, Any]) -> Flash | None:
    raw = request.cookies.get(FLASH_COOKIE)
    payload = signer.unsign(raw, "flash") if raw else None
    if payload is None:
        return None
    try:
        return msgspec.json.decode(payload, type=Flash)
    except msgspec.DecodeError:
        return None


def flash_cookie(signer: Signer, kind: str, text: str) -> Cookie:
    value = signer.sign(msgspec.json.encode(Flash(kind, text)), "flash")
    return Cookie(key=FLASH_COOKIE, value=value, path=COOKIE_PATH, httponly=True, samesite="strict", max_age=120)


def page(
    signer: Signer,
    request: Request[Any, Any, Any],
    template: str,
    viewer: Viewer | None,
    section: str,
    *,
    status_code: int = 200,
    cookies: list[Cookie] | None = None,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Template:
    """Render ``template`` with the shared UI context; a pending flash message is shown once."""
    flash = read_flash(signer, request)
    all_cookies = list(cookies or [])
    if flash is not None:
        all_cookies.append(clear_cookie(FLASH_COOKIE))
    return Template(
        template_name=template,
        context={"ui": Ui(viewer, section, flash), **context},
        status_code=status_code,
        headers={**SECURITY_HEADERS, **(headers or {})},
        cookies=all_cookies,
    )


def done(signer: Signer, to: str, text: str, *, kind: str = "ok") -> Redirect:
    """After a POST: back to a page (303), with a message shown there once."""
    return Redirect(to, status_code=303, cookies=[flash_cookie(signer, kind, text)], headers=SECURITY_HEADERS)
