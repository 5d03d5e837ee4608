"""One bad row or one failing save fails alone, on both stores: everything else flows.

Each test prints how long the queue took from the fault to drained, with the default
settings (a figure for the notes, not an assertion).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

from sqlalchemy import text

from src.domain.user_journey import journey_id
from src.entrypoints.bootstrap import Container, close_flywheel, open_flywheel
from tests.conftest import make_settings

DEEP_PAYLOAD = '{"a": ' * 1000 + "1" + "}" * 1000
UNREADABLE = {
    "postgresql": {
        "ts-infinity": ("infinity", "{}"),
        "ts-year-10000": ("10000-01-01 00:00:00+00", "{}"),
        "ts-bc": ("0044-03-15 00:00:00+00 BC", "{}"),
        "deep-payload": ("2026-01-01 09:00:00+00", DEEP_PAYLOAD),
    },
    "sqlite": {
        "ts-infinity": ("infinity", "{}"),
        "ts-year-10000": ("10000-01-01 00:00:00.000000", "{}"),
        "deep-payload": ("2026-01-01 09:00:00.000000", DEEP_PAYLOAD),
    },
}


def publish_good_events(container: Container, events: int, users: int) -> Counter[str]:
    per_user: Counter[str] = Counter()
    rows: list[dict[str, object]] = []
    for n in range(events):
        user = f"user-{n % users}"
        per_user[user] += 1
        kind, app = (
            ("letter.generated", "phoenix-letters") if n % 3 else ("cv.uploaded", "phoenix-cv")
        )
        rows.append(
            {"event_type": kind, "app_source": app, "user_id": user, "idempotency_key": str(n)}
        )
    container.ingestion().publish(rows)
    return per_user


def insert_as_table_owner(container: Container, rows: dict[str, tuple[str, str]]) -> None:
    """Rows only the table's owner (or an older schema) can still write.

    The schema may refuse such rows for other clients (constraints, triggers); rows
    written before those existed are still there, which this test database imitates by
    dropping its CHECK constraints other than the status one and skipping triggers.
    """
    engine = container.engine()
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            checks = connection.exec_driver_sql(
                "SELECT conname FROM pg_constraint WHERE conrelid = 'phoenix_events'::regclass"
                " AND contype = 'c' AND conname <> 'phoenix_events_status_check'"
            ).scalars()
            for name in list(checks):
                connection.exec_driver_sql(f'ALTER TABLE phoenix_events DROP CONSTRAINT "{name}"')
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        for user, (timestamp, payload) in rows.items():
            connection.execute(
                text(
                    "INSERT INTO phoenix_events"
                    ' (event_type, app_source, user_id, payload, "timestamp")'
                    " VALUES ('cv.uploaded', 'phoenix-cv', :user, :payload, :timestamp)"
                ),
                {"user": user, "payload": payload, "timestamp": timestamp},
            )


def rows_by_user(container: Container) -> dict[str, list[tuple[str, int, str | None]]]:
    found: dict[str, list[tuple[str, int, str | None]]] = {}
    with container.engine().connect() as connection:
        for user, status, attempts, error in connection.exec_driver_sql(
            "SELECT user_id, status, attempts, ai_processing_error FROM phoenix_events"
        ):
            found.setdefault(user, []).append((status, attempts, error))
    return found


def entries_per_user(container: Container) -> dict[str, int]:
    with container.engine().connect() as connection:
        return dict(
            connection.exec_driver_sql(
                "SELECT user_id, count(*) FROM phoenix_journey_entries GROUP BY user_id"
            ).all()
        )


def test_an_unreadable_row_is_dead_on_its_first_claim_and_stops_nothing(
    flywheel: Container,
) -> None:
    per_user = publish_good_events(flywheel, events=300, users=60)
    bad = UNREADABLE[flywheel.engine().dialect.name]
    insert_as_table_owner(flywheel, bad)
    started = time.perf_counter()
    summary = asyncio.run(flywheel.processor().drain())
    print(f"unreadable rows: fault to drained in {time.perf_counter() - started:.2f} s")
    assert (summary.processed, summary.dead, summary.failed) == (300, len(bad), 0)
    rows = rows_by_user(flywheel)
    for user in bad:
        ((status, attempts, error),) = rows[user]
        assert (status, attempts) == ("dead", 1), user
        assert error is not None
        assert error.startswith("unreadable row: "), error
    assert "payload: nested too deeply to decode" in (rows["deep-payload"][0][2] or "")
    assert "'infinity' is not a date and time" in (rows["ts-infinity"][0][2] or "")
    assert entries_per_user(flywheel) == dict(per_user)


def stored_events_table(container: Container) -> str:
    """The journeys' stored-events table, wherever the configuration puts it."""
    recorder: Any = container.journeys().recorder
    table: str = recorder.events_table_name
    schema = getattr(getattr(recorder, "datastore", None), "schema", "")
    if "." in table or not schema:
        return table
    return f'"{schema}"."{table}"'


def refuse_journey_of(container: Container, user: str) -> None:
    """A trigger that refuses to store any journey event of ``user``."""
    table = stored_events_table(container)
    originator = journey_id(user)
    with container.engine().begin() as connection:
        if container.engine().dialect.name == "postgresql":
            connection.exec_driver_sql(
                "CREATE FUNCTION refuse_journey() RETURNS trigger LANGUAGE plpgsql AS $$"
                f" BEGIN IF NEW.originator_id = '{originator}'::uuid THEN"
                f" RAISE EXCEPTION 'journeys of {user} are refused here'; END IF;"
                " RETURN NEW; END $$"
            )
            connection.exec_driver_sql(
                f"CREATE TRIGGER refuse_journey BEFORE INSERT ON {table}"
                " FOR EACH ROW EXECUTE FUNCTION refuse_journey()"
            )
        else:
            connection.exec_driver_sql(
                f"CREATE TRIGGER refuse_journey BEFORE INSERT ON {table}"
                f" WHEN NEW.originator_id IN ('{originator}', '{originator.hex}')"
                f" BEGIN SELECT RAISE(ABORT, 'journeys of {user} are refused here'); END"
            )


def retries_due_now(container: Container) -> None:
    """Time passes: every failed event's retry is due."""
    with container.engine().begin() as connection:
        connection.exec_driver_sql(
            "UPDATE phoenix_events SET locked_until = NULL WHERE status = 'failed'"
        )


def test_a_save_refused_for_one_user_fails_that_users_events_only(store_url: str) -> None:
    # The default settings (with the retry backoff of 2 s and 5 attempts).
    settings = make_settings(store_url, event_retry_backoff_seconds=2)
    container = open_flywheel(settings, migrate=True)
    try:
        container.journeys()  # its tables exist from here on
        refuse_journey_of(container, "user-7")
        per_user = publish_good_events(container, events=400, users=40)
        started = time.perf_counter()
        summary = asyncio.run(container.processor().drain())
        print(f"failing save: fault to drained in {time.perf_counter() - started:.2f} s")
        guilty = per_user.pop("user-7")
        # One drain did it all: the innocent events were not held back with the guilty,
        # and the drain itself did not fail (the worker would have paused).
        assert (summary.processed, summary.dead) == (400 - guilty, 0)
        assert summary.failed >= guilty  # a slow drain may see a first retry come due
        rows = rows_by_user(container)
        assert {status for status, _, _ in rows["user-7"]} == {"failed"}
        innocent = {r for user, found in rows.items() if user != "user-7" for r in found}
        assert {(status, attempts) for status, attempts, _ in innocent} == {("processed", 1)}
        assert entries_per_user(container) == dict(per_user)
        for _ in range(settings.event_max_attempts - 1):
            retries_due_now(container)
            asyncio.run(container.processor().drain())
        for status, attempts, error in rows_by_user(container)["user-7"]:
            assert (status, attempts) == ("dead", 5)
            assert "save failed: " in (error or "")
            assert "journeys of user-7 are refused here" in (error or "")
    finally:
        close_flywheel(container)
