"""``GET /v1/availability``: free slots of a host."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.params import Parameter

from hub.auth.scopes import needs
from hub.availability.service import Availability, availability
from hub.db import Database
from hub.web import ApiRequest

Minutes = Annotated[int, Parameter(ge=5, le=1440)]


class AvailabilityController(Controller):
    path = "/v1/availability"
    tags = ["Availability"]

    @get(sync_to_thread=True, opt=needs("availability.read"), summary="Free slots of a user")
    def get_availability(
        self,
        request: ApiRequest,
        db: Database,
        user_id: str,
        start: Annotated[str, Parameter(description="RFC 3339 instant, or local time read in `timezone`")],
        end: Annotated[str, Parameter(description="At most 62 days after `start`")],
        duration_minutes: Minutes,
        interval_minutes: Minutes | None = None,
        timezone: Annotated[str | None, Parameter(description="IANA zone for local renderings")] = None,
    ) -> Availability:
        return availability(
            db,
            request.user,
            user_id=user_id,
            start=start,
            end=end,
            duration_minutes=duration_minutes,
            interval_minutes=interval_minutes,
            timezone=timezone,
        )
