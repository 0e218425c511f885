"""Bookings: the booking API, idempotency, the outbox."""
