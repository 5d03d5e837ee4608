"""Errors of the use cases, mapped once to exit codes and HTTP statuses by the entrypoints."""

from __future__ import annotations

from src.domain.errors import FlywheelError


class NudgeNotFoundError(FlywheelError):
    """No nudge has this id."""


class UserNotFoundError(FlywheelError):
    """No event of this user was processed yet."""


class RequestInvalidError(FlywheelError):
    """A request is malformed beyond a single event (an empty or oversized batch ...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class StoreUnavailableError(FlywheelError):
    """The event store cannot be reached; the message says where and why, without secrets."""


class StoreStartingError(StoreUnavailableError):
    """The service has just started and is still opening the store; it will be ready soon."""


class SchemaMissingError(FlywheelError):
    """The store is reachable but its tables were never created."""


class PersistenceModuleInvalidError(FlywheelError):
    """The journeys' store would not save a batch's unit of work with its journeys."""


class UserBusyError(FlywheelError):
    """A worker is processing events of this user right now; forgetting must wait."""
