"""Tests of the email connector: the iCalendar object, the MIME message, SMTP and file
transports, and the outbox job against a real SMTP server."""
