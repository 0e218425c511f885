"""Google Calendar connector: account linking (OAuth 2.0 + PKCE, google-auth for refresh),
calendars and idempotent event writes, the ``events.list`` sync-token change feed, and push
channels (``events.watch``).

``auth`` is the token source, ``client`` the HTTP calls and Google's error table, ``schemas`` the
wire shapes, ``mapping`` the pure conversions, ``calendar``/``sync``/``push`` the protocols of
``hub.connectors``, and ``spec`` what the registry loads.
"""

from __future__ import annotations
