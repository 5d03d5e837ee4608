"""``/api/experiments``: how each nudge message converts, for a product owner."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from src.application.queries import FlywheelQueries
from src.entrypoints.http.errors import error_responses
from src.entrypoints.http.schemas import ExperimentOut, SlotsOut


class ExperimentsController(Controller):
    path = "/api/experiments"
    tags = ("experiments",)

    @get(
        sync_to_thread=True,
        responses=error_responses(400, 401, 503),
        description="Per nudge type: its mode and, per variant, nudges assigned, exposed "
        "(first displays) and converted (acted on after exposure within "
        "`NUDGE_ATTRIBUTION_DAYS`), the rate with its 95 % Wilson interval, the "
        "probability of being best and a p-value against the first variant.",
    )
    def list_experiments(
        self,
        queries: NamedDependency[FlywheelQueries],
        lang: Annotated[str, QueryParameter(description="fr (default) or en")] = "fr",
    ) -> list[ExperimentOut]:
        return [ExperimentOut.model_validate(asdict(r)) for r in queries.list_experiments(lang)]

    @get(
        "/nudge-choice",
        sync_to_thread=True,
        responses=error_responses(401, 503),
        description="Per nudge type, every type of the rules included: nudges detected, "
        "slots won under `NUDGE_MAX_PER_DAY` (exposures) and their share, attributed "
        "conversions with the rate's 95 % Wilson interval, and the probability of "
        "converting best, which steers the choice among competing nudges.",
    )
    def list_nudge_choice(self, queries: NamedDependency[FlywheelQueries]) -> list[SlotsOut]:
        return [SlotsOut.model_validate(asdict(r)) for r in queries.list_nudge_choice()]
