"""Microsoft 365 / Outlook connector: Entra ID linking through MSAL, and Microsoft Graph.

The same files as every provider: ``auth`` (MSAL token source and OAuth linking), ``client``
(authorized Graph calls, the error table, the per-mailbox concurrency limit), ``schemas`` (wire
Structs), ``mapping`` (pure: Graph events <-> Hub values), ``calendar`` (calendars and booking
events), ``sync`` (calendarView delta), ``push`` (subscriptions and notification parsing) and
``spec`` (what core loads through the registry).
"""

from __future__ import annotations
