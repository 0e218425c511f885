"""Storage: the database handle, the tables and the migrations."""

from __future__ import annotations

from hub.db.engine import Database, driver_url
from hub.db.migrate import upgrade

__all__ = ["Database", "driver_url", "upgrade"]
