"""The dashboard's pages and actions, one controller per area."""

from __future__ import annotations

from dashboard.controllers.connections import ConnectionsController
from dashboard.controllers.console import ConsoleController
from dashboard.controllers.jobs import JobsController
from dashboard.controllers.overview import OverviewController
from dashboard.controllers.public import PublicController
from dashboard.controllers.session import SessionController
from dashboard.controllers.sync_log import SyncLogController
from dashboard.controllers.webhooks import DeliveriesController, WebhooksController

CONTROLLERS = [
    SessionController,
    OverviewController,
    ConnectionsController,
    SyncLogController,
    JobsController,
    WebhooksController,
    DeliveriesController,
    ConsoleController,
    PublicController,
]

__all__ = ["CONTROLLERS"]
