"""What every transport does, and the failures the bridge tells apart.

A transport either acknowledges a batch (every row is now in the store, or was already:
a twin refused by the unique ``event_hash`` counts as delivered) or raises one of the
errors below. Only that constraint means "twin": any other conflict (a primary key, say)
is an error, never counted as delivered. The bridge keeps unacknowledged rows in its
outbox, so a transport never has to retry by itself. Only ``TransportRejectedError`` is
permanent: everything else (the store down, a timeout, a wrong key, a missing table) is
worth retrying later.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

PERMISSION_HINT = (
    "the key lacks the right to insert events: use the anon or service key of this project"
)
SCHEMA_HINT = (
    "run `phoenix-flywheel migrate` or paste "
    "infrastructure/database/supabase_phoenix_events_clean.sql"
)

NUDGE_FIELDS = ("nudge_id", "nudge_type", "target_app", "message", "variant")
INSIGHT_FIELDS = ("insight_id", "kind", "data", "message", "created_at")
"""A nudge to show, as every transport hands it over (the HTTP API's shape)."""
# The unique constraint on phoenix_events.event_hash (PostgreSQL's default name for the
# column's UNIQUE): its violation, and no other, says the event is in the store already.
EVENT_HASH_CONSTRAINT = "phoenix_events_event_hash_key"

Row = dict[str, Any]
Nudge = dict[str, Any]
Insight = dict[str, Any]


class EmitOutcome(str):
    """What became of one emit, equal to its name (``outcome == "queued"``).

    A plain string subclass rather than an enum, so that ``rejected`` and ``dropped`` can
    carry their reason (``outcome.reason``) while still comparing equal to the constants.
    Falsy when the event will not reach the store: ``rejected`` (refused for good) or
    ``dropped`` (the store was unreachable and the outbox could not keep it).
    """

    DELIVERED: ClassVar[EmitOutcome]
    DUPLICATE: ClassVar[EmitOutcome]
    QUEUED: ClassVar[EmitOutcome]
    REJECTED: ClassVar[EmitOutcome]
    DROPPED: ClassVar[EmitOutcome]
    NAMES: ClassVar[tuple[str, ...]] = ("delivered", "duplicate", "queued", "rejected", "dropped")

    reason: str

    def __new__(cls, value: str, reason: str = "") -> EmitOutcome:
        if value not in cls.NAMES:
            raise ValueError(f"unknown outcome {value!r}: one of {', '.join(cls.NAMES)}")
        outcome = super().__new__(cls, value)
        outcome.reason = reason
        return outcome

    @classmethod
    def rejected(cls, reason: str) -> EmitOutcome:
        return cls("rejected", reason)

    @classmethod
    def dropped(cls, reason: str) -> EmitOutcome:
        return cls("dropped", reason)

    @property
    def value(self) -> str:
        return str.__str__(self)

    def __bool__(self) -> bool:
        return self.value not in ("rejected", "dropped")

    def __repr__(self) -> str:
        detail = f": {self.reason}" if self.reason else ""
        return f"<EmitOutcome {self.value}{detail}>"


EmitOutcome.DELIVERED = EmitOutcome("delivered")
EmitOutcome.DUPLICATE = EmitOutcome("duplicate")
EmitOutcome.QUEUED = EmitOutcome("queued")
EmitOutcome.REJECTED = EmitOutcome("rejected")
EmitOutcome.DROPPED = EmitOutcome("dropped")


class TransportError(Exception):
    """A delivery or a read did not happen; the rows stay in the outbox."""


class TransportUnavailableError(TransportError):
    """The store did not answer (network, timeout, 5xx): try again later."""


class TransportPermissionError(TransportError):
    """The credentials themselves are refused (a wrong key or token): every row would be,
    so the rows wait in the outbox until the configuration is fixed."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"{PERMISSION_HINT} ({detail})")


class TransportSchemaMissingError(TransportError):
    """The table or view does not exist: the migration was not run."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"the Phoenix tables are missing: {SCHEMA_HINT} ({detail})")


class TransportRejectedError(TransportError):
    """The store refuses these rows for good: retrying the same rows cannot help.

    A validation error (4xx), a constraint or a value the store cannot hold, or a
    row-level refusal (RLS: a user emitting for someone else, SQLSTATE 42501). The bridge
    sets such a row aside instead of retrying it, so it never blocks the rows behind it.
    """


def refused_by_rights(detail: str) -> TransportRejectedError:
    """SQLSTATE 42501 on a row: a row-level policy (a user emitting for someone else) or
    a grant the role lacks. Permanent for this row; said in words that point at the cause."""
    if "row-level security" in detail.lower():
        return TransportRejectedError(f"refused by the store's row-level security ({detail})")
    return TransportRejectedError(f"{PERMISSION_HINT} ({detail})")


def nudge_dict(found: Mapping[str, Any]) -> Nudge:
    """A nudge as the store or the API answered it, in the one shape apps get."""
    return {name: found.get(name) for name in NUDGE_FIELDS}


def insight_dict(found: Mapping[str, Any]) -> Insight:
    """An insight as the store or the API answered it, in the one shape apps get:
    ``created_at`` an aware datetime whichever way it came (JSON text or a timestamp)."""
    insight = {name: found.get(name) for name in INSIGHT_FIELDS}
    created = insight["created_at"]
    if isinstance(created, str):
        created = datetime.fromisoformat(created)
    if isinstance(created, datetime):
        insight["created_at"] = created.astimezone(UTC)
    return insight


class BridgeTransport(Protocol):
    """One way to reach the store. Every call is bounded in time by the transport.

    ``access_token`` is a signed-in user's token (Supabase Auth), given per call because
    one bridge serves many users. The Supabase transport sends it as the user's
    ``Authorization`` beside the project's key; the SQL and HTTP transports hold
    credentials of their own and ignore it.
    """

    def deliver(self, rows: Sequence[Row], *, access_token: str | None = None) -> int:
        """Stores the rows (in order); returns how many were twins already there."""
        ...

    def active_nudges(
        self, user_id: str, app: str, lang: str, *, access_token: str | None = None
    ) -> list[Nudge]:
        """The nudges to show now in ``app``, worded in ``lang``, as the store's (or the
        API's) own rules decide them: the transport adds none of its own."""
        ...

    def mark_shown(self, nudge_id: str, app: str, *, access_token: str | None = None) -> bool:
        """Records a display; False when the store knows no such nudge."""
        ...

    def user_insights(
        self, user_id: str, lang: str, *, access_token: str | None = None
    ) -> list[Insight]:
        """The user's insights, newest first, worded in ``lang``, as the store's (or the
        API's) own function answers them."""
        ...

    def close(self) -> None: ...
