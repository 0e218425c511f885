"""Every change of shape the compatibility layer translates, one module per change.

To add one: write ``hub/versioning/compat/<name>.py`` with ``upgrade_request(body)``,
``downgrade_response(body)`` and a ``CHANGE``, list it here, add the revision to
``hub.versioning.registry.VERSIONS``, and describe it in docs/migration-guide.md.
"""

from __future__ import annotations

from hub.versioning.compat import booking_guests
from hub.versioning.compat.change import Change

CHANGES: tuple[Change, ...] = (booking_guests.CHANGE,)
