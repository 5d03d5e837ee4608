"""``GET /health``: what a load balancer or ``docker compose`` health check polls."""

from __future__ import annotations

from types import MappingProxyType

from litestar import Controller, Response, get
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
        description="Is the store answering, is the worker running? 503 while the store "
        "is unreachable; back to 200 by itself when it returns.",
    )
    def health(self, runtime: NamedDependency[ServerRuntime]) -> Response[HealthOut]:
        # Pings the store on every call rather than trusting the open state: a store
        # that went away after start-up must show as degraded too.
        # The problem itself (it names the database's host, port, user) goes to the log:
        # ``/health`` answers anyone, token or not.
        problem = runtime.database_problem()
        body = HealthOut(
            status="ok" if problem is None else "degraded",
            database="ok" if problem is None else "unreachable",
            worker="running" if runtime.worker_running else "stopped",
            version=VERSION,
        )
        status = HTTP_200_OK if problem is None else HTTP_503_SERVICE_UNAVAILABLE
        return Response(body, status_code=status)
