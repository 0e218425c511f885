"""Deprecated routes are marked ``deprecated: true`` in the OpenAPI document, with their sunset
date and replacement in the description, so generated clients warn too."""

from __future__ import annotations

from collections.abc import Mapping

from litestar.openapi.spec import OpenAPI

from hub.versioning.registry import Deprecation

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def mark_deprecated(openapi: OpenAPI, table: Mapping[tuple[str, str], Deprecation]) -> list[tuple[str, str]]:
    """Mark every operation in ``table``; returns the entries that match no operation."""
    unmatched = []
    for (method, template), entry in table.items():
        item = (openapi.paths or {}).get(template)
        operation = getattr(item, method.lower(), None) if item is not None and method.lower() in _METHODS else None
        if operation is None:
            unmatched.append((method, template))
            continue
        operation.deprecated = True
        note = f"Deprecated since {entry.deprecated_at}; stops working on {entry.sunset}. Use {entry.replacement}."
        operation.description = f"{operation.description}\n\n{note}" if operation.description else note
    return unmatched


def mark_public(openapi: OpenAPI, operations: set[tuple[str, str]]) -> None:
    """Operations that need no API key say so (``security: []``) instead of inheriting the
    document-wide bearer requirement. Litestar drops an empty list on the handler, so it is set
    on the document."""
    for method, template in operations:
        item = (openapi.paths or {}).get(template)
        operation = getattr(item, method.lower(), None) if item is not None else None
        if operation is not None:
            operation.security = []
