"""Reading JSON request bodies: the one place where Hub turns a request's bytes into JSON values.

Every route handler that takes a JSON ``data`` argument gets it through ``HubRequest.json()``
(the app's request class). Before anything decodes the body, it is checked for nesting: a body
with arrays and objects nested deeper than ``MAX_DEPTH`` levels is refused as malformed JSON
(``400 malformed_json``). No request Hub accepts comes near that depth, and a decoder walking
thousands of levels runs out of stack (Python's ``RecursionError``) instead of answering.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Request
from litestar.exceptions import SerializationException

__all__ = ["MAX_DEPTH", "HubRequest", "too_deep"]

MAX_DEPTH = 32
"""The deepest nesting of arrays and objects a request body may have (``{"a": [1]}`` is 2)."""

# A JSON string (escapes included), or an unterminated one up to the end: strings never nest,
# and brackets inside them do not count. Possessive, so a scan never backtracks.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def too_deep(body: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether ``body`` nests arrays and objects more than ``limit`` levels, without decoding it."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # the common case: too few brackets to be that deep
    depth = 0
    for byte in _STRING.sub(b"", body).translate(None, _NOT_BRACKETS):
        if byte in b"[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


class HubRequest(Request[Any, Any, Any]):
    """Litestar's request, refusing a JSON body nested too deep before it is decoded."""

    async def json(self) -> Any:
        if too_deep(await self.body()):
            # Litestar answers a SerializationException while reading ``data`` with a 400, which
            # hub.errors renders as ``malformed_json``.
            raise SerializationException(
                f"arrays and objects are nested deeper than {MAX_DEPTH} levels; Hub accepts at most {MAX_DEPTH}"
            )
        return await super().json()
