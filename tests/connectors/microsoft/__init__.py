"""Tests of the Microsoft 365 / Outlook connector: MSAL over httpx, the Graph client and its
error table, the mailbox concurrency limit (real Redis), mapping, calendars, delta sync,
subscriptions and notification parsing, all against the documented payloads in ``fixtures/``."""
