"""Errors mapped to status codes once, as JSON ``{"error", "field"}``; never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import ClientException, HTTPException, ValidationException
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_404_NOT_FOUND,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from src.application.errors import (
    NudgeNotFoundError,
    RequestInvalidError,
    SchemaMissingError,
    StoreUnavailableError,
    UserNotFoundError,
)
from src.domain.errors import EventRejectedError, FlywheelError

logger = logging.getLogger(__name__)


def _error(status: int, message: str, field: str | None = None) -> Response[dict[str, Any]]:
    return Response({"error": message, "field": field}, status_code=status)


def on_flywheel_error(_: Request[Any, Any, Any], error: Exception) -> Response[dict[str, Any]]:
    if isinstance(error, EventRejectedError | RequestInvalidError):
        return _error(HTTP_400_BAD_REQUEST, str(error), error.field)
    if isinstance(error, UserNotFoundError | NudgeNotFoundError):
        return _error(HTTP_404_NOT_FOUND, str(error))
    if isinstance(error, StoreUnavailableError | SchemaMissingError):
        return _error(HTTP_503_SERVICE_UNAVAILABLE, str(error))
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
    detail = getattr(error, "detail", "") or "invalid request"
    return _error(HTTP_400_BAD_REQUEST, str(detail))


def on_http_error(_: Request[Any, Any, Any], error: Exception) -> Response[dict[str, Any]]:
    status = getattr(error, "status_code", HTTP_500_INTERNAL_SERVER_ERROR)
    detail = str(getattr(error, "detail", "") or "error")
    if type(error) is ClientException and status == HTTP_400_BAD_REQUEST:
        # Litestar raises a bare ClientException when the body cannot be decoded.
        return _error(status, f"the body is not valid JSON ({detail})", "body")
    return _error(status, detail)


def on_unexpected_error(
    request: Request[Any, Any, Any], error: Exception
) -> Response[dict[str, Any]]:
    logger.exception("unexpected error", extra={"method": request.method, "path": request.url.path})
    return _error(HTTP_500_INTERNAL_SERVER_ERROR, "internal error; see the server log")


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    FlywheelError: on_flywheel_error,
    ValidationException: on_validation_error,
    HTTPException: on_http_error,
    Exception: on_unexpected_error,
}
