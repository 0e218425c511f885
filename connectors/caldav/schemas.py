"""The connector's own shapes: the stored account (credentials, encrypted by core) and the
change-feed cursor (opaque to core, kept on the calendar row)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from hub.connectors import CredentialStore
from hub.errors import ReauthRequired


class Account(msgspec.Struct, frozen=True):
    """A linked CalDAV account as stored (core encrypts it at rest)."""

    server_url: str  # what the user gave (or the preset's URL)
    principal_url: str  # found by discovery: every later request starts here
    home_url: str  # the calendar-home-set
    username: str
    password: str  # the app-specific password

    @classmethod
    def of(cls, credentials: CredentialStore) -> Account:
        try:
            return msgspec.convert(credentials.get(), cls)
        except msgspec.ValidationError:
            raise ReauthRequired("the stored CalDAV account is incomplete; link it again") from None

    def stored(self) -> dict[str, Any]:
        value: dict[str, Any] = msgspec.to_builtins(self)
        return value


class Cursor(msgspec.Struct, frozen=True):
    """Where the change feed of one calendar stands.

    ``token`` is the server's sync-token (RFC 6578), or python-caldav's ``fake-`` token (a hash
    of the calendar's etags) where the server offers no sync-collection. ``until`` is the end
    of the window recurring events were expanded over: once it falls short of the horizon by a
    day the next pull is a full one, so the expansion moves forward with time.
    """

    token: str | None
    until: datetime
    version: int = 1

    def encode(self) -> str:
        return msgspec.json.encode(self).decode()

    @classmethod
    def decode(cls, value: str | None) -> Cursor | None:
        if not value:
            return None
        try:
            return msgspec.json.decode(value, type=cls)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
