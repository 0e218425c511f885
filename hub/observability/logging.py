"""One structlog configuration: context variables first, then the active trace and span ids,
ISO timestamps, JSON or console."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from hub.observability.tracing import add_trace_ids

_SECRET_KEYS = {"authorization", "api_key", "key", "secret", "token", "access_token", "refresh_token", "password"}


def _redact(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
    """Never let a secret reach a log line, whatever a caller passed."""
    for name in list(event):
        if name.lower() in _SECRET_KEYS and event[name] is not None:
            event[name] = "[redacted]"
    return event


def configure_logging(*, json: bool, level: str = "info") -> None:
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_trace_ids,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
        structlog.processors.StackInfoRenderer(),
    ]
    if json:
        processors += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        processors += [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(
        level=max(numeric, logging.WARNING), stream=sys.stderr, format="%(levelname)s %(name)s %(message)s"
    )
