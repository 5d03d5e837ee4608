"""The monitoring routes, bound to one app's runtime, token and metrics registry."""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import anyio.to_thread
from litestar import Litestar, Response, get
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import QueryParameter
from litestar.static_files import create_static_files_router
from litestar.types import ASGIApp, ControllerRouterHandler
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from src.application.processing.describe import describe
from src.entrypoints.http.errors import error_responses
from src.entrypoints.http.monitoring.metrics import new_registry
from src.entrypoints.http.monitoring.schemas import DashboardOut, dashboard_out
from src.entrypoints.http.schemas import PERSONAL_DATA
from src.entrypoints.http.server_runtime import ServerRuntime

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PATH = "/static"
# The queue is sampled this often in the background, so its chart has no holes while
# nobody looks; every dashboard refresh and every scrape adds a sample too.
SAMPLE_SECONDS = 15.0
# Nothing but this server: a page that tried to reach another host would fail here
# rather than leak what it shows, and the browser test would see the violation.
DASHBOARD_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'"
)


class Monitoring:
    """``/dashboard``, ``/api/dashboard``, ``/metrics`` and ``/static`` for one app.

    The page and its assets are public (they hold no data); the data and the metrics
    need ``Authorization: Bearer <token>`` for every method when ``FLYWHEEL_API_TOKEN``
    is set, since they show figures a GET of the rest of the API may not.
    """

    def __init__(self, runtime: ServerRuntime, token: str | None) -> None:
        self._runtime = runtime
        self._token = token
        self.registry, self._http = new_registry(runtime)
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, name="queue-sampler", daemon=True)

    def middleware(self, app: ASGIApp) -> ASGIApp:
        return self._http.middleware(app)

    @asynccontextmanager
    async def lifespan(self, _: Litestar) -> AsyncIterator[None]:
        self._sampler.start()
        try:
            yield
        finally:
            self._stop.set()
            await anyio.to_thread.run_sync(self._sampler.join, 5.0)

    def route_handlers(self) -> list[ControllerRouterHandler]:
        page = (Path(__file__).parent / "dashboard.html").read_text(encoding="utf-8")
        page = page.replace("{{TOKEN_REQUIRED}}", "true" if self._token else "false")
        runtime = self._runtime
        registry = self.registry

        # ``public``: the app-wide token guard lets these through (they hold no data);
        # the page then sends the token with each of its own requests.
        @get("/dashboard", include_in_schema=False, sync_to_thread=False, opt={"public": True})
        def dashboard() -> Response[str]:
            return Response(
                page,
                media_type="text/html",
                headers={"Content-Security-Policy": DASHBOARD_CSP, "Cache-Control": "no-store"},
            )

        @get(
            "/api/dashboard",
            sync_to_thread=True,
            tags=["monitoring"],
            guards=[self._require_token],
            cache_control=PERSONAL_DATA,  # its last errors may name users
            responses=error_responses(400, 401, 503),
            description="Everything the dashboard shows, in one answer: the queue now and "
            "over the last hour, every worker's throughput, events and users over `days`, "
            "the nudge funnel per type, the last errors. Needs the token for GET too.",
        )
        def dashboard_data(
            days: Annotated[int, QueryParameter(description="the period, 1 to 3650 days")] = 7,
        ) -> DashboardOut:
            return dashboard_out(runtime.open_container().monitor().get_dashboard(days))

        @get(
            "/metrics",
            sync_to_thread=True,
            tags=["monitoring"],
            guards=[self._require_token],
            media_type=CONTENT_TYPE_LATEST,
            responses=error_responses(401),
            description="Prometheus text format: queue depth (read at scrape), events "
            "processed, batch durations, worker liveness, HTTP requests.",
        )
        def metrics() -> Response[bytes]:
            return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

        static = create_static_files_router(
            path=STATIC_PATH,
            directories=[STATIC_DIR],
            name="monitoring-static",
            opt={"public": True},
        )
        return [dashboard, dashboard_data, metrics, static]

    async def _require_token(
        self, connection: ASGIConnection[Any, Any, Any, Any], _handler: BaseRouteHandler
    ) -> None:
        """A coroutine, so Litestar runs it on the event loop, not in a worker thread."""
        if self._token is None:
            return
        scheme, _sep, given = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.encode(), self._token.encode()
        ):
            raise NotAuthorizedException(
                "a valid 'Authorization: Bearer <token>' is required",
                headers={"WWW-Authenticate": "Bearer"},
            )

    def _sample(self) -> None:
        while True:
            try:
                self._runtime.require_open().monitor().sample_queue()
            except Exception as error:  # noqa: BLE001 - the store may be away; try again later
                logger.debug("queue sample skipped", extra={"error": describe(error)})
            if self._stop.wait(SAMPLE_SECONDS):
                return
