"""The scaling signal on each real store: the SQL function on PostgreSQL, the Python
module on SQLite, held to the same numbers by the same tests."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text, update

from src.adapters.sql.tables import events, worker_settings
from src.application.scaling import ScalingSignal
from src.entrypoints.bootstrap import Container, close_flywheel, open_flywheel
from tests.conftest import make_settings

# u1 has five events, u2 two, u3 one: eight events of three users.
BACKLOG = {"u1": 5, "u2": 2, "u3": 1}


def opened(url: str, batch_size: int) -> Container:
    """A migrated flywheel whose workers claim ``batch_size`` events (``migrate`` writes it)."""
    return open_flywheel(make_settings(url, event_batch_size=batch_size), migrate=True)


@pytest.fixture
def flywheel_of_three(store_url: str) -> Iterator[Container]:
    container = opened(store_url, 3)
    try:
        publish_backlog(container)
        yield container
    finally:
        close_flywheel(container)


def publish_backlog(container: Container) -> None:
    rows: list[dict[str, Any]] = [
        {
            "event_type": "letter.generated",
            "app_source": "phoenix-letters",
            "user_id": user,
            "idempotency_key": f"{user}-{n}",
        }
        for user, count in BACKLOG.items()
        for n in range(count)
    ]
    container.ingestion().publish(rows)


def signal(container: Container) -> ScalingSignal:
    return container.scaling_signal().scaling_signal(datetime.now(UTC))


def test_useful_workers_is_one_per_batch_at_most_one_per_user(store_url: str) -> None:
    for batch_size, expected in ((3, 3), (2, 3), (5, 2), (10, 1)):
        container = opened(store_url, batch_size)
        try:
            if batch_size == 3:
                publish_backlog(container)
            found = signal(container)
        finally:
            close_flywheel(container)
        # ceil(8 / batch size), but never more than the three users.
        assert (found.claimable, found.useful_workers) == (8, expected), batch_size


def test_events_in_hand_still_count_and_finished_ones_do_not(
    flywheel_of_three: Container,
) -> None:
    now = datetime.now(UTC)
    claimed = flywheel_of_three.inbox().claim(3, now, now + timedelta(minutes=1), "test:1")
    assert len(claimed) == 3
    # In a worker's hands: still work to do, so no worker is stopped mid-batch.
    assert (signal(flywheel_of_three).claimable, signal(flywheel_of_three).useful_workers) == (
        8,
        3,
    )
    flywheel_of_three.inbox().give_back(["test:1"])
    asyncio.run(flywheel_of_three.processor().drain())
    assert signal(flywheel_of_three) == ScalingSignal(0, 0, None)


def test_failed_events_count_until_they_are_dead(flywheel_of_three: Container) -> None:
    with flywheel_of_three.engine().begin() as connection:
        connection.execute(
            update(events).where(events.c.user_id == "u1").values(status="failed", attempts=1)
        )
        connection.execute(update(events).where(events.c.user_id == "u2").values(status="dead"))
    found = signal(flywheel_of_three)
    # u1's five failed (awaiting a retry) and u3's one pending; u2's dead wait for a person.
    assert (found.claimable, found.useful_workers) == (6, 2)


def test_the_oldest_pending_age_is_by_receipt(flywheel_of_three: Container) -> None:
    received = datetime.now(UTC) - timedelta(minutes=2)
    with flywheel_of_three.engine().begin() as connection:
        connection.execute(
            update(events).where(events.c.user_id == "u1").values(received_at=received)
        )
    age = signal(flywheel_of_three).oldest_pending_age_seconds
    assert age is not None
    assert 120 <= age < 180


def test_a_worker_start_writes_its_batch_size_and_the_api_alone_does_not(
    store_url: str,
) -> None:
    close_flywheel(opened(store_url, 7))
    # Any command but `migrate` and the workers (here, what `status` opens) leaves it.
    close_flywheel(open_flywheel(make_settings(store_url, event_batch_size=50)))
    container = open_flywheel(make_settings(store_url))
    try:
        with container.engine().connect() as connection:
            stored = connection.execute(worker_settings.select()).all()
    finally:
        close_flywheel(container)
    assert [(row.id, row.batch_size) for row in stored] == [(1, 7)]


@pytest.mark.postgres
def test_the_function_reads_the_unfinished_index_not_the_finished_rows(
    postgres_url: str,
) -> None:
    """A big table of finished rows and a small backlog: the function's query walks the
    partial index of unfinished events, never the table (EXPLAIN of its own body)."""
    container = opened(postgres_url, 100)
    try:
        with container.engine().begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO phoenix_events (event_type, app_source, user_id, event_hash,"
                    " status, processed_at) SELECT 'letter.generated', 'phoenix-letters',"
                    " 'old-' || (n % 5000), 'h' || n, 'processed', now()"
                    " FROM generate_series(1, 200000) AS n"
                )
            )
        publish_backlog(container)
        with container.engine().connect() as connection:
            connection.execute(text("ANALYZE phoenix_events"))
            body = connection.execute(
                text("SELECT prosrc FROM pg_proc WHERE proname = 'phoenix_scaling_signal'")
            ).scalar_one()
            (plan,) = connection.execute(text(f"EXPLAIN (FORMAT JSON) {body}")).scalar_one()
            found = signal(container)
    finally:
        close_flywheel(container)
    nodes = list(walk(plan["Plan"]))
    on_events = [node for node in nodes if node.get("Relation Name") == "phoenix_events"]
    assert on_events, json.dumps(plan, indent=1)
    # Each read of the events goes through the partial index of unfinished ones.
    assert {node.get("Index Name") for node in on_events} == {"ix_phoenix_events_claimable"}, (
        json.dumps(plan, indent=1)
    )
    assert (found.claimable, found.useful_workers) == (8, 1)


def walk(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from walk(child)


@pytest.mark.postgres
def test_a_scaler_role_with_execute_alone_reads_the_signal_and_nothing_else(
    postgres_url: str,
) -> None:
    """KEDA's role needs EXECUTE on the function only: it runs as its owner."""
    container = opened(postgres_url, 3)
    role = f"pf_scaler_{uuid.uuid4().hex[:8]}"
    try:
        publish_backlog(container)
        with container.engine().begin() as connection:
            connection.execute(text(f"CREATE ROLE {role} NOLOGIN"))
            connection.execute(
                text(f"GRANT EXECUTE ON FUNCTION phoenix_scaling_signal() TO {role}")
            )
        with container.engine().begin() as connection:
            connection.execute(text(f"SET LOCAL ROLE {role}"))
            row = connection.execute(text("SELECT * FROM phoenix_scaling_signal()")).one()
            assert (row.claimable, row.useful_workers) == (8, 3)
        with container.engine().begin() as connection:
            connection.execute(text(f"SET LOCAL ROLE {role}"))
            readable = connection.execute(
                text("SELECT has_table_privilege('phoenix_events', 'SELECT')")
            ).scalar_one()
        assert readable is False
        with container.engine().begin() as connection:
            connection.execute(text(f"REVOKE ALL ON FUNCTION phoenix_scaling_signal() FROM {role}"))
            connection.execute(text(f"SET LOCAL ROLE {role}"))
            refused = connection.execute(
                text("SELECT has_function_privilege('phoenix_scaling_signal()', 'EXECUTE')")
            ).scalar_one()
        assert refused is False  # not granted to PUBLIC
    finally:
        with container.engine().begin() as connection:
            connection.execute(text(f"DROP ROLE IF EXISTS {role}"))
        close_flywheel(container)
