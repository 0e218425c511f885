"""Linked calendar accounts: OAuth linking, connection health, calendars, sync and push."""
