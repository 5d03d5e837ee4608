"""``EventInbox`` on SQLAlchemy Core: one adapter for SQLite and PostgreSQL.

The claim is ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING …``.
Claims take turns on both stores, so each sees every batch claimed before it and leaves
those batches' users alone: PostgreSQL through a transaction-level advisory lock
(``CLAIM_TURN``), SQLite because ``BEGIN IMMEDIATE`` serialises writers (see
``sql_database``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Engine,
    Integer,
    and_,
    any_,
    bindparam,
    case,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, OperationalError

from src.adapters.postgres_batch_sql import (
    ASYNC_COMMIT,
    CLAIM_TURN,
    ERROR_LIMIT,
    TURN_NOT_GRANTED,
    mark_outcome,
)
from src.adapters.sql_database import read_connection
from src.adapters.sql_tables import UtcDateTime, events
from src.application.errors import RequestInvalidError, StoreUnavailableError
from src.application.ports import (
    AppendResult,
    BatchOutcome,
    QueueStatus,
    RequeueSelection,
    StoredEvent,
)
from src.domain.events import NewEvent

UNFINISHED = ("pending", "failed", "processing")
UNIQUE_VIOLATION = "23505"

logger = logging.getLogger(__name__)


class SqlAlchemyEventInbox:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._insert = pg_insert if self._postgres else sqlite_insert
        self._claim = _claim_statement(postgres=self._postgres)

    def append(self, new_events: Sequence[NewEvent]) -> AppendResult:
        if not new_events:
            return AppendResult(accepted=0, duplicates=0)
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
            for event in new_events
        ]
        statement = (
            self._insert(events)
            .on_conflict_do_nothing(index_elements=["event_hash"])
            .returning(events.c.id)
        )
        try:
            with self._engine.begin() as connection:
                accepted = len(connection.execute(statement, rows).all())
        except IntegrityError as error:
            raise _refused(error) from None
        return AppendResult(accepted=accepted, duplicates=len(new_events) - accepted)

    def claim(self, limit: int, now: datetime, lease_until: datetime) -> list[StoredEvent]:
        parameters = {"limit": limit, "now": now, "lease_until": lease_until}
        try:
            rows = self._claim_rows(parameters, take_turn=self._postgres)
        except OperationalError as error:
            if getattr(error.orig, "sqlstate", None) != TURN_NOT_GRANTED:
                raise
            logger.warning("claim turn not granted within 1 s, claiming without it")
            rows = self._claim_rows(parameters, take_turn=False)
        claimed = [StoredEvent(*row) for row in rows]
        claimed.sort(key=lambda event: event.id)
        return claimed

    def _claim_rows(self, parameters: dict[str, Any], *, take_turn: bool) -> Sequence[Any]:
        with self._engine.begin() as connection:
            if self._postgres:
                connection.exec_driver_sql(
                    f"{ASYNC_COMMIT}; {CLAIM_TURN}" if take_turn else ASYNC_COMMIT
                )
            return connection.execute(self._claim, parameters).all()

    def assign_hash(self, event_id: int, event_hash: str) -> bool:
        try:
            with self._engine.begin() as connection:
                twin = connection.execute(
                    select(events.c.id).where(events.c.event_hash == event_hash)
                ).first()
                if twin is not None:
                    return False
                connection.execute(
                    update(events).where(events.c.id == event_id).values(event_hash=event_hash)
                )
        except IntegrityError:  # a twin committed between our check and our update
            return False
        return True

    def complete(self, outcome: BatchOutcome) -> None:
        with self._engine.begin() as connection:
            if self._postgres:
                connection.exec_driver_sql(ASYNC_COMMIT)
                mark_outcome(connection.exec_driver_sql, outcome)
                return
            finished, duplicates = [*outcome.processed, *outcome.duplicates], outcome.duplicates
            if finished:
                connection.execute(
                    update(events)
                    .where(events.c.id.in_(finished))
                    .values(
                        status=case((events.c.id.in_(duplicates), "duplicate"), else_="processed"),
                        ai_processing_error=case(
                            (events.c.id.in_(duplicates), events.c.ai_processing_error),
                            else_=None,
                        ),
                        processed_at=outcome.now,
                        locked_until=None,
                    )
                )
            for failure in outcome.failures:
                connection.execute(
                    update(events)
                    .where(events.c.id == failure.event_id)
                    .values(
                        status="failed" if failure.retry_at is not None else "dead",
                        locked_until=failure.retry_at,
                        ai_processing_error=failure.error[:ERROR_LIMIT],
                    )
                )

    def release(self, event_ids: Sequence[int]) -> None:
        if not event_ids:
            return
        with self._engine.begin() as connection:
            connection.execute(
                update(events)
                .where(events.c.id.in_(event_ids), events.c.status == "processing")
                .values(status="pending", locked_until=None, attempts=events.c.attempts - 1)
            )

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
                .values(status="pending", attempts=0, locked_until=None, processed_at=None)
            )
        return int(result.rowcount)


def _claim_statement(*, postgres: bool) -> Any:
    """``UPDATE … WHERE id IN (claimable, locked, skipping locked) RETURNING …``, built once.

    Parameters ``limit``, ``now`` and ``lease_until``; the columns come back in the order
    of ``StoredEvent``'s fields.
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
    if postgres:
        # ``id = ANY(ARRAY(subquery))`` makes PostgreSQL look the claimed ids up by
        # primary key; ``id IN (subquery)`` gets planned as a hash join over a scan of
        # the whole table, which makes a large backlog drain in quadratic time.
        chosen = events.c.id == any_(func.array(claimable.scalar_subquery()))
    else:
        chosen = events.c.id.in_(claimable.scalar_subquery())
    return (
        update(events)
        .where(chosen)
        .values(
            status="processing",
            locked_until=bindparam("lease_until", type_=UtcDateTime()),
            attempts=events.c.attempts + 1,
        )
        .returning(
            events.c.id,
            events.c.event_type,
            events.c.app_source,
            events.c.user_id,
            events.c.payload,
            events.c.timestamp,
            events.c.idempotency_key,
            events.c.event_hash,
            events.c.attempts,
        )
    )


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
    return RequestInvalidError("events", f"the store refused them: {reason}")
