"""A tenant of a test: one organization of its own, with an owner key and an HTTP client.

Tests stay independent without truncating tables because each one works inside its own
organization, and Hub never lets one organization see another's objects.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from hub.auth.service import bootstrap_key
from hub.db import Database


class Tenant:
    """One organization with an owner key, and an HTTP client speaking to a live server."""

    def __init__(self, base_url: str, db: Database) -> None:
        self.db = db
        self.base_url = base_url
        self.organization_id, self.key = bootstrap_key(db, f"org-{uuid.uuid4().hex[:12]}", role="owner")
        self.client = httpx.Client(base_url=base_url, headers=self.auth(self.key), timeout=30)

    def close(self) -> None:
        self.client.close()

    @staticmethod
    def auth(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def key_client(self, key: str) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers=self.auth(key), timeout=30)

    def create_key(self, role: str = "app", scopes: list[str] | None = None) -> str:
        body: dict[str, Any] = {"name": f"{role} key", "role": role}
        if scopes is not None:
            body["scopes"] = scopes
        response = self.client.post("/v1/api-keys", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["key"])

    def create_user(self, **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": "Ada Host",
            "email": "ada@example.com",
            "timezone": "Europe/Berlin",
            "working_hours": [
                {"weekday": day, "start": "09:00", "end": "17:00"} for day in ("mon", "tue", "wed", "thu", "fri")
            ],
        }
        body.update(overrides)
        response = self.client.post("/v1/users", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())
