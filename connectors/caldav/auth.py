"""Linking a CalDAV account (``PasswordLinker``): server, user name, app-specific password.

1. The server: ``server_url``, or a preset's (``icloud``, ``fastmail``; ``nextcloud`` names no
   host, so it needs ``server_url``). ``https://`` only, unless private addresses are allowed
   (``HUB_CALDAV_ALLOW_PRIVATE``, set by ``hub dev``), which also allows plain ``http://``.
2. A bare host (no path) is resolved through RFC 6764 ``/.well-known/caldav``: its redirects are
   followed (at most ``MAX_REDIRECTS``, each destination checked by the egress guard), and where
   they end is the context path. Without a well-known answer the URL itself is used.
3. python-caldav finds ``current-user-principal`` there and the principal's
   ``calendar-home-set``, and lists the calendars that can hold events
   (``CalDavCalendars.calendars_at``); they come back with the account.

Whatever fails is a ``LinkRefused`` with the API's code: ``caldav_auth_failed`` (401: wrong user
name or password), ``caldav_url_not_allowed`` (the guard refused an address or scheme),
``caldav_unreachable`` (no answer, or no CalDAV server there). The password is never logged
and is kept only in the returned credentials, which core encrypts.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urljoin, urlsplit

import niquests
from caldav.collection import Principal
from caldav.davclient import DAVClient
from caldav.lib.url import URL

from connectors.caldav.calendar import CalDavCalendars
from connectors.caldav.client import URL_NOT_ALLOWED, CalDavClient, classify
from connectors.caldav.schemas import Account
from hub import egress
from hub.connectors import CredentialStore, LinkedAccount, LinkRefused, PasswordLogin, ProviderCalendar
from hub.errors import PipelineError, ReauthRequired

PRESETS: Final[dict[str, str | None]] = {
    "icloud": "https://caldav.icloud.com/",
    "fastmail": "https://caldav.fastmail.com/dav/",
    "nextcloud": None,  # the user's own server: server_url is required
}
AUTH_FAILED: Final = "caldav_auth_failed"
UNREACHABLE: Final = "caldav_unreachable"
MAX_REDIRECTS: Final = 5
REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})


def server_of(login: PasswordLogin, *, allow_private: bool) -> str:
    """The URL to start discovery at, checked for shape (the guard checks the address)."""
    url = login.server_url
    if login.preset is not None:
        if login.preset not in PRESETS:
            raise LinkRefused(f"preset must be one of {', '.join(PRESETS)}", code="validation_failed")
        url = url or PRESETS[login.preset]
    if not url:
        raise LinkRefused(
            "give server_url (the nextcloud preset needs your server's address)", code="validation_failed"
        )
    try:
        parts = egress.parse(url)
    except egress.UrlError as exc:
        raise LinkRefused(f"server_url {exc}", code="validation_failed") from None
    if parts.scheme != "https" and not allow_private:
        raise LinkRefused("server_url must be an https:// URL", code=URL_NOT_ALLOWED)
    return parts.geturl()


def _refused(error: PipelineError) -> LinkRefused:
    if error.code == URL_NOT_ALLOWED:
        return LinkRefused(error.message, code=URL_NOT_ALLOWED)
    if isinstance(error, ReauthRequired):
        return LinkRefused(
            "the CalDAV server refused the user name or password (use an app-specific password)",
            code=AUTH_FAILED,
            provider_code=error.provider_code,
        )
    return LinkRefused(
        f"no CalDAV server answered there ({error.message})", code=UNREACHABLE, provider_code=error.provider_code
    )


def well_known(session: niquests.Session, url: str) -> str:
    """Where ``/.well-known/caldav`` of a bare host leads (RFC 6764 §5), or ``url`` itself."""
    parts = urlsplit(url)
    if parts.path not in ("", "/"):
        return url
    here = f"{parts.scheme}://{parts.netloc}/.well-known/caldav"
    for _ in range(MAX_REDIRECTS):
        answer = session.request("PROPFIND", here, headers={"Depth": "0"}, allow_redirects=False)
        location = answer.headers.get("Location")
        if answer.status_code not in REDIRECTS or not location:
            return here if answer.status_code in (207, 401) else url
        here = urljoin(here, location)
    return here


class CalDavLinker:
    def __init__(self, client: CalDavClient, calendars: CalDavCalendars, *, allow_private: bool) -> None:
        self.client = client
        self.calendars = calendars
        self.allow_private = allow_private

    def _discover(self, dav: DAVClient, server: str, login: PasswordLogin) -> tuple[Account, list[ProviderCalendar]]:
        context = well_known(dav.session, server)
        if context != server:
            dav.url = URL.objectify(context)
        principal = Principal(client=dav)
        home = principal.calendar_home_set
        account = Account(
            server_url=server,
            principal_url=str(principal.url),
            home_url=str(home.url),
            username=login.username,
            password=login.password,
        )
        return account, self.calendars.calendars_at(dav, account.home_url)

    def link(self, login: PasswordLogin) -> LinkedAccount:
        server = server_of(login, allow_private=self.allow_private)
        try:
            account, calendars = self.client.once(
                server, login.username, login.password, lambda dav: self._discover(dav, server, login), "discovery"
            )
        except PipelineError as exc:
            raise _refused(exc) from None
        except niquests.exceptions.RequestException as exc:
            raise _refused(classify(exc, "discovery")) from None
        return LinkedAccount(
            account_id=account.principal_url,
            account_email=login.username if "@" in login.username else None,
            credentials=account.stored(),
            calendars=tuple(calendars),
        )

    def revoke(self, credentials: CredentialStore) -> None:
        """CalDAV has no revocation: Hub forgets the password; the user deletes it at the provider."""
        return None
