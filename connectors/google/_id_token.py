"""Reading the id_token of Google's token response (the account's ``sub`` and ``email``)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import msgspec

from connectors.google.schemas import IdTokenClaims
from hub.errors import PermanentError

ISSUERS = frozenset({"https://accounts.google.com", "accounts.google.com"})
CLOCK_SKEW = timedelta(minutes=5)


def id_token_claims(id_token: str | None, *, client_id: str, now: datetime) -> IdTokenClaims:
    """The id_token's claims, checked as OpenID Connect Core 1.0 §3.1.3.7 requires.

    The signature is not checked: this token came straight from Google's token endpoint over
    TLS, and §3.1.3.7 item 6 allows "the TLS server validation ... to validate the issuer in
    place of checking the token signature" for an ID Token "received via direct communication
    between the Client and the Token Endpoint". Issuer, audience, authorized party and expiry
    are still checked. Never use this for an id_token that arrived any other way.
    """
    if not id_token:
        raise PermanentError("Google returned no id_token; was the openid scope dropped?", code="missing_id_token")
    try:
        payload = id_token.split(".")[1]
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        claims = msgspec.json.decode(raw, type=IdTokenClaims)
    except (IndexError, ValueError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise PermanentError(f"unreadable id_token: {exc}", code="invalid_id_token") from exc
    audiences = [claims.aud] if isinstance(claims.aud, str) else claims.aud
    problems = [
        "issuer" if claims.iss not in ISSUERS else "",
        "audience" if client_id not in audiences else "",
        "authorized party" if claims.azp not in (None, client_id) else "",
        "expiry" if datetime.fromtimestamp(claims.exp, UTC) + CLOCK_SKEW < now else "",
    ]
    if any(problems):
        raise PermanentError(f"id_token rejected: {', '.join(p for p in problems if p)}", code="invalid_id_token")
    return claims
