"""What core knows about providers: a frozen spec per connector and a registry from slug to
the module that declares it. Core never imports a connector package by name; it loads specs
through ``spec()`` / ``specs()``.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Final

import msgspec

REGISTRY: Final[dict[str, str]] = {
    "email": "connectors.email.spec:SPEC",
}


class OutboxConsumer(msgspec.Struct, frozen=True):
    """A job that reacts to outbox events: ``function(outbox_id)``, idempotent."""

    function: str  # import path "package.module.function"
    events: frozenset[str]
    queue: str = "notify"


class ConnectorSpec(msgspec.Struct, frozen=True):
    slug: str
    name: str
    consumers: tuple[OutboxConsumer, ...] = ()


def _load(path: str) -> ConnectorSpec:
    module_name, _, attribute = path.partition(":")
    value = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(value, ConnectorSpec):
        raise TypeError(f"{path} is not a ConnectorSpec")
    return value


@cache
def spec(slug: str) -> ConnectorSpec:
    return _load(REGISTRY[slug])


def specs() -> list[ConnectorSpec]:
    return [spec(slug) for slug in REGISTRY]
