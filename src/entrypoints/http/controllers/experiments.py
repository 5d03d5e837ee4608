"""``/api/experiments``: how each nudge message converts, for a product owner."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from src.application.services import FlywheelQueries
from src.entrypoints.http.errors import error_responses
from src.entrypoints.http.schemas import ExperimentOut


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
