"""The versioning plugin: ``GET /versions``, the deprecation headers, the compatibility layer,
and deprecated operations marked in the OpenAPI document."""

from __future__ import annotations

from collections.abc import Mapping

import structlog
from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.middleware import DefineMiddleware
from litestar.plugins import InitPluginProtocol

from hub.versioning.compat import CompatMiddleware
from hub.versioning.controllers import list_versions
from hub.versioning.deprecation import DeprecationMiddleware
from hub.versioning.openapi import mark_deprecated, mark_public
from hub.versioning.registry import DEPRECATIONS, Deprecation


class VersioningPlugin(InitPluginProtocol):
    """Registers the routes and middleware of ``hub.versioning``. Its middleware runs after
    authentication, so a request is authenticated before its body is translated."""

    def __init__(self, deprecations: Mapping[tuple[str, str], Deprecation] = DEPRECATIONS) -> None:
        self.deprecations = deprecations

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.append(list_versions)
        if self.deprecations:  # with no deprecated route, the middleware would only pass every request on
            app_config.middleware.append(DefineMiddleware(DeprecationMiddleware, table=self.deprecations))
        app_config.middleware.append(DefineMiddleware(CompatMiddleware))
        app_config.on_startup.append(self._document)
        return app_config

    def _document(self, app: Litestar) -> None:
        mark_public(app.openapi_schema, {("GET", "/versions")})
        unmatched = mark_deprecated(app.openapi_schema, self.deprecations)
        if unmatched:
            structlog.get_logger("hub.versioning").warning("deprecations.unmatched", routes=unmatched)
