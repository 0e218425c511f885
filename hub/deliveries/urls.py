"""Which webhook URLs Hub may call: the outbound policy of ``hub.egress``, with webhook wording.

A URL must be ``http`` or ``https`` with a host and no credentials. Unless
``HUB_WEBHOOKS_ALLOW_PRIVATE`` is set, every address the host resolves to must be publicly
routable (see ``hub.egress``), so a webhook cannot be aimed at Hub's own network. The check runs
when an endpoint is created and again before every delivery attempt, because DNS answers
change; the attempt then connects only to the addresses that attempt's check accepted.
"""

from __future__ import annotations

from hub import egress
from hub.egress import MAX_URL_LENGTH, Destination, Resolver, UrlError, parse, refusal, resolve

__all__ = [
    "MAX_URL_LENGTH",
    "Destination",
    "Resolver",
    "UrlError",
    "UrlNotAllowed",
    "check",
    "destination",
    "parse",
    "refusal",
    "resolve",
]


class UrlNotAllowed(UrlError):
    """The webhook URL points at an address Hub refuses to call."""

    code = "webhook_url_not_allowed"


def destination(url: str, *, allow_private: bool, resolver: Resolver | None = None) -> Destination:
    """Where a delivery to ``url`` may go (pinned to the checked addresses), or ``UrlError`` /
    ``UrlNotAllowed``."""
    try:
        return egress.check(url, allow_private=allow_private, resolver=resolver)
    except egress.UrlNotAllowed as exc:
        raise UrlNotAllowed(f"{exc}; webhooks must go to a publicly routable address") from None


def check(url: str, *, allow_private: bool, resolver: Resolver | None = None) -> str:
    """``url`` normalised (surrounding space removed) if Hub may call it."""
    return destination(url, allow_private=allow_private, resolver=resolver).url
