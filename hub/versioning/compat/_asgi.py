"""ASGI plumbing for translating bodies: read a request body whole, hand it on (changed or
not), and hold a response back until its body is complete."""

from __future__ import annotations

from collections import deque
from typing import Any

import msgspec
from litestar.types import Receive, ReceiveMessage, Scope

from hub.jsonbody import too_deep

JSON_MEDIA_TYPES = ("application/json",)


def is_json(content_type: str | None) -> bool:
    """``application/json`` or any ``+json`` type (``application/problem+json``)."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    return media_type in JSON_MEDIA_TYPES or media_type.endswith("+json")


async def read_body(receive: Receive, limit: int) -> tuple[list[ReceiveMessage], bytes | None]:
    """Receive the request body. Returns the messages received and the whole body, or None as
    the body when it is larger than ``limit`` or the client went away (the caller then replays
    the messages untouched and lets the framework answer)."""
    messages: list[ReceiveMessage] = []
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return messages, None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return messages, b"".join(chunks)


def replaying(messages: list[ReceiveMessage], receive: Receive) -> Receive:
    """A ``receive`` that first returns ``messages``, then reads from ``receive``."""
    queue = deque(messages)

    async def replay() -> Any:
        return queue.popleft() if queue else await receive()

    return replay


def body_message(body: bytes) -> ReceiveMessage:
    return {"type": "http.request", "body": body, "more_body": False}


def with_content_length(scope: Scope, length: int) -> None:
    """Make the request headers describe a replaced body of ``length`` bytes."""
    kept = [(k, v) for k, v in scope["headers"] if k.lower() not in (b"content-length", b"transfer-encoding")]
    scope["headers"] = [*kept, (b"content-length", str(length).encode())]


def decode(body: bytes) -> tuple[bool, Any]:
    """``(True, value)`` for JSON, ``(False, None)`` for anything else (including a body nested
    too deep, which the app then refuses as malformed)."""
    if too_deep(body):
        return False, None
    try:
        return True, msgspec.json.decode(body)
    except msgspec.DecodeError:
        return False, None
