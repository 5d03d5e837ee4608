"""``/api/analytics``: ecosystem figures over a period (events, users, apps, nudge funnel)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from src.application.queries import FlywheelQueries
from src.entrypoints.http.errors import error_responses
from src.entrypoints.http.schemas import EcosystemOut, NudgeFigures


class AnalyticsController(Controller):
    path = "/api/analytics"
    tags = ("analytics",)

    @get(
        "/ecosystem",
        sync_to_thread=True,
        description="Figures over the last `days` days.",
        responses=error_responses(400, 401, 503),
    )
    def ecosystem(
        self,
        queries: NamedDependency[FlywheelQueries],
        days: Annotated[int, QueryParameter(description="the period, 1 to 3650 days")] = 30,
    ) -> EcosystemOut:
        figures = queries.get_ecosystem(days)
        return EcosystemOut(
            period_days=figures.period_days,
            total_events=figures.total_events,
            unique_users=figures.unique_users,
            cross_app_users=figures.cross_app_users,
            events_by_app=dict(figures.events_by_app),
            events_by_type=dict(figures.events_by_type),
            nudges=NudgeFigures(
                detected=figures.nudges_detected,
                shown=figures.nudges_shown,
                converted=figures.nudges_converted,
                organic=figures.nudges_organic,
            ),
            app_combinations=dict(figures.app_combinations),
        )
