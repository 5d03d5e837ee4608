"""One controller per resource; a handler calls one application method and maps its result.

Handlers are synchronous and run in Litestar's thread pool (``sync_to_thread=True``):
every application call does blocking database work, which must never hold the event
loop that answers ``/health``.
"""

from src.entrypoints.http.controllers.analytics import AnalyticsController
from src.entrypoints.http.controllers.events import EventsController
from src.entrypoints.http.controllers.experiments import ExperimentsController
from src.entrypoints.http.controllers.health import HealthController
from src.entrypoints.http.controllers.nudges import NudgesController
from src.entrypoints.http.controllers.rules import RulesController
from src.entrypoints.http.controllers.users import UsersController

CONTROLLERS = (
    HealthController,
    EventsController,
    AnalyticsController,
    UsersController,
    NudgesController,
    ExperimentsController,
    RulesController,
)

__all__ = [
    "CONTROLLERS",
    "AnalyticsController",
    "EventsController",
    "ExperimentsController",
    "HealthController",
    "NudgesController",
    "RulesController",
    "UsersController",
]
