"""Notifications: the emails Hub sends people, through the registered notifier connector.

``jobs`` is the outbox consumer on the ``notify`` queue (``send_booking_emails``: a confirmation
or cancellation for the host and every attendee, each at most once), over ``_notices`` (the
booking notice an outbox event stands for: payload, host and sequence from the database) and
``_ledger`` (the send ledger: one ``EmailSend`` row per outbox event and recipient).
``sending`` finds the notifier (the connector spec with the ``notifier`` capability, built
once per job context) and sends one-off notices such as the dashboard's relink email.

Core composes nothing: the connector turns a notice into a message (templates, iCalendar) and
sends it behind the ``Notifier`` protocol of ``hub.connectors``.
"""

from __future__ import annotations
