"""Hub's configuration: environment variables parsed once into one typed, frozen object.

Nothing reads the environment at import time. ``Settings.from_env()`` is called by the
command line; tests build ``Settings`` directly.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

DEFAULT_RATE_LIMIT_PER_MINUTE = 600
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")  # where plain http:// is allowed
DEFAULT_AUTH_FAILURES_PER_MINUTE = 30
DEFAULT_SIGN_IN_FAILURES_PER_MINUTE = 10


class SettingsError(ValueError):
    """A configuration value that cannot be used; the message names the variable."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    data_dir: Path = Path("./var")
    database_url: str | None = None
    redis_url: str | None = None
    secret_keys: tuple[str, ...] = ()
    public_url: str = "http://127.0.0.1:8000"
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE
    # failed authentications per client address and minute before Hub answers 429 (0: no limit)
    auth_failures_per_minute: int = DEFAULT_AUTH_FAILURES_PER_MINUTE  # /v1 bearer keys
    sign_in_failures_per_minute: int = DEFAULT_SIGN_IN_FAILURES_PER_MINUTE  # the dashboard's sign-in form
    # addresses/networks of reverse proxies whose X-Forwarded-For is believed
    trusted_proxies: tuple[str, ...] = ()
    max_body_bytes: int = 64 * 1024
    handler_threads: int = 8  # threads per server process running request handlers
    log_format: str = "console"  # "console" (readable) or "json"
    log_level: str = "info"
    webhooks_allow_private: bool = False
    caldav_allow_private: bool = False  # CalDAV servers on private/loopback addresses, and http:// (hub dev)
    # Origins (scheme://host[:port]) an OAuth redirect_uri may point at; empty: HUB_PUBLIC_URL's.
    oauth_redirect_origins: tuple[str, ...] = ()
    oauth_redirect_allow_localhost: bool = False  # any http://localhost or 127.0.0.1 port (hub dev)
    job_timeout_seconds: int = 90  # a job running longer is stopped; a dead worker's job is retried after this + 30 s
    email_backend: str = "file"  # "smtp" or "file"
    email_from: str = "Hub <hub@localhost>"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_tls: str = "none"  # "none", "starttls" or "tls"
    google_client_id: str | None = None
    google_client_secret: str | None = None
    google_auth_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    google_token_url: str = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a secret
    google_revoke_url: str = "https://oauth2.googleapis.com/revoke"
    google_api_url: str = "https://www.googleapis.com/calendar/v3"
    microsoft_client_id: str | None = None
    microsoft_client_secret: str | None = None
    microsoft_authority: str = "https://login.microsoftonline.com/common"
    microsoft_graph_url: str = "https://graph.microsoft.com/v1.0"

    @property
    def resolved_database_url(self) -> str:
        """The database URL, or the embedded SQLite file under ``data_dir``."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'hub.db').resolve()}"

    @property
    def embedded_redis(self) -> bool:
        return not self.redis_url

    @property
    def allowed_redirect_origins(self) -> frozenset[str]:
        """The origins an OAuth ``redirect_uri`` may have: the listed ones, else Hub's own."""
        listed = self.oauth_redirect_origins or (self.public_url,)
        return frozenset(o for o in map(origin_of, listed) if o)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        values: dict[str, object] = {}
        for field in msgspec.structs.fields(cls):
            raw = get(f"HUB_{field.name.upper()}")
            if raw is not None:
                values[field.name] = raw
        for listed in ("secret_keys", "trusted_proxies"):
            if listed in values:
                values[listed] = [k.strip() for k in str(values[listed]).split(",") if k.strip()]
        if "oauth_redirect_origins" in values:
            values["oauth_redirect_origins"] = _parse_origins(str(values["oauth_redirect_origins"]))
        data_dir = Path(str(values.pop("data_dir", "./var")))
        try:
            settings = msgspec.convert(values, cls, strict=False)
        except msgspec.ValidationError as exc:
            # "Expected `int`, got `str` - at `$.smtp_port`" -> name the variable, not the field.
            match = re.search(r"at `\$\.(\w+)`", str(exc))
            variable = f"HUB_{match.group(1).upper()}" if match else "a HUB_ variable"
            raise SettingsError(f"{variable}: {str(exc).split(' - at ')[0]}") from None
        settings = msgspec.structs.replace(settings, data_dir=data_dir)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Reject values that parse but cannot work, naming the variable to fix."""
        choices = {
            "smtp_tls": ("none", "starttls", "tls"),
            "email_backend": ("smtp", "file"),
            "log_format": ("console", "json"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise SettingsError(f"HUB_{name.upper()} must be one of {', '.join(allowed)}")
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise SettingsError(
                    f"HUB_TRUSTED_PROXIES: {proxy!r} is not an IP address or network (like 10.0.0.0/8)"
                ) from None
        for name in (
            "rate_limit_per_minute",
            "auth_failures_per_minute",
            "sign_in_failures_per_minute",
            "smtp_port",
            "max_body_bytes",
        ):
            if getattr(self, name) < 0:
                raise SettingsError(f"HUB_{name.upper()} must not be negative")
        url = self.database_url
        if url and not url.startswith(("sqlite:///", "postgresql://", "postgresql+psycopg://", "postgres://")):
            raise SettingsError("HUB_DATABASE_URL must be sqlite:///path or postgresql://user:pass@host:port/db")


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, lower-cased and without a default port."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != {"http": 80, "https": 443}[parts.scheme]:
        netloc = f"{netloc}:{port}"
    return f"{parts.scheme}://{netloc}"


def _parse_origins(raw: str) -> list[str]:
    """``HUB_OAUTH_REDIRECT_ORIGINS``: comma-separated ``scheme://host[:port]``, each normalised."""
    origins = []
    for item in (i.strip() for i in raw.split(",")):
        if not item:
            continue
        parts = urlsplit(item)
        origin = origin_of(item)
        if (
            origin is None
            or parts.username is not None
            or parts.password is not None
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
            or item.endswith("?")
        ):
            raise SettingsError(
                f"HUB_OAUTH_REDIRECT_ORIGINS: {item!r} is not an origin; "
                "list scheme://host[:port] values, e.g. https://app.example.com,http://localhost:3000"
            )
        if parts.scheme == "http" and parts.hostname not in LOCAL_HOSTS:
            raise SettingsError(
                f"HUB_OAUTH_REDIRECT_ORIGINS: {item!r} uses plain http://, which is allowed only for "
                "localhost and 127.0.0.1; use https://"
            )
        origins.append(origin)
    return origins
