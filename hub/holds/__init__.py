"""Holds: temporary reservations of a host's time, the hold API, and their turning into bookings."""
