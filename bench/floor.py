"""The framework floor of ``bench/run.py``: a bare Litestar app with one msgspec route.

``GET /health`` answers the same small msgspec Struct as Hub's ``/health``, with nothing else
in the app (no middleware, guards, database or Redis). Served by the same ASGI server on the
same interpreter as Hub, its request rate is the most any Litestar handler can do on the
machine, and every Hub figure is reported as a share of it.
"""

from __future__ import annotations

import msgspec
from litestar import Litestar, get


class Health(msgspec.Struct):
    status: str


@get("/health")
async def health() -> Health:
    return Health(status="ok")


app = Litestar(route_handlers=[health], openapi_config=None)
