"""``GET /health``: what a load balancer or ``docker compose`` health check polls."""

from __future__ import annotations

from types import MappingProxyType
from typing import Literal

from litestar import Controller, Response, get, head
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from src.entrypoints.http.errors import public_reason
from src.entrypoints.http.schemas import HealthOut
from src.entrypoints.http.server_runtime import STARTING, ServerRuntime
from src.entrypoints.version import VERSION


def health_responses() -> dict[int, ResponseSpec]:
    return {
        HTTP_503_SERVICE_UNAVAILABLE: ResponseSpec(
            HealthOut,
            description="the store is being opened (`starting`), unreachable, or not migrated: "
            "`database` says which",
            generate_examples=False,
        )
    }


class HealthController(Controller):
    path = "/health"
    tags = ("monitoring",)
    # Polled by load balancers and ``docker compose``, which hold no token; it tells
    # nothing about any user (and, since the store is named nowhere, nothing about it).
    opt = MappingProxyType({"public": True})

    @get(
        sync_to_thread=True,
        description="Is the store answering and migrated, is the worker running, and are its "
        "drains failing (since when, what kind of error)? 503 while the store is being opened "
        "just after start-up (`starting`), unreachable or not migrated; back to 200 by itself "
        'when it is ready. A failing worker alone gives 200 with `"status": "degraded"`.',
        responses=health_responses(),
    )
    def health(self, runtime: NamedDependency[ServerRuntime]) -> Response[HealthOut]:
        body = _health(runtime)
        return Response(body, status_code=_status_code(body))

    @head(
        sync_to_thread=True,
        description="The status code of `GET /health` without its body, for load balancers.",
        responses=health_responses(),
    )
    def health_head(self, runtime: NamedDependency[ServerRuntime]) -> Response[None]:
        return Response(None, status_code=_status_code(_health(runtime)))


def _health(runtime: ServerRuntime) -> HealthOut:
    # Pings the store on every call rather than trusting the open state: a store that
    # went away after start-up must show as degraded too.
    database = runtime.database_state()
    worker = runtime.worker
    failure = worker.last_failure if worker is not None else None
    failing_for = worker.failing_for_seconds if worker is not None else None
    status: Literal["ok", "starting", "degraded"] = "degraded"
    if database == "ok" and failure is None:
        status = "ok"
    elif database == STARTING:
        status = "starting"
    return HealthOut(
        status=status,
        database=database,
        worker=_worker_state(runtime),
        version=VERSION,
        # The full text names hosts, ports, users or rows: the log has it.
        last_error=public_reason(failure) if failure is not None else None,
        failing_since=worker.failing_since if worker is not None else None,
        failing_for_seconds=round(failing_for, 1) if failing_for is not None else None,
    )


def _worker_state(runtime: ServerRuntime) -> Literal["running", "stopped", "external"]:
    """``external`` for the API alone: its workers run elsewhere, and say so themselves
    (``worker-alive``, the scaling signal), so their absence here is no fault."""
    if runtime.worker_external:
        return "external"
    return "running" if runtime.worker_running else "stopped"


def _status_code(body: HealthOut) -> int:
    return HTTP_200_OK if body.database == "ok" else HTTP_503_SERVICE_UNAVAILABLE
