"""Inbound provider notifications: verify, dedup, store in the inbox, enqueue, answer fast."""
