"""The committed snapshot of the v1 OpenAPI document, and the script that refreshes it.

``python -m tests.api_contract.snapshot`` builds Hub on embedded defaults, prints what changed
against the committed ``openapi-v1.json`` (breaking first), and rewrites it. Run it on purpose:
after an additive change you meant to make, or a breaking one that went through the
deprecation policy in docs/migration-guide.md.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from hub.app import create_app
from hub.observability.logging import configure_logging
from hub.redis import release_embedded
from hub.settings import Settings
from tests.api_contract.openapi_diff import compare

SNAPSHOT = Path(__file__).with_name("openapi-v1.json")
REFRESH_COMMAND = "python -m tests.api_contract.snapshot"
# Routes in the document that are not part of the client contract: Google and Microsoft call the
# webhook intake in their own protocols, the user's browser comes back to the OAuth callback, and
# Prometheus scrapes /metrics in its exposition format. Their description follows those
# protocols; a change to it is listed ("outside") and needs the same deliberate refresh, but it is
# never a breaking change of the v1 contract. A /v1 route never belongs here.
OUTSIDE_CONTRACT = ("/webhooks/{provider}", "/oauth/{provider}/callback", "/metrics")


def normalised(document: dict[str, Any]) -> dict[str, Any]:
    """The document without what changes on every release (``info.version``)."""
    info = {k: v for k, v in document.get("info", {}).items() if k != "version"}
    return {**document, "info": info}


def load_snapshot() -> dict[str, Any]:
    return dict(json.loads(SNAPSHOT.read_text(encoding="utf-8")))


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def current_document() -> dict[str, Any]:
    """``/schema/openapi.json`` of an app built by ``create_app`` on embedded defaults."""

    configure_logging(json=False, level="warning")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="hub-openapi-") as data_dir:
        app = create_app(Settings(data_dir=Path(data_dir)))
        try:
            with TestClient(app) as client:
                response = client.get("/schema/openapi.json")
                response.raise_for_status()
                return dict(response.json())
        finally:
            release_embedded(Path(data_dir))  # stops the embedded Redis before its directory goes


def main() -> int:
    document = current_document()
    if SNAPSHOT.exists():
        report = compare(load_snapshot(), document, outside=OUTSIDE_CONTRACT)
        for line in report.breaking:
            print(f"BREAKING  {line}")
        for line in report.additive:
            print(f"added     {line}")
        for line in report.outside:
            print(f"outside   {line}")
        if normalised(load_snapshot()) == normalised(document):
            print("The v1 OpenAPI document is unchanged.")
            return 0
    SNAPSHOT.write_text(render(document), encoding="utf-8")
    print(f"Wrote {SNAPSHOT}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
