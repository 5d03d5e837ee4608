"""Errors mapped to status codes once, as JSON ``{"error", "field"}``; never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from eventsourcing.persistence import InterfaceError as EventStoreInterfaceError
from eventsourcing.persistence import OperationalError as EventStoreOperationalError
from litestar import Request, Response
from litestar.exceptions import ClientException, HTTPException, ValidationException
from litestar.openapi import ResponseSpec
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_401_UNAUTHORIZED,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from sqlalchemy.exc import OperationalError as SqlOperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from src.application.dry_run import RuleNotFoundError
from src.application.errors import (
    NudgeNotFoundError,
    RequestInvalidError,
    SchemaMissingError,
    StoreStartingError,
    StoreUnavailableError,
    UserBusyError,
    UserNotFoundError,
)
from src.application.processing.describe import describe
from src.domain.errors import EventRejectedError, FlywheelError
from src.entrypoints.http.schemas import MAX_BODY_BYTES, ErrorOut

logger = logging.getLogger(__name__)

STORE_UNREACHABLE = "the store is unreachable; retry later"
"""All a client is told of a store it cannot use: the details go to the server log."""
NOT_MIGRATED = "not migrated: run `phoenix-flywheel migrate`"
"""All a client is told of a store that answers without the flywheel's tables."""
STORE_STARTING = "the store is being opened (the service just started); retry in a moment"

STORE_LOST: tuple[type[Exception], ...] = (
    SqlOperationalError,
    PoolTimeoutError,
    EventStoreOperationalError,
    EventStoreInterfaceError,
)
"""Errors of a store that went away after start-up: a 503 the client may retry."""


def public_reason(error: Exception) -> str:
    """What anyone may be told of a failure: a 503's words, or the kind of error.

    A driver's message names the database's host, port, user and name (a login failure,
    a refused connection), and a store's refusal may quote a row: the full text goes to
    the server log, never into an answer, ``/health`` (public) included.
    """
    if isinstance(error, SchemaMissingError):
        return NOT_MIGRATED
    if isinstance(error, StoreStartingError):
        return STORE_STARTING
    if isinstance(error, (StoreUnavailableError, *STORE_LOST)):
        return STORE_UNREACHABLE
    return f"{type(error).__name__}; the reason is in the server log"


def _error(
    status: int,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    # An error may repeat what the client sent (a user id) and is true for a moment only;
    # a 404 would otherwise be cacheable by default.
    return Response(
        {"error": message, "field": field},
        status_code=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def on_flywheel_error(_: Request[Any, Any, Any], error: Exception) -> Response[dict[str, Any]]:
    if isinstance(error, EventRejectedError | RequestInvalidError):
        return _error(HTTP_400_BAD_REQUEST, str(error), error.field)
    if isinstance(error, UserNotFoundError | NudgeNotFoundError | RuleNotFoundError):
        return _error(HTTP_404_NOT_FOUND, str(error))
    if isinstance(error, UserBusyError):
        return _error(HTTP_409_CONFLICT, str(error), "user_id")
    if isinstance(error, StoreUnavailableError | SchemaMissingError):
        # The reason names the database's user, host, port and name: the log has it,
        # a client (perhaps without the token) learns only what state the store is in.
        logger.warning("store unavailable", extra={"error": str(error)})
        return _error(HTTP_503_SERVICE_UNAVAILABLE, public_reason(error))
    return _error(HTTP_400_BAD_REQUEST, str(error))


def on_validation_error(_: Request[Any, Any, Any], error: Exception) -> Response[dict[str, Any]]:
    """Litestar's validation detail, reduced to the first problem and the field it names."""
    extra = getattr(error, "extra", None)
    problems = extra if isinstance(extra, list) else []
    if problems and isinstance(problems[0], dict):
        first = problems[0]
        field = str(first.get("key") or "") or None
        message = str(first.get("message") or "invalid value")
        text = f"{field}: {message}" if field else message
        return _error(HTTP_400_BAD_REQUEST, text, field)
    detail = str(getattr(error, "detail", "") or "invalid request")
    if isinstance(error.__cause__, KeyError) and error.__cause__.args:
        # A missing required parameter: Litestar raises from the KeyError of its name.
        return _error(HTTP_400_BAD_REQUEST, detail, str(error.__cause__.args[0]))
    return _error(HTTP_400_BAD_REQUEST, detail)


def on_http_error(_: Request[Any, Any, Any], error: Exception) -> Response[dict[str, Any]]:
    status = getattr(error, "status_code", HTTP_500_INTERNAL_SERVER_ERROR)
    detail = str(getattr(error, "detail", "") or "error")
    if type(error) is ClientException and status == HTTP_400_BAD_REQUEST:
        # Litestar raises a bare ClientException when the body cannot be decoded.
        return _error(status, f"the body is not valid JSON ({detail})", "body")
    if status == HTTP_413_REQUEST_ENTITY_TOO_LARGE:
        return _error(
            status,
            f"the body is larger than the limit of {MAX_BODY_BYTES} bytes "
            f"({MAX_BODY_BYTES // (1024 * 1024)} MiB); send fewer events per request",
            "body",
        )
    # Keeps what the exception asks for, e.g. ``WWW-Authenticate`` on a 401.
    return _error(status, detail, headers=getattr(error, "headers", None) or None)


def on_store_lost(request: Request[Any, Any, Any], error: Exception) -> Response[dict[str, Any]]:
    """The store went away after start-up: a 503 the client may retry, not a 500.

    The driver's message goes to the log only: it names hosts and ports.
    """
    logger.warning(
        "store unreachable during a request",
        extra={"method": request.method, "path": request.url.path, "error": describe(error)},
    )
    return _error(HTTP_503_SERVICE_UNAVAILABLE, STORE_UNREACHABLE)


def on_unexpected_error(
    request: Request[Any, Any, Any], error: Exception
) -> Response[dict[str, Any]]:
    logger.exception("unexpected error", extra={"method": request.method, "path": request.url.path})
    return _error(HTTP_500_INTERNAL_SERVER_ERROR, "internal error; see the server log")


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    FlywheelError: on_flywheel_error,
    ValidationException: on_validation_error,
    HTTPException: on_http_error,
    **dict.fromkeys(STORE_LOST, on_store_lost),
    Exception: on_unexpected_error,
}


_ERROR_MEANINGS = {
    HTTP_400_BAD_REQUEST: "bad input; `field` names it",
    HTTP_401_UNAUTHORIZED: "no valid `Authorization: Bearer <token>` (a token is set)",
    HTTP_404_NOT_FOUND: "unknown user, nudge or nudge type",
    HTTP_409_CONFLICT: "a worker is processing events of this user; retry in a moment",
    HTTP_413_REQUEST_ENTITY_TOO_LARGE: f"body larger than {MAX_BODY_BYTES} bytes",
    HTTP_503_SERVICE_UNAVAILABLE: "the store is unreachable, not migrated, or still being "
    "opened just after start-up; `error` says which",
}


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """The error answers a handler may give, for its OpenAPI description."""
    return {
        status: ResponseSpec(ErrorOut, description=_ERROR_MEANINGS[status], generate_examples=False)
        for status in statuses
    }
