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
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    Text,
    and_,
    any_,
    bindparam,
    case,
    cast,
    func,
    null,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from src.adapters.postgres import batch_sql as postgres_batch_sql
from src.adapters.postgres import event_insert as postgres_event_insert
from src.adapters.postgres.batch_sql import ASYNC_COMMIT, CLAIM_TURN, TURN_NOT_GRANTED
from src.adapters.sql import store_outage
from src.adapters.sql.batch_writes import outcome_writes
from src.adapters.sql.database import read_connection
from src.adapters.sql.lease_fence import fence_of, hold_postgres, hold_sqlite, lease_lost
from src.adapters.sql.tables import UtcDateTime, events
from src.adapters.sqlite import batch_sql as sqlite_batch_sql
from src.application.errors import EventRefusedError, RequestInvalidError, StoreUnavailableError
from src.application.ports import (
    AppendResult,
    BatchOutcome,
    QueueStatus,
    RequeueSelection,
    StoredEvent,
)
from src.domain.events import FIRST_READABLE, LAST_READABLE, NewEvent

UNFINISHED = ("pending", "failed", "processing")
UNIQUE_VIOLATION = "23505"
CATALOGUE_DETAIL = "event_hash: "
"""How the store's catalogue check names the event it refused (its DETAIL)."""
CLAIM_PLAN = "SET LOCAL enable_bitmapscan = off"
"""For the claim's transaction: its index lookups walk the index, never build a bitmap.

Every event a batch finishes leaves a dead entry in the partial indexes of rows in hand
(``status = 'processing'``) until the table is vacuumed, which may be a minute away on
Supabase and never on a server without autovacuum. A bitmap scan visits the heap page of
every such entry, on every claim, and never marks them dead: the claim's lookup of the
users in hand grew with the events drained (docs/benchmarks.md). A plain index scan marks
the dead entries it meets, so each is visited once. A plan choice that does not depend on
the table's statistics, which are as stale as its vacuum: an ANALYZE would not help.
"""

logger = logging.getLogger(__name__)


class SqlAlchemyEventInbox:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._insert = pg_insert if self._postgres else sqlite_insert
        self._claim = _claim_statement(postgres=self._postgres)
        # SQLite's claim hands the stored text back as is, parsed row by row (``_decode``).
        self._parse_timestamp: Callable[[Any], datetime] | None = (
            None if self._postgres else _sqlite_timestamp
        )

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
                if self._postgres:
                    inserted = connection.execute(
                        postgres_event_insert.INSERT_NEW_EVENTS,
                        postgres_event_insert.parameters(rows),
                    )
                else:
                    statement = (
                        self._insert(events)
                        .on_conflict_do_nothing(index_elements=["event_hash"])
                        .returning(events.c.event_hash)
                    )
                    inserted = connection.execute(statement, rows)
                stored: set[str] = {row[0] for row in inserted}
        except IntegrityError as error:
            raise _refused(error) from None
        return [_result(group, stored) for group in groups]

    def claim(
        self, limit: int, now: datetime, lease_until: datetime, holder: str | None = None
    ) -> list[StoredEvent]:
        parameters = {"limit": limit, "now": now, "lease_until": lease_until, "holder": holder}
        try:
            rows = self._claim_rows(parameters, take_turn=self._postgres)
        except OperationalError as error:
            if getattr(error.orig, "sqlstate", None) != TURN_NOT_GRANTED:
                raise
            logger.warning("claim turn not granted within 1 s, claiming without it")
            rows = self._claim_rows(parameters, take_turn=False)
        claimed = [self._decode(row) for row in rows]
        claimed.sort(key=lambda event: event.id)
        return claimed

    def _decode(self, row: Sequence[Any]) -> StoredEvent:
        """One claimed row; a value Python cannot hold spoils this row only.

        A row the table accepts may still be beyond Python (a timestamp of ``infinity`` or
        in year 10000, a payload nested a thousand levels deep). Decoding it with the rest
        of the claim would fail every claim, forever; here it becomes an event marked
        ``unreadable``, which the processor declares dead.
        """
        event_id, event_type, app_source, user_id, payload_text = row[:5]
        timestamp, raw_timestamp = row[5:7]
        problems: list[str] = []
        payload: Any = {}
        try:
            payload = json.loads(payload_text)
        except RecursionError:
            problems.append("payload: nested too deeply to decode")
        except (TypeError, ValueError) as error:
            problems.append(f"payload: not valid JSON ({error})")
        if self._parse_timestamp is not None and timestamp is not None:
            raw_timestamp = timestamp
            try:
                timestamp = self._parse_timestamp(timestamp)
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
            idempotency_key=row[7],
            event_hash=row[8],
            attempts=row[9],
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
            if self._postgres:
                connection.exec_driver_sql(
                    f"{ASYNC_COMMIT}; {CLAIM_PLAN}; {CLAIM_TURN}"
                    if take_turn
                    else f"{ASYNC_COMMIT}; {CLAIM_PLAN}"
                )
            return connection.execute(self._claim, parameters).all()

    def assign_hashes(self, hashes: Mapping[int, str]) -> set[int]:
        """One set-based write for a whole batch, in a commit that need not wait for the WAL.

        PostgreSQL: one statement gives each row its hash unless a row already has it or
        an earlier row of the batch takes it; SQLite: a look-up of the twins, then one
        update. A twin another worker commits meanwhile breaks the unique index: the rows
        are then assigned one at a time, each refused alone if its twin won.

        Like the claim's, this commit may be lost in a crash of the server only with
        everything after it (``ASYNC_COMMIT``): the event is then claimed again, still
        without its hash, and hashed again to the same value. Waiting for the WAL flush
        here made a batch of rows without hash wait for the disk once more.
        """
        if not hashes:
            return set()
        assign = _assign_hashes_postgres if self._postgres else _assign_hashes
        try:
            with self._engine.begin() as connection:
                return assign(connection, hashes)
        except IntegrityError:
            refused: set[int] = set()
            for event_id, event_hash in sorted(hashes.items()):
                try:
                    with self._engine.begin() as connection:
                        refused |= assign(connection, {event_id: event_hash})
                except IntegrityError:
                    refused.add(event_id)
            return refused

    def complete(self, outcome: BatchOutcome) -> None:
        """The statements the journeys' recorder runs in a batch's own commit, fencing
        token first."""
        fence = fence_of(outcome)
        try:
            with self._engine.begin() as connection:
                if self._postgres:
                    if fence is not None:
                        hold_postgres(connection.exec_driver_sql, fence)
                    connection.exec_driver_sql(ASYNC_COMMIT)
                    postgres_batch_sql.write_rows(
                        connection.exec_driver_sql, outcome_writes(outcome)
                    )
                else:
                    if fence is not None:
                        hold_sqlite(
                            lambda sql, params: connection.exec_driver_sql(sql, params).all(),
                            fence,
                        )
                    sqlite_batch_sql.write_rows(connection.execute, outcome_writes(outcome))
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


_ASSIGN_HASHES = (
    "WITH given AS ("  # noqa: S608 - names from sql.tables
    " SELECT DISTINCT ON (g.event_hash) g.id, g.event_hash"
    " FROM unnest(%(ids)b::bigint[], %(hashes)b::text[]) AS g(id, event_hash)"
    f" WHERE NOT EXISTS (SELECT 1 FROM {events.name} AS t WHERE t.event_hash = g.event_hash)"
    " ORDER BY g.event_hash, g.id)"
    f" UPDATE {events.name} AS e SET event_hash = given.event_hash"
    " FROM given WHERE e.id = given.id"
    " RETURNING e.id"
)
"""The rows that take their hash: not stored yet, and the first of the batch's twins."""


def _assign_hashes_postgres(connection: Connection, hashes: Mapping[int, str]) -> set[int]:
    connection.exec_driver_sql(ASYNC_COMMIT)
    ids = list(hashes)
    assigned = connection.exec_driver_sql(
        _ASSIGN_HASHES, {"ids": ids, "hashes": [hashes[event_id] for event_id in ids]}
    ).scalars()
    return set(ids).difference(assigned)


def _assign_hashes(connection: Connection, hashes: Mapping[int, str]) -> set[int]:
    taken = set(
        connection.execute(
            select(events.c.event_hash).where(events.c.event_hash.in_(set(hashes.values())))
        ).scalars()
    )
    refused: set[int] = set()
    winners: dict[int, str] = {}
    for event_id, event_hash in sorted(hashes.items()):  # the first of twins keeps the hash
        if event_hash in taken:
            refused.add(event_id)
        else:
            taken.add(event_hash)
            winners[event_id] = event_hash
    if winners:
        connection.execute(
            update(events)
            .where(events.c.id.in_(list(winners)))
            .values(event_hash=case(winners, value=events.c.id))
        )
    return refused


def _sqlite_timestamp(value: Any) -> datetime:
    """What SQLite stores for ``UtcDateTime``: naive UTC text, ``2026-01-01 09:00:00.000000``."""
    if not isinstance(value, str):
        raise TypeError(f"not a text timestamp: {value!r}")
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _claim_statement(*, postgres: bool) -> Any:
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
    if postgres:
        # ``id = ANY(ARRAY(subquery))`` makes PostgreSQL look the claimed ids up by
        # primary key; ``id IN (subquery)`` gets planned as a hash join over a scan of
        # the whole table, which makes a large backlog drain in quadratic time.
        chosen = events.c.id == any_(func.array(claimable.scalar_subquery()))
    else:
        chosen = events.c.id.in_(claimable.scalar_subquery())
    timestamp = events.c.timestamp
    timestamp_columns: tuple[Any, Any]
    if postgres:
        # The driver would raise for the whole claim on a single out-of-range timestamp.
        readable = and_(timestamp >= FIRST_READABLE, timestamp < LAST_READABLE)
        timestamp_columns = (
            case((readable, timestamp), else_=null()),
            case((readable, null()), else_=cast(timestamp, Text)),
        )
    else:
        timestamp_columns = (type_coerce(timestamp, Text), null())
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
