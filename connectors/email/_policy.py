"""The ``email`` policy Hub composes messages with: the standard library's ``policy.default``,
made cheaper for a worker that composes the same shapes of message all day.

Setting a header parses its value into a header object (``email.headerregistry``), and most of
an invitation's headers are the same in every message (``MIME-Version``, the parts'
``Content-Type`` and ``Content-Transfer-Encoding``, ``Content-Disposition``, the sender). So:

- the header registry builds each header's class once (the standard one builds a new class on
  every lookup);
- a header set from a string is parsed once per (name, value) and the resulting header object,
  which is immutable, is reused by the next message that sets the same value;
- a header object remembers how it folds under each policy it was written with (the same
  settings are the same policy), so a shared header is folded once, not once per message.

Messages come out byte for byte as with ``policy.default``.
"""

from __future__ import annotations

from email.headerregistry import BaseHeader, HeaderRegistry
from email.policy import EmailPolicy
from functools import lru_cache
from typing import Any

PARSED_HEADERS = 512  # (name, value) pairs kept parsed; the rest are parsed again when set


def _settings(policy: Any) -> tuple[Any, ...]:
    """What tells one policy from another: its class and the settings it overrides. The writer
    clones its policy for every part of a multipart message (the same settings, a new object),
    so a header's fold is remembered under these, not under the object."""
    return (type(policy), *sorted(vars(policy).items()))


class _FoldOnce:
    """Remembers the folded form per policy (``BaseHeader.fold`` works from the immutable parse tree)."""

    def fold(self, *, policy: Any) -> str:
        folds: dict[Any, str] = self.__dict__.setdefault("_folds", {})
        key = _settings(policy)
        found = folds.get(key)
        if found is None:
            found = folds[key] = super().fold(policy=policy)  # type: ignore[misc]
        return found


class _Registry(HeaderRegistry):
    """``HeaderRegistry`` whose lookup builds each header's class once (with ``_FoldOnce``)."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        found = self._classes.get(key)
        if found is None:
            standard = self.registry.get(key, self.default_class)  # as HeaderRegistry.__getitem__
            found = self._classes[key] = type("_" + standard.__name__, (_FoldOnce, standard, self.base_class), {})
        return found


_REGISTRY = _Registry()


@lru_cache(maxsize=PARSED_HEADERS)
def _parsed(name: str, value: str) -> Any:
    return _REGISTRY(name, value)


class _ComposePolicy(EmailPolicy):
    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        if type(value) is str and len(value.splitlines()) <= 1:  # else the standard error
            return (name, _parsed(name, value))
        return super().header_store_parse(name, value)


COMPOSE = _ComposePolicy(header_factory=_REGISTRY)
