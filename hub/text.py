"""What characters the API's text fields may hold.

* No text field may hold NUL (U+0000): PostgreSQL cannot store it in a text column, so it would
  fail deep inside a write instead of being refused up front.
* One-line fields (people's names, titles, API key names, URLs) may not hold CR or LF either:
  they end up in email headers and calendar entries, where a line break starts a new header.

The rules are msgspec constraints on the schemas (``text()`` and ``line()`` in ``Annotated``
types), so the framework refuses a bad value with ``422 validation_failed`` naming the field,
before any handler runs. ``MESSAGES`` gives hub.errors a readable message for each pattern.
Free JSON values (booking ``metadata``) are checked with ``nul_in_json``.

This module depends on nothing in Hub, so hub.errors can read its messages.
"""

from __future__ import annotations

from typing import Any

import msgspec

END = r"(?![\s\S])"
"""The end of the text. ``$`` would also match before a final newline, letting ``"Ada\\n"`` through."""

NO_NUL = r"^[^\x00]*" + END
ONE_LINE = r"^[^\x00\r\n]*" + END
EMAIL = r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+" + END
"""Non-space characters around one "@", with a dot in the domain."""

NUL_MESSAGE = "must not contain NUL characters (U+0000)"
LINE_MESSAGE = "must be one line: no line breaks (CR, LF) and no NUL characters"
MESSAGES = {
    NO_NUL: NUL_MESSAGE,
    ONE_LINE: LINE_MESSAGE,
    EMAIL: "must be an email address such as ada@example.com (no spaces, line breaks or NUL characters)",
}
"""The readable message for each pattern, instead of msgspec's 'Expected `str` matching regex'."""


def text(**constraints: Any) -> msgspec.Meta:
    """The constraint of a text field: no NUL, plus ``constraints`` (``max_length``, ...)."""
    return msgspec.Meta(pattern=NO_NUL, **constraints)


def line(**constraints: Any) -> msgspec.Meta:
    """The constraint of a one-line text field: no NUL, CR or LF, plus ``constraints``."""
    return msgspec.Meta(pattern=ONE_LINE, **constraints)


def nul_in_json(value: Any, field: str) -> tuple[str, str] | None:
    """Where a decoded JSON value (its strings and object keys) holds NUL: the path and the
    message for a ``FieldError``, or None when it holds none."""
    pending: list[tuple[Any, str]] = [(value, field)]
    while pending:
        item, path = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return path, NUL_MESSAGE
        elif isinstance(item, dict):
            for key, child in item.items():
                if "\x00" in key:
                    return path, f"has a key that {NUL_MESSAGE}"
                pending.append((child, f"{path}.{key}"))
        elif isinstance(item, list):
            pending.extend((child, f"{path}[{index}]") for index, child in enumerate(item))
    return None
