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


class EventRefusedError(RequestInvalidError):
    """The store's own check refused an event for good (its catalogue, on PostgreSQL):
    ``field`` and ``message`` as the flywheel's check words them, ``event_hash`` the
    event's, so that a batch's error can name the event's index."""

    def __init__(self, field: str, message: str, event_hash: str | None) -> None:
        super().__init__(field, message)
        self.event_hash = event_hash


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


class LeaseLostError(FlywheelError):
    """A batch's commit found events its holder no longer holds: the whole commit is off.

    Its lease ran out (a stalled or cut-off worker) and the events were taken over by
    another batch, finished, or erased with their user meanwhile. Nothing of the commit
    was written; the events are someone else's now, so this batch neither retries nor
    gives anything back.
    """

    def __init__(self, holder: str, events: int) -> None:
        super().__init__(f"batch {holder} no longer holds all the {events} events it marks")
        self.holder = holder
        self.events = events
        """How many events the refused commit was to mark."""
