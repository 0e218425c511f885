"""Fixtures of the unit tests that run services against the test database."""

from __future__ import annotations

import uuid

import pytest

from hub.auth.principal import Principal
from hub.auth.service import bootstrap_key
from hub.db import Database


@pytest.fixture
def principal(db: Database) -> Principal:
    """An owner of a fresh organization (a module may define its own ``principal`` instead)."""
    organization_id, _secret = bootstrap_key(db, f"org-{uuid.uuid4().hex[:12]}")
    return Principal(key_id="key_unit", organization_id=organization_id, role="owner", scopes=frozenset())
