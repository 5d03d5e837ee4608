"""``GET /health``: what a load balancer or ``docker compose`` health check polls."""

from __future__ import annotations

from types import MappingProxyType

from litestar import Controller, Response, get, head
from litestar.di import NamedDependency
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from src.entrypoints.http.schemas import HealthOut
from src.entrypoints.http.server_runtime import ServerRuntime
from src.entrypoints.version import VERSION


class HealthController(Controller):
    path = "/health"
    tags = ("monitoring",)
    # Polled by load balancers and ``docker compose``, which hold no token; it tells
    # nothing about any user (and, since the store is named nowhere, nothing about it).
    opt = MappingProxyType({"public": True})

    @get(
        sync_to_thread=True,
        description="Is the store answering and migrated, is the worker running, and are its "
        "drains failing (since when, why)? 503 while the store is unreachable or not "
        "migrated; back to 200 by itself when it is ready. A failing worker alone gives "
        '200 with `"status": "degraded"`.',
    )
    def health(self, runtime: NamedDependency[ServerRuntime]) -> Response[HealthOut]:
        body = _health(runtime)
        return Response(body, status_code=_status_code(body))

    @head(
        sync_to_thread=True,
        description="The status code of `GET /health` without its body, for load balancers.",
    )
    def health_head(self, runtime: NamedDependency[ServerRuntime]) -> Response[None]:
        return Response(None, status_code=_status_code(_health(runtime)))


def _health(runtime: ServerRuntime) -> HealthOut:
    # Pings the store on every call rather than trusting the open state: a store that
    # went away after start-up must show as degraded too.
    problem = runtime.database_problem()
    worker = runtime.worker
    last_error = worker.last_error if worker is not None else None
    failing_for = worker.failing_for_seconds if worker is not None else None
    return HealthOut(
        status="ok" if problem is None and last_error is None else "degraded",
        database="ok" if problem is None else problem,
        worker="running" if runtime.worker_running else "stopped",
        version=VERSION,
        last_error=last_error,
        failing_since=worker.failing_since if worker is not None else None,
        failing_for_seconds=round(failing_for, 1) if failing_for is not None else None,
    )


def _status_code(body: HealthOut) -> int:
    return HTTP_200_OK if body.database == "ok" else HTTP_503_SERVICE_UNAVAILABLE
