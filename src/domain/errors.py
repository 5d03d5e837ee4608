"""One error hierarchy, so callers can tell a user's mistake from a fault of the machine."""

from __future__ import annotations


class FlywheelError(Exception):
    """Base of every error the flywheel raises on purpose."""


class EventRejectedError(FlywheelError):
    """An event that can never be processed, whatever the number of retries.

    ``field`` names the offending input so that the command line and the HTTP API
    can tell the user what to fix.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class EventTypeUnknownError(EventRejectedError):
    """The event type is in no registered app's catalogue."""


class AppSourceUnknownError(EventRejectedError):
    """The app source is not a registered app, or does not publish this event type."""


class UserIdMissingError(EventRejectedError):
    """An event without a user cannot be folded into a journey."""


class PayloadInvalidError(EventRejectedError):
    """The payload is not a JSON object, or is larger than the store accepts."""


class TimestampInvalidError(EventRejectedError):
    """The timestamp is not a date and time."""


class IdempotencyKeyInvalidError(EventRejectedError):
    """The idempotency key is not a short string."""


class CatalogueConflictError(FlywheelError):
    """Two app modules claim the same app name, event type or nudge type."""
