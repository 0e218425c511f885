"""Email connector: booking confirmations and cancellations as iMIP invitations (an email with
an iCalendar ``METHOD:REQUEST`` / ``METHOD:CANCEL`` part) to the host and every attendee.

``ics`` builds the calendar object, ``notifier`` the MIME message, ``transport`` sends it (SMTP,
or ``.eml`` files in development) and ``jobs`` is the idempotent outbox consumer.
"""

from __future__ import annotations
