"""The flywheel through a real transaction pooler (PgBouncer, pool_mode=transaction).

Supabase's pooler on port 6543 behaves the same way: consecutive transactions of one
client land on different server connections, so nothing may rely on session state such
as prepared statements.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from src.adapters.sql.database import create_postgres_engine
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from tests.conftest import make_settings
from tests.pgbouncer import free_port, pgbouncer

pytestmark = pytest.mark.postgres


def test_the_whole_path_works_through_a_transaction_pooler(postgres_url: str) -> None:
    with pgbouncer(postgres_url, free_port()) as pooler_url:
        container = open_flywheel(make_settings(pooler_url), migrate=True)
        try:
            kinds = [("letter.generated", "phoenix-letters"), ("cv.uploaded", "phoenix-cv")]
            rows = [
                {
                    "event_type": t,
                    "app_source": a,
                    "user_id": f"u{n % 41}",
                    "idempotency_key": str(n),
                }
                for n, (t, a) in enumerate(kinds * 300)
            ]
            assert container.ingestion().publish(rows).accepted == 600
            summary = asyncio.run(container.processor().drain())
            figures = container.queries().get_ecosystem(30)
            nudges = container.queries().list_active_nudges("u0", "phoenix-letters")
        finally:
            close_flywheel(container)
    assert (summary.processed, summary.failed, summary.dead) == (600, 0, 0)
    assert (figures.total_events, figures.unique_users) == (600, 41)
    # Every user used both apps: no nudge from one toward the other.
    assert [n for n in nudges if n.nudge_type == "letters_to_cv"] == []


def test_direct_connections_turn_jit_off(postgres_url: str) -> None:
    """JIT compiling cost a batch's journey load 2.4 ms for a 0.6 ms query."""
    engine = create_postgres_engine(postgres_url)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SHOW jit").scalar() == "off"
    finally:
        engine.dispose()


def test_pooled_connections_send_no_startup_options(postgres_url: str) -> None:
    """A pooler (PgBouncer here, Supabase's on 6543) refuses the ``options`` parameter:
    behind one, the server's own setting applies."""
    with psycopg.connect(postgres_url) as plain:
        server_default = plain.execute("SHOW jit").fetchone()
    with pgbouncer(postgres_url, free_port()) as pooler_url:
        engine = create_postgres_engine(pooler_url)
        try:
            with engine.connect() as connection:
                assert connection.exec_driver_sql("SHOW jit").one() == server_default
        finally:
            engine.dispose()


def test_leases_are_renewed_and_given_back_through_a_transaction_pooler(
    postgres_url: str,
) -> None:
    """The heartbeat and the give-back are plain transactions: no session state."""
    with pgbouncer(postgres_url, free_port()) as pooler_url:
        container = open_flywheel(make_settings(pooler_url), migrate=True)
        try:
            inbox = container.inbox()
            container.ingestion().publish(
                [{"event_type": "cv.uploaded", "app_source": "phoenix-cv", "user_id": "u1"}]
            )
            now = datetime.now(UTC)
            (claimed,) = inbox.claim(10, now, now + timedelta(seconds=15), "worker:1")
            renewed = inbox.renew("worker:1", now + timedelta(seconds=30))
            given_back = inbox.give_back(["worker:1"])
            (again,) = inbox.claim(10, now, now + timedelta(seconds=15), "worker:2")
        finally:
            close_flywheel(container)
    assert (renewed, given_back) == (1, 1)
    assert (again.id, again.attempts) == (claimed.id, 1)


def test_the_journey_store_prepares_no_statement_behind_a_pooler(postgres_url: str) -> None:
    """eventsourcing asks psycopg to prepare its statements; behind a pooler the next
    transaction may land on a server connection that never saw them."""
    with pgbouncer(postgres_url, free_port()) as pooler_url:
        container = open_flywheel(make_settings(pooler_url), migrate=True)
        try:
            assert (
                container.ingestion()
                .publish(
                    [{"event_type": "cv.uploaded", "app_source": "phoenix-cv", "user_id": "u1"}]
                )
                .accepted
                == 1
            )
            assert asyncio.run(container.processor().drain()).processed == 1
            pool = container.journeys().factory.datastore.pool
            with pool.connection() as connection:
                assert connection.prepare_threshold is None
                prepared = connection.execute("SELECT count(*) FROM pg_prepared_statements")
                assert prepared.fetchone() == {"count": 0}
        finally:
            close_flywheel(container)
