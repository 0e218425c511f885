"""Email connector: booking confirmations and cancellations as iMIP invitations (an email with
an iCalendar ``METHOD:REQUEST`` / ``METHOD:CANCEL`` part) to the host and every attendee, and
the dashboard's relink email.

``invite`` is the invitation a booking notice stands for, ``ics`` builds its calendar object,
``message`` composes each email from the ``templates/``, ``transport`` sends it (SMTP, or
``.eml`` files in development) and ``notifier`` is the ``Notifier`` core drives. Core keeps the
outbox consumer and the send ledger (``hub.notifications``); this package touches no table.
"""

from __future__ import annotations
