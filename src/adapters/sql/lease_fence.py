"""The fencing token of a batch's commit: its holder must still hold every event it marks.

A batch's events are claimed under a name (``locked_by``), and its commit (the journeys'
recorder's transaction, or the inbox's ``complete``) marks them. A worker stalled past
its lease may wake up after another batch took its events over, finished them, or after
their user was erased: whatever it commits then brings back what is gone. So the commit
first locks the events it is about to mark and checks, in its own transaction and before
it writes anything, that they all still carry its holder's name; if one does not (or is
gone), ``LeaseLostError`` rolls the whole transaction back.

A claim writes the name, and a finished row keeps the name of the batch that finished it
(``batch_writes.outcome_writes``): the check lets a batch mark again what it finished
itself (a save redone in parts after part of it went through), never what another batch
has claimed since.

PostgreSQL does the check on the server (``phoenix_private.phoenix_hold_batch``, raising
``LEASE_LOST_SQLSTATE``), so that the recorder's pipelined transaction stays one round
trip; SQLite holds its single write lock from that first statement on, so the count comes
back to the cursor.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from src.adapters.sql.tables import events
from src.application.errors import LeaseLostError
from src.application.ports.inbox import BatchOutcome

FENCE_FUNCTION = "phoenix_private.phoenix_hold_batch(bigint[], text)"
"""The check on PostgreSQL, created by the schema file (``migrate``)."""
LEASE_LOST_SQLSTATE = "PF001"
"""What ``FENCE_FUNCTION`` raises when the batch lost its events: a class of its own."""

HOLD_POSTGRES = (
    "SELECT phoenix_private.phoenix_hold_batch(%(fence_ids)b::bigint[], %(fence_holder)s)"
)
HOLD_SQLITE = (
    f"UPDATE {events.name} SET locked_by = locked_by"  # noqa: S608 - a name from sql.tables
    " WHERE id IN (SELECT value FROM json_each(?)) AND locked_by = ? RETURNING id"
)
"""A write that changes nothing: it takes SQLite's write lock before reading, so no other
writer slips in between the check and the commit (a read first would not)."""


@dataclass(frozen=True)
class Fence:
    holder: str
    event_ids: tuple[int, ...]

    def lost(self) -> LeaseLostError:
        return LeaseLostError(self.holder, len(self.event_ids))


def fence_of(outcome: BatchOutcome | None) -> Fence | None:
    """What a commit writing ``outcome`` must hold; None when there is nothing to check."""
    if outcome is None or outcome.holder is None:
        return None
    ids = tuple(sorted(set(outcome.event_ids)))
    return Fence(outcome.holder, ids) if ids else None


def hold_postgres(execute: Callable[[str, dict[str, Any]], object], fence: Fence) -> None:
    """Sends the check; the server raises ``LEASE_LOST_SQLSTATE`` (see ``lease_lost``)."""
    execute(HOLD_POSTGRES, {"fence_ids": list(fence.event_ids), "fence_holder": fence.holder})


def hold_sqlite(fetch: Callable[[str, tuple[Any, ...]], Sequence[Any]], fence: Fence) -> None:
    """Runs the check with ``fetch`` (statement, parameters -> rows); raises if lost."""
    held = fetch(HOLD_SQLITE, (json.dumps(fence.event_ids), fence.holder))
    if len(held) != len(fence.event_ids):
        raise fence.lost()


def lease_lost(error: BaseException, fence: Fence) -> LeaseLostError | None:
    """The ``LeaseLostError`` behind a driver's error (as raised by a library wrapping it)."""
    seen: BaseException | None = error
    for _ in range(8):
        if seen is None:
            return None
        if getattr(seen, "sqlstate", None) == LEASE_LOST_SQLSTATE:
            return fence.lost()
        seen = getattr(seen, "orig", None) or seen.__cause__ or seen.__context__
    return None
