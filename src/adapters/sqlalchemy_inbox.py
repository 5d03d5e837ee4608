"""``EventInbox`` on SQLAlchemy Core: one adapter for SQLite and PostgreSQL.

The claim is ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING …``.
Each claim is signed with its holder (``locked_by``), so the worker can renew the leases it
holds while it works and give back the claims of a batch it lost its connection in.
Claims take turns on both stores, so each sees every batch claimed before it and leaves
those batches' users alone: PostgreSQL through a transaction-level advisory lock
(``CLAIM_TURN``), SQLite because ``BEGIN IMMEDIATE`` serialises writers (see
``sql.database``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    Connection,
    CursorResult,
    Engine,
    Integer,
    ScalarSelect,
    Text,
    and_,
    bindparam,
    cast,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from src.adapters.postgres.batch_sql import TURN_NOT_GRANTED
from src.adapters.postgres.inbox import PostgresInboxStatements
from src.adapters.sql import store_outage
from src.adapters.sql.database import read_connection
from src.adapters.sql.lease_fence import Fence, fence_of, lease_lost
from src.adapters.sql.statements import for_store
from src.adapters.sql.tables import UtcDateTime, events
from src.adapters.sqlite.inbox import SqliteInboxStatements
from src.application.errors import EventRefusedError, RequestInvalidError, StoreUnavailableError
from src.application.ports.inbox import (
    AppendResult,
    BatchOutcome,
    QueueStatus,
    RequeueSelection,
    StoredEvent,
)
from src.domain.events import FIRST_READABLE, NewEvent

UNFINISHED = ("pending", "failed", "processing")
UNIQUE_VIOLATION = "23505"
CATALOGUE_DETAIL = "event_hash: "
"""How the store's catalogue check names the event it refused (its DETAIL)."""
logger = logging.getLogger(__name__)


class InboxStatements(Protocol):
    """What a store does its own way (``src.adapters.postgres.inbox``, ``sqlite.inbox``)."""

    @property
    def claim_takes_turns(self) -> bool:
        """Whether a claim first asks for its turn (``begin_claim(take_turn=True)``)."""

    @property
    def parse_timestamp(self) -> Callable[[Any], datetime] | None:
        """How a claimed row's timestamp text is read; ``None``: it comes typed."""

    def insert_new_events(
        self, connection: Connection, rows: Sequence[Mapping[str, Any]]
    ) -> CursorResult[Any]:
        """Insert the rows, skipping twins of a stored hash; the hashes stored come back."""

    def begin_claim(self, connection: Connection, *, take_turn: bool) -> None:
        """The claim's transaction settings, before the claim."""

    def claimed_ids(self, claimable: ScalarSelect[Any]) -> ColumnElement[bool]:
        """The claim's condition on ``id``, given the claimable ids' subquery."""

    def timestamp_columns(self) -> tuple[Any, Any]:
        """The claim's two timestamp columns: as a value, and as text when beyond Python."""

    def hash_holders(self, connection: Connection, hashes: Collection[str]) -> dict[str, int]:
        """The row (id) holding each of ``hashes`` that one holds."""

    def write_outcome(
        self, connection: Connection, outcome: BatchOutcome, fence: Fence | None
    ) -> None:
        """A batch's fencing token, then its marks."""


class SqlAlchemyEventInbox:
    def __init__(self, engine: Engine, statements: InboxStatements | None = None) -> None:
        self._engine = engine
        if statements is None:
            statements = for_store(
                engine, postgres=PostgresInboxStatements, sqlite=SqliteInboxStatements
            )
        self._statements: InboxStatements = statements
        self._claim = _claim_statement(statements)

    def append(self, new_events: Sequence[NewEvent]) -> AppendResult:
        return self.append_groups([new_events])[0]

    def append_groups(self, groups: Sequence[Sequence[NewEvent]]) -> list[AppendResult]:
        if not any(groups):
            return [AppendResult(accepted=0, duplicates=0) for _ in groups]
        now = datetime.now(UTC)
        rows = [
            {
                "event_type": event.event_type,
                "app_source": event.app_source,
                "user_id": event.user_id,
                "payload": dict(event.payload),
                "timestamp": event.timestamp or now,
                "received_at": now,
                "idempotency_key": event.idempotency_key,
                "event_hash": event.event_hash,
            }
            for group in groups
            for event in group
        ]
        try:
            with self._engine.begin() as connection:
                inserted = self._statements.insert_new_events(connection, rows)
                stored: set[str] = {row[0] for row in inserted}
        except IntegrityError as error:
            raise _refused(error) from None
        return [_result(group, stored) for group in groups]

    def claim(
        self, limit: int, now: datetime, lease_until: datetime, holder: str | None = None
    ) -> list[StoredEvent]:
        parameters = {"limit": limit, "now": now, "lease_until": lease_until, "holder": holder}
        try:
            rows = self._claim_rows(parameters, take_turn=self._statements.claim_takes_turns)
        except OperationalError as error:
            if getattr(error.orig, "sqlstate", None) != TURN_NOT_GRANTED:
                raise
            logger.warning("claim turn not granted within 1 s, claiming without it")
            rows = self._claim_rows(parameters, take_turn=False)
        parse_timestamp = self._statements.parse_timestamp
        claimed = [self._decode(row, parse_timestamp) for row in rows]
        claimed.sort(key=lambda event: event.id)
        return claimed

    def _decode(
        self, row: Sequence[Any], parse_timestamp: Callable[[Any], datetime] | None
    ) -> StoredEvent:
        """One claimed row; a value Python cannot hold spoils this row only.

        A row the table accepts may still be beyond Python (a timestamp of ``infinity`` or
        in year 10000, a payload nested a thousand levels deep). Decoding it with the rest
        of the claim would fail every claim, forever; here it becomes an event marked
        ``unreadable``, which the processor declares dead.
        """
        (
            event_id,
            event_type,
            app_source,
            user_id,
            payload_text,
            timestamp,
            raw_timestamp,
            idempotency_key,
            event_hash,
            attempts,
        ) = row
        problems: list[str] = []
        payload: Any = {}
        try:
            payload = json.loads(payload_text)
        except RecursionError:
            problems.append("payload: nested too deeply to decode")
        except (TypeError, ValueError) as error:
            problems.append(f"payload: not valid JSON ({error})")
        if parse_timestamp is not None and timestamp is not None:
            raw_timestamp = timestamp
            try:
                timestamp = parse_timestamp(timestamp)
            except (TypeError, ValueError, OverflowError):
                timestamp = None
        if timestamp is None:
            problems.append(
                f"timestamp: {raw_timestamp!r} is not a date and time of the years 1 to 9999"
            )
            timestamp = FIRST_READABLE
        return StoredEvent(
            event_id,
            event_type,
            app_source,
            user_id,
            payload,
            timestamp,
            idempotency_key=idempotency_key,
            event_hash=event_hash,
            attempts=attempts,
            unreadable="; ".join(problems) or None,
        )

    def renew(self, holder: str, lease_until: datetime) -> int:
        """Extend the holder's leases; rows a commit is finishing right now are skipped.

        ``SKIP LOCKED`` keeps this heartbeat from ever waiting on (or deadlocking with) the
        transaction that marks the same rows processed.
        """
        mine = (
            select(events.c.id)
            .where(events.c.locked_by == holder, events.c.status == "processing")
            .with_for_update(skip_locked=True)
        )
        with self._engine.begin() as connection:
            result = connection.execute(
                update(events)
                .where(events.c.id.in_(mine.scalar_subquery()))
                .values(locked_until=lease_until)
            )
        return int(result.rowcount)

    def give_back(self, holders: Sequence[str]) -> int:
        if not holders:
            return 0
        with self._engine.begin() as connection:
            result = connection.execute(
                update(events)
                .where(events.c.locked_by.in_(holders), events.c.status == "processing")
                .values(
                    status="pending",
                    locked_until=None,
                    locked_by=None,
                    attempts=events.c.attempts - 1,
                )
            )
        return int(result.rowcount)

    def reachable(self) -> bool:
        """``SELECT 1`` in a transaction that ends here, not in the pool.

        Asked right after a failure, often while connections are being cut: the pool's
        own rollback of a returned connection would fail outside any ``try`` and log a
        traceback; committed here, there is nothing left for it to roll back.
        """
        try:
            with read_connection(self._engine) as connection, connection.begin():
                connection.exec_driver_sql("SELECT 1")
        except SQLAlchemyError:
            return False
        return True

    def is_outage(self, error: BaseException) -> bool:
        return store_outage.is_outage(error)

    def _claim_rows(self, parameters: dict[str, Any], *, take_turn: bool) -> Sequence[Any]:
        with self._engine.begin() as connection:
            self._statements.begin_claim(connection, take_turn=take_turn)
            return connection.execute(self._claim, parameters).all()

    def twins(self, hashes: Mapping[int, str]) -> set[int]:
        """One look-up of the rows holding these hashes; of the call's own twins, the
        first (lowest id) is none. A read: the rows take their hashes with their marks
        (``complete``, or the journeys' recorder), where the unique hash decides."""
        if not hashes:
            return set()
        with read_connection(self._engine) as connection:
            holders = self._statements.hash_holders(connection, set(hashes.values()))
        twins: set[int] = set()
        for event_id, event_hash in sorted(hashes.items()):
            if holders.setdefault(event_hash, event_id) != event_id:
                twins.add(event_id)
        return twins

    def complete(self, outcome: BatchOutcome) -> None:
        """The statements the journeys' recorder runs in a batch's own commit, fencing
        token first."""
        fence = fence_of(outcome)
        try:
            with self._engine.begin() as connection:
                self._statements.write_outcome(connection, outcome, fence)
        except SQLAlchemyError as error:
            lost = lease_lost(error, fence) if fence is not None else None
            if lost is not None:
                raise lost from None
            raise

    def queue_status(self, now: datetime) -> QueueStatus:
        with read_connection(self._engine) as connection:
            counts: dict[str, int] = {
                status: count
                for status, count in connection.execute(
                    select(events.c.status, func.count()).group_by(events.c.status)
                )
            }
            oldest = connection.execute(
                select(events.c.received_at)
                .where(events.c.status == "pending")
                .order_by(events.c.id)
                .limit(1)
            ).scalar()
        return QueueStatus(
            pending=counts.get("pending", 0),
            processing=counts.get("processing", 0),
            processed=counts.get("processed", 0),
            duplicates=counts.get("duplicate", 0),
            failed=counts.get("failed", 0),
            dead=counts.get("dead", 0),
            oldest_pending_age_seconds=(
                max((now - oldest).total_seconds(), 0.0) if oldest is not None else None
            ),
        )

    def requeue(self, selection: RequeueSelection) -> int:
        conditions: list[Any] = [events.c.status != "processing"]
        if selection.event_ids is not None:
            conditions.append(events.c.id.in_(selection.event_ids))
        if selection.since is not None:
            conditions.append(events.c.timestamp >= selection.since)
        if selection.status is not None:
            conditions.append(events.c.status == selection.status)
        with self._engine.begin() as connection:
            result = connection.execute(
                update(events)
                .where(and_(*conditions))
                .values(
                    status="pending",
                    attempts=0,
                    locked_until=None,
                    locked_by=None,
                    processed_at=None,
                )
            )
        return int(result.rowcount)


def _claim_statement(statements: InboxStatements) -> Any:
    """``UPDATE … WHERE id IN (claimable, locked, skipping locked) RETURNING …``, built once.

    Parameters ``limit``, ``now``, ``lease_until`` and ``holder``; the columns come back
    in the order of ``StoredEvent``'s fields, except that the payload comes as JSON text and
    the timestamp twice (as a value, and as text when it is beyond Python's datetime), so
    that ``_decode`` can decode them row by row.
    """
    now = bindparam("now", type_=UtcDateTime())
    in_hand = events.alias("in_hand")
    claimable = (
        select(events.c.id)
        .where(
            events.c.status.in_(UNFINISHED),
            or_(events.c.locked_until.is_(None), events.c.locked_until <= now),
            # A user whose events another worker has in hand is left to that worker until
            # its lease ends: two workers folding one journey at once collide at save
            # time, and the loser folds its whole batch again. NOT IN, so PostgreSQL
            # hashes the (few) users in hand once; NOT EXISTS was planned as a nested
            # loop over every row in hand for each candidate.
            events.c.user_id.not_in(
                select(in_hand.c.user_id).where(
                    in_hand.c.status == "processing", in_hand.c.locked_until > now
                )
            ),
        )
        .order_by(events.c.id)
        .limit(bindparam("limit", type_=Integer()))
        .with_for_update(skip_locked=True)
    )
    chosen = statements.claimed_ids(claimable.scalar_subquery())
    timestamp_columns = statements.timestamp_columns()
    return (
        update(events)
        .where(chosen)
        .values(
            status="processing",
            locked_until=bindparam("lease_until", type_=UtcDateTime()),
            locked_by=bindparam("holder", type_=Text()),
            attempts=events.c.attempts + 1,
        )
        .returning(
            events.c.id,
            events.c.event_type,
            events.c.app_source,
            events.c.user_id,
            cast(events.c.payload, Text),
            *timestamp_columns,
            events.c.idempotency_key,
            events.c.event_hash,
            events.c.attempts,
        )
    )


def _result(group: Sequence[NewEvent], stored: set[str]) -> AppendResult:
    """A group's share of the rows stored: a hash counts for the first event carrying it
    (in an earlier group, or earlier in this one), as if the groups were appended in turn.
    """
    accepted = 0
    duplicates: list[str] = []
    for event in group:
        if event.event_hash in stored:
            stored.discard(event.event_hash)
            accepted += 1
        else:
            duplicates.append(event.event_hash)
    return AppendResult(accepted, len(duplicates), tuple(duplicates))


def _refused(error: IntegrityError) -> Exception:
    """What an append refused by the store is, since twins of the hash were skipped.

    Another uniqueness conflict (a primary key that an outside insert took ahead of the
    sequence) is no duplicate: nothing was written, and a later attempt gets a new id. A
    row the store's checks refuse (out of range for the worker) is refused for good.
    """
    original = error.orig
    reason = str(original or error).strip().splitlines()[0]
    if getattr(original, "sqlstate", UNIQUE_VIOLATION) == UNIQUE_VIOLATION:
        return StoreUnavailableError(f"the store refused the events for now: {reason}")
    diag = getattr(original, "diag", None)
    field = getattr(diag, "column_name", None)
    if field:  # the catalogue's check: its words and field are the flywheel's own
        primary = str(getattr(diag, "message_primary", "") or reason)
        detail = str(getattr(diag, "message_detail", "") or "")
        return EventRefusedError(
            field,
            primary.removeprefix(f"{field}: "),
            detail.removeprefix(CATALOGUE_DETAIL) if detail.startswith(CATALOGUE_DETAIL) else None,
        )
    return RequestInvalidError("events", f"the store refused them: {reason}")
