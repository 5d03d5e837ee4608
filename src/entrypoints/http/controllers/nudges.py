"""``/api/nudges/{nudge_id}``: an app reports that it displayed a nudge."""

from __future__ import annotations

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.status_codes import HTTP_200_OK

from src.application.queries import FlywheelQueries
from src.entrypoints.http.errors import error_responses
from src.entrypoints.http.schemas import PERSONAL_DATA, ShownOut


class NudgesController(Controller):
    path = "/api/nudges/{nudge_id:str}"
    tags = ("nudges",)
    # Personal data: no browser, proxy or CDN may keep a copy.
    cache_control = PERSONAL_DATA

    @post(
        "/shown",
        status_code=HTTP_200_OK,
        sync_to_thread=True,
        responses=error_responses(401, 404, 503),
        description="Record a display (`phoenix_nudges_sent`): the nudge is then hidden "
        "for `NUDGE_COOLDOWN_HOURS`; 404 for an unknown nudge id.",
    )
    def shown(self, nudge_id: FromPath[str], queries: NamedDependency[FlywheelQueries]) -> ShownOut:
        return ShownOut(nudge_id=nudge_id, shown_at=queries.record_nudge_shown(nudge_id))
