"""``/api/users/{user_id}``: a user's journey, the nudges an app should show them, their
insights, erasure."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from litestar import Controller, delete, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.status_codes import HTTP_200_OK

from src.application.erasure import UserErasure
from src.application.queries import FlywheelQueries
from src.entrypoints.http.errors import error_responses
from src.entrypoints.http.schemas import (
    PERSONAL_DATA,
    ForgetOut,
    InsightOut,
    JourneyEventOut,
    JourneyInsightOut,
    JourneyNudgeOut,
    JourneyOut,
    NudgeOut,
    RemovedOut,
)


class UsersController(Controller):
    path = "/api/users/{user_id:str}"
    tags = ("users",)
    # Personal data: no browser, proxy or CDN may keep a copy.
    cache_control = PERSONAL_DATA

    @get(
        "/journey",
        sync_to_thread=True,
        responses=error_responses(401, 404, 503),
        description="What the user did, in which apps, and their nudges; 404 for a user "
        "with no processed event.",
    )
    def journey(
        self, user_id: FromPath[str], queries: NamedDependency[FlywheelQueries]
    ) -> JourneyOut:
        journey = queries.get_journey(user_id)
        return JourneyOut(
            user_id=journey.user_id,
            apps=list(journey.apps),
            events=[
                JourneyEventOut(
                    event_type=e.event_type, app_source=e.app_source, timestamp=e.timestamp
                )
                for e in journey.events
            ],
            nudges=[
                JourneyNudgeOut(
                    nudge_id=n.nudge_id,
                    nudge_type=n.nudge_type,
                    target_app=n.target_app,
                    status="converted" if n.status == "converted" else "active",
                    detected_at=n.detected_at,
                    converted_at=n.converted_at,
                )
                for n in journey.nudges
            ],
            insights=[
                JourneyInsightOut(
                    insight_id=i.insight_id,
                    kind=i.kind,
                    data=dict(i.data),
                    messages=dict(i.messages),
                    created_at=i.created_at,
                )
                for i in journey.insights
            ],
        )

    @get(
        "/nudges",
        sync_to_thread=True,
        responses=error_responses(400, 401, 503),
        description="The nudges to show now in `app`: the worker's active ones, then (before "
        "the worker has caught up) the degraded mode's offers; none shown within "
        "`NUDGE_COOLDOWN_HOURS`, at most `NUDGE_MAX_PER_DAY` a day; worded in `lang`. The "
        "store's own rules: what the bridge's SQL and Supabase transports get too.",
    )
    def nudges(
        self,
        user_id: FromPath[str],
        queries: NamedDependency[FlywheelQueries],
        app: Annotated[str, QueryParameter(description="where it is shown: phoenix-letters")],
        lang: Annotated[str, QueryParameter(description="fr (default) or en")] = "fr",
    ) -> list[NudgeOut]:
        return [NudgeOut(**asdict(n)) for n in queries.list_active_nudges(user_id, app, lang)]

    @get(
        "/insights",
        sync_to_thread=True,
        responses=error_responses(400, 401, 503),
        description="What the analysers learnt from the user's events (e.g. `skills_gap`: "
        "the skills an offer asks for that the latest CV lacks), newest first, worded in "
        "`lang` (French when a message has none). The store's own rule: what the bridge's "
        "SQL and Supabase transports get too.",
    )
    def insights(
        self,
        user_id: FromPath[str],
        queries: NamedDependency[FlywheelQueries],
        lang: Annotated[str, QueryParameter(description="fr (default) or en")] = "fr",
    ) -> list[InsightOut]:
        return [InsightOut(**asdict(i)) for i in queries.list_insights(user_id, lang)]

    @delete(
        status_code=HTTP_200_OK,
        sync_to_thread=True,
        responses=error_responses(400, 401, 409, 503),
        description="Forget the user (the right to erasure): their events, journey "
        "history and snapshots, read models, nudges and displays. Idempotent: an unknown "
        "or already forgotten user gives 200 with zeros, never 404. 409 while a worker "
        "still holds a batch of theirs after a few seconds' wait.",
    )
    def forget(self, user_id: FromPath[str], erasure: NamedDependency[UserErasure]) -> ForgetOut:
        report = erasure.forget(user_id)
        return ForgetOut(
            user_id=user_id,
            removed=RemovedOut(
                events=report.events,
                journey_events=report.journey_events,
                journey_snapshots=report.journey_snapshots,
                journey_entries=report.journey_entries,
                nudges=report.nudges,
                nudges_sent=report.nudges_sent,
                applied_events=report.applied_events,
                nudge_offers=report.nudge_offers,
                skills_extractions=report.skills_extractions,
                insights=report.insights,
                skill_profiles=report.skill_profiles,
            ),
        )
