"""Logging, metrics, tracing and request context."""
