"""``GET /v1/availability``: free slots of a user, or of a team of up to 20 users."""

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

    @get(opt=needs("availability.read"), summary="Free slots of a user or a team")
    async def get_availability(
        self,
        request: ApiRequest,
        db: Database,
        start: Annotated[str, Parameter(description="RFC 3339 instant, or local time read in `timezone`")],
        end: Annotated[str, Parameter(description="At most 62 days after `start`")],
        duration_minutes: Minutes,
        user_id: Annotated[
            str | None, Parameter(description="The user asked about; required unless `user_ids` is sent")
        ] = None,
        user_ids: Annotated[
            str | None,
            Parameter(description="Up to 20 user ids, comma-separated, instead of `user_id`: team availability"),
        ] = None,
        required: Annotated[
            str | None,
            Parameter(
                description="How many of the users must be free for a slot: `all` (default) or 1 to their number"
            ),
        ] = None,
        interval_minutes: Minutes | None = None,
        timezone: Annotated[str | None, Parameter(description="IANA zone for local renderings")] = None,
    ) -> Availability:
        return await db.run(
            availability,
            db,
            request.user,
            user_id=user_id,
            user_ids=user_ids,
            required=required,
            start=start,
            end=end,
            duration_minutes=duration_minutes,
            interval_minutes=interval_minutes,
            timezone=timezone,
        )
