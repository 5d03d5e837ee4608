"""``create_app(settings)``: the Litestar application; nothing is built at import time."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Scope

from src.entrypoints.http.controllers import CONTROLLERS
from src.entrypoints.http.errors import EXCEPTION_HANDLERS
from src.entrypoints.http.monitoring import Monitoring
from src.entrypoints.http.openapi import DescribedModelsPlugin, openapi_config
from src.entrypoints.http.request_timing import timed
from src.entrypoints.http.schemas import MAX_BODY_BYTES
from src.entrypoints.http.server_runtime import ServerRuntime
from src.entrypoints.settings import Settings

access_log = logging.getLogger("phoenix.access")


def create_app(settings: Settings, *, run_worker: bool = True) -> Litestar:
    runtime = ServerRuntime(settings, run_worker=run_worker)
    token = settings.flywheel_api_token.get_secret_value() if settings.flywheel_api_token else None
    monitoring = Monitoring(runtime, token)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        runtime.start()  # returns at once: the store opens and the worker drains behind
        try:
            yield
        finally:
            # Off the event loop: stopping waits for the batch in hand to finish.
            await anyio.to_thread.run_sync(runtime.stop)

    openapi = openapi_config()
    docs_prefix = (openapi.path or "/schema").rstrip("/")

    async def require_token(
        connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
    ) -> None:
        """With a token set, every route needs ``Authorization: Bearer <token>``.

        A coroutine although it never waits: Litestar runs a plain function guard in a
        worker thread, a hop on every request that cost more than the check itself.

        Journeys and nudges are personal data, and the apps call the API from their
        servers, so reads are guarded like writes. Open: what a load balancer polls
        (handlers marked ``opt={"public": True}``: ``/health``) and the API's own
        description (``/schema``), which holds no data.
        """
        if token is None or handler.opt.get("public"):
            return
        if getattr(handler.owner, "path", None) == docs_prefix:
            return  # a handler of Litestar's OpenAPI router
        header = connection.headers.get("authorization", "")
        scheme, _sep, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
            raise NotAuthorizedException(
                "a valid 'Authorization: Bearer <token>' is required",
                headers={"WWW-Authenticate": "Bearer"},
            )

    def service(name: str) -> Provide:
        async def provide() -> Any:
            # A request that arrives while the store opens waits for it (a few seconds).
            return getattr(await runtime.open_container_async(), name)()

        return Provide(provide)

    return Litestar(
        route_handlers=[*CONTROLLERS, *monitoring.route_handlers()],
        dependencies={
            "runtime": Provide(lambda: runtime, sync_to_thread=False),
            "ingestion": service("ingestion"),
            "queries": service("queries"),
            "admin": service("admin"),
            "erasure": service("erasure"),
            "dry_run": service("dry_run"),
        },
        guards=[require_token],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[lifespan, monitoring.lifespan],
        middleware=[log_access, monitoring.middleware],
        request_max_body_size=MAX_BODY_BYTES,
        openapi_config=openapi,
        plugins=[DescribedModelsPlugin()],
        logging_config=None,
    )


def log_access(app: ASGIApp) -> ASGIApp:
    """One structured line per request: method, path, status, duration."""

    def log(scope: Scope, status: int, seconds: float) -> None:
        access_log.info(
            "request",
            extra={
                "method": scope.get("method"),
                "path": scope.get("path"),
                "status": status,
                "duration_ms": round(seconds * 1000, 1),
            },
        )

    return timed(app, log)
