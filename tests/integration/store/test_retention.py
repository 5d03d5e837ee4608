"""Retention of the inbox on both stores: old finished rows leave, everything else stays,
and what reads the history (journeys, analytics, erasure, the degraded mode) answers the
same without them."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import select, text, update

from src.adapters.sql.tables import events
from src.adapters.sqlalchemy_retention import SqlAlchemyRetentionStore
from src.adapters.system_clock import SystemClock
from src.application.retention import EventRetention
from src.application.worker import BackgroundWorker
from src.entrypoints.bootstrap import Container, close_flywheel, open_flywheel
from src.entrypoints.cli.commands import main
from src.entrypoints.cli.output import format_dry_run
from src.entrypoints.dry_run_output import dry_run_json
from tests.conftest import make_settings

OLD = datetime.now(UTC) - timedelta(days=40)


def publish(container: Container, user: str, event_type: str, app: str, key: str) -> None:
    result = container.ingestion().publish(
        [
            {
                "event_type": event_type,
                "app_source": app,
                "user_id": user,
                "payload": {},
                "idempotency_key": key,
            }
        ]
    )
    assert result.accepted == 1


def drain(container: Container) -> Any:
    return asyncio.run(container.processor().drain())


def ids_by_key(container: Container) -> dict[str, int]:
    with container.engine().connect() as connection:
        rows = connection.execute(select(events.c.idempotency_key, events.c.id)).all()
    return {str(key): int(event_id) for key, event_id in rows}


def set_rows(container: Container, ids: list[int], **values: Any) -> None:
    with container.engine().begin() as connection:
        connection.execute(update(events).where(events.c.id.in_(ids)).values(**values))


def statuses(container: Container) -> dict[str, str]:
    with container.engine().connect() as connection:
        rows = connection.execute(select(events.c.idempotency_key, events.c.status)).all()
    return {str(key): str(status) for key, status in rows}


def history(container: Container) -> dict[str, int]:
    """Every user (events, old included) as the journeys and the other keys keep it."""
    keys = [
        ("u1", "cv.uploaded", "phoenix-cv", "u1-cv-1"),
        ("u1", "cv.generated", "phoenix-cv", "u1-cv-2"),
        ("u1", "letter.generated", "phoenix-letters", "u1-letter"),
        ("u1", "cv.uploaded", "phoenix-cv", "u1-cv-recent"),
        ("u2", "cv.uploaded", "phoenix-cv", "u2-duplicate"),
        ("u2", "cv.uploaded", "phoenix-cv", "u2-dead"),
        ("u2", "cv.uploaded", "phoenix-cv", "u2-failed"),
        ("u2", "cv.uploaded", "phoenix-cv", "u2-pending"),
    ]
    for user, event_type, app, key in keys:
        publish(container, user, event_type, app, key)
    assert drain(container).processed == len(keys)
    ids = ids_by_key(container)
    aged = [ids[key] for key in ids if key != "u1-cv-recent"]
    set_rows(container, aged, processed_at=OLD, received_at=OLD)
    set_rows(container, [ids["u2-duplicate"]], status="duplicate")
    set_rows(container, [ids["u2-dead"]], status="dead", ai_processing_error="boom")
    set_rows(container, [ids["u2-failed"]], status="failed", processed_at=None)
    set_rows(container, [ids["u2-pending"]], status="pending", processed_at=None)
    return ids


EXPECTED_LEFT = {
    # u1's first CV event goes; its second is then its last processed one in the CV app,
    # which stays only until a newer one is processed: the recent one is.
    "u1-letter": "processed",  # the last of u1 in Phoenix Letters: the degraded mode reads it
    "u1-cv-recent": "processed",
    "u2-dead": "dead",
    "u2-failed": "failed",
    "u2-pending": "pending",
}


def test_old_processed_and_duplicate_rows_go_and_the_rest_stays(flywheel: Container) -> None:
    history(flywheel)
    store = SqlAlchemyRetentionStore(flywheel.engine())
    # One row per batch: the pass goes batch after batch, each after the last id deleted.
    report = EventRetention(store, SystemClock(), retention_days=30, batch_size=1).prune()
    assert report.deleted == 3
    assert report.batches == 4
    assert report.complete
    assert statuses(flywheel) == EXPECTED_LEFT
    again = flywheel.retention().prune()
    assert (again.deleted, again.complete) == (0, True)


def test_a_longer_window_keeps_them(flywheel: Container) -> None:
    history(flywheel)
    store = SqlAlchemyRetentionStore(flywheel.engine())
    assert EventRetention(store, SystemClock(), retention_days=41).prune().deleted == 0
    assert EventRetention(store, SystemClock(), retention_days=39).prune().deleted == 3


def test_journeys_analytics_and_nudges_answer_the_same_after_the_prune(
    flywheel: Container,
) -> None:
    history(flywheel)
    queries = flywheel.queries()
    before = queries.get_ecosystem(30)
    journey = queries.get_journey("u1")
    nudges = {
        (user, app): [n.nudge_type for n in queries.list_active_nudges(user, app)]
        for user in ("u1", "u2", "u3")
        for app in ("phoenix-cv", "phoenix-letters")
    }
    stats = _postgres_stats(flywheel)
    assert flywheel.retention().prune().deleted == 3
    assert queries.get_ecosystem(30) == before
    assert before.total_events == 8  # the journeys hold every event processed
    assert queries.get_journey("u1") == journey
    assert len(journey.events) == 4
    assert {
        (user, app): [n.nudge_type for n in queries.list_active_nudges(user, app)]
        for user in ("u1", "u2", "u3")
        for app in ("phoenix-cv", "phoenix-letters")
    } == nudges
    assert _postgres_stats(flywheel) == stats


def test_the_degraded_mode_still_knows_an_app_used_long_ago(flywheel: Container) -> None:
    for key, event_type, app in [
        ("u4-letter-1", "letter.generated", "phoenix-letters"),
        ("u4-letter-2", "letter.generated", "phoenix-letters"),
        ("u4-cv", "cv.uploaded", "phoenix-cv"),
    ]:
        publish(flywheel, "u4", event_type, app, key)
    drain(flywheel)
    ids = ids_by_key(flywheel)
    set_rows(flywheel, [ids["u4-letter-1"], ids["u4-letter-2"]], processed_at=OLD)

    def offered() -> list[str]:
        return [n.nudge_type for n in flywheel.queries().list_active_nudges("u4", "phoenix-cv")]

    assert "cv_to_letters" not in offered()  # u4 wrote letters before using Phoenix CV
    assert flywheel.retention().prune().deleted == 1
    assert set(statuses(flywheel)) == {"u4-letter-2", "u4-cv"}
    assert "cv_to_letters" not in offered()
    # The row kept is what tells: without it, the degraded mode would offer the nudge.
    with flywheel.engine().begin() as connection:
        connection.execute(events.delete().where(events.c.id == ids["u4-letter-2"]))
    assert "cv_to_letters" in offered()


def test_an_event_sent_again_after_its_row_left_is_not_applied_twice(
    flywheel: Container,
) -> None:
    history(flywheel)
    assert flywheel.retention().prune().deleted == 3
    before = flywheel.queries().get_ecosystem(30)
    # The row of u1's first CV event has left: the same event again is a new row...
    journey = flywheel.queries().get_journey("u1")
    publish(flywheel, "u1", "cv.uploaded", "phoenix-cv", "u1-cv-1")
    drain(flywheel)
    # ...that the journeys' applied events recognise: nothing is applied twice.
    assert statuses(flywheel)["u1-cv-1"] == "processed"  # finished, folded in no journey
    assert flywheel.queries().get_journey("u1") == journey
    assert flywheel.queries().get_ecosystem(30) == before


def test_erasure_after_the_prune_removes_what_remains(flywheel: Container) -> None:
    history(flywheel)
    assert flywheel.retention().prune().deleted == 3
    report = flywheel.erasure().forget("u1")
    assert report.events == 2  # its letter and its recent CV event: the rest had left
    assert report.journey_entries == 4
    assert report.applied_events == 4
    assert report.journey_events > 0
    assert set(statuses(flywheel)) == {"u2-dead", "u2-failed", "u2-pending"}
    assert flywheel.queries().get_ecosystem(30).total_events == 4  # u2's, in its journey


def test_the_dry_run_says_how_much_history_the_inbox_keeps(flywheel: Container) -> None:
    history(flywheel)
    flywheel.retention().prune()
    report = flywheel.dry_run().dry_run("cv_to_letters", days=90)
    assert report.history_days == 30
    assert dry_run_json(report)["history_days"] == 30
    assert "note: the inbox keeps processed events 30 days" in format_dry_run(report)
    assert "note:" not in format_dry_run(flywheel.dry_run().dry_run("cv_to_letters", days=30))
    # It replays what remains: u1's two processed CV events are u1's only CV history left.
    # It replays what remains processed: u1's letter and recent CV event (u2's rows were
    # set to other statuses, u1's old CV events have left).
    assert report.events_scanned == 2


def test_the_worker_prunes_beside_its_claims(flywheel: Container) -> None:
    ids = history(flywheel)
    release = threading.Event()
    pruning = threading.Event()
    retention = flywheel.retention()

    def maintenance() -> bool:
        pruning.set()
        assert release.wait(30)
        return retention.maintain()

    worker = BackgroundWorker(
        flywheel.processor(), poll_interval_seconds=0.05, maintenance=maintenance
    )
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        assert pruning.wait(10)
        # While the maintenance is under way, new events are claimed and processed.
        publish(flywheel, "u3", "cv.uploaded", "phoenix-cv", "u3-new")
        worker.wake()
        deadline = time.monotonic() + 20
        while statuses(flywheel).get("u3-new") != "processed":
            assert time.monotonic() < deadline, "the worker did not claim beside its maintenance"
            time.sleep(0.05)
        assert statuses(flywheel)["u1-cv-1"] == "processed"  # not pruned yet
        release.set()
        while ids["u1-cv-1"] in ids_by_key(flywheel).values():
            assert time.monotonic() < deadline, "the worker's maintenance did not prune"
            time.sleep(0.05)
    finally:
        release.set()
        worker.stop()
        thread.join(30)
    left = statuses(flywheel)
    assert not {"u1-cv-1", "u1-cv-2", "u2-duplicate"} & set(left)
    assert left["u1-letter"] == left["u1-cv-recent"] == left["u3-new"] == "processed"
    assert left["u2-dead"] == "dead"


@pytest.mark.postgres
def test_rows_another_transaction_holds_are_skipped_not_waited_for(
    postgres_url: str, flywheel_on_postgres: Container
) -> None:
    flywheel = flywheel_on_postgres
    ids = history(flywheel)
    with psycopg.connect(postgres_url) as holder:
        holder.execute("SELECT id FROM phoenix_events WHERE id = %s FOR UPDATE", (ids["u1-cv-1"],))
        started = time.monotonic()
        report = flywheel.retention().prune()
        assert time.monotonic() - started < 5
        # u1-cv-1 is held: skipped; the duplicate and u1's second CV event go.
        assert report.deleted == 2
        holder.rollback()
    assert flywheel.retention().prune().deleted == 1
    assert statuses(flywheel) == EXPECTED_LEFT


@pytest.mark.postgres
def test_the_dead_rows_are_reclaimed_without_analyze(flywheel_on_postgres: Container) -> None:
    history(flywheel_on_postgres)
    flywheel_on_postgres.retention().prune()
    store = SqlAlchemyRetentionStore(flywheel_on_postgres.engine())
    assert store.reclaim_dead_rows(0)
    with flywheel_on_postgres.engine().connect() as connection:
        vacuumed, analysed = connection.execute(
            text(
                "SELECT last_vacuum, last_analyze FROM pg_stat_user_tables"
                " WHERE relid = 'phoenix_events'::regclass"
            )
        ).one()
    assert vacuumed is not None
    assert analysed is None


def test_prune_on_the_command_line(
    flywheel: Container, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    history(flywheel)
    monkeypatch.setenv("DATABASE_URL", flywheel.settings().database_url)
    monkeypatch.setenv("EVENT_RETENTION_DAYS", "30")
    assert main(["prune"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["deleted"] == 3
    assert printed["retention_days"] == 30
    assert statuses(flywheel) == EXPECTED_LEFT


@pytest.mark.parametrize("value", ["0", "-3", "a month"])
def test_a_wrong_retention_names_the_setting_and_writes_nothing(
    flywheel: Container,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    value: str,
) -> None:
    history(flywheel)
    monkeypatch.setenv("DATABASE_URL", flywheel.settings().database_url)
    monkeypatch.setenv("EVENT_RETENTION_DAYS", value)
    assert main(["prune"]) == 2
    assert "EVENT_RETENTION_DAYS" in capsys.readouterr().err
    assert len(statuses(flywheel)) == 8


@pytest.mark.postgres
def test_the_sql_function_refuses_a_window_under_a_day(postgres_url: str) -> None:
    close_flywheel(open_flywheel(make_settings(postgres_url), migrate=True))
    with (
        psycopg.connect(postgres_url) as db,
        pytest.raises(psycopg.errors.InvalidParameterValue, match="EVENT_RETENTION_DAYS"),
    ):
        db.execute("SELECT * FROM phoenix_private.phoenix_prune_events(0)")


def _postgres_stats(container: Container) -> Any:
    if container.engine().dialect.name != "postgresql":
        return None
    with container.engine().connect() as connection:
        return connection.execute(text("SELECT get_phoenix_ecosystem_stats(30)")).scalar()


@pytest.fixture
def flywheel_on_postgres(postgres_url: str) -> Iterator[Container]:
    container = open_flywheel(make_settings(postgres_url), migrate=True)
    try:
        yield container
    finally:
        close_flywheel(container)
