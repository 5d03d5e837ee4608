"""The command line on a real store: exit codes, messages, and nothing written on bad input."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, inspect

from src.adapters.sql.database import sqlalchemy_url
from src.entrypoints.cli.commands import main


@pytest.fixture
def store(store_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", store_url)
    monkeypatch.setenv("EVENT_RETRY_BACKOFF_SECONDS", "0")
    assert main(["migrate"]) == 0
    return store_url


def status(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    assert main(["status"]) == 0
    result: dict[str, object] = json.loads(capsys.readouterr().out)
    return result


def test_emit_process_status(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emit", "letter.generated", "--app", "phoenix-letters", "--user", "u1"]) == 0
    assert main(["emit", "letter.generated", "--app", "phoenix-letters", "--user", "u1"]) == 0
    out = capsys.readouterr().out
    assert "accepted letter.generated for u1 (hash: " in out
    assert "duplicate: event already recorded (hash: " in out
    assert status(capsys)["pending"] == 1
    assert main(["process"]) == 0
    assert "processed 1, duplicates 0, failed 0 (will retry), dead 0" in capsys.readouterr().out
    assert status(capsys) == {
        "pending": 0,
        "processing": 0,
        "processed": 1,
        "duplicates": 0,
        "failed": 0,
        "dead": 0,
        "oldest_pending_age_seconds": None,
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["emit", "letter.sent", "--app", "phoenix-letters", "--user", "u1"],
            "event_type: unknown",
        ),
        (["emit", "cv.uploaded", "--app", "phoenix-mail", "--user", "u1"], "app_source: unknown"),
        (["emit", "cv.uploaded", "--app", "phoenix-cv", "--user", ""], "user_id: a non-empty"),
        (
            ["emit", "cv.uploaded", "--app", "phoenix-cv", "--user", "u", "--payload", "[1]"],
            "JSON object",
        ),
        (
            ["emit", "cv.uploaded", "--app", "phoenix-cv", "--user", "u", "--payload", "{"],
            "not valid JSON",
        ),
        (
            [
                "emit",
                "cv.uploaded",
                "--app",
                "phoenix-cv",
                "--user",
                "u",
                "--payload",
                json.dumps({"t": "x" * 70_000}),
            ],
            "over the 65536-byte limit",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_field_and_writes_nothing(
    store: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.startswith("error: ")
    assert len(err.strip().splitlines()) == 1
    assert status(capsys)["pending"] == 0


def test_migrate_twice_changes_nothing(store: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emit", "cv.uploaded", "--app", "phoenix-cv", "--user", "u1"]) == 0
    assert main(["migrate"]) == 0
    assert status(capsys)["pending"] == 1


def test_an_unreachable_store_is_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres:secret@127.0.0.1:9/nowhere")
    assert main(["status"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach the store at postgresql://postgres:***@127.0.0.1:9")
    assert "secret" not in err
    assert "Traceback" not in err


@pytest.mark.postgres
def test_an_unmigrated_postgres_says_to_run_migrate(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    assert main(["process"]) == 1
    assert "run `phoenix-flywheel migrate`" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DATABASE_URL", "mysql://x", "DATABASE_URL must start with"),
        ("EVENT_CONCURRENCY", "0", "EVENT_CONCURRENCY"),
        ("EVENT_BATCH_SIZE", "many", "EVENT_BATCH_SIZE"),
        ("EVENT_LEASE_SECONDS", "0.5", "EVENT_LEASE_SECONDS"),
    ],
)
def test_a_wrong_setting_names_itself(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(name, value)
    assert main(["status"]) == 2
    assert message in capsys.readouterr().err


def test_migrate_adds_an_index_a_newer_version_brought_to_an_existing_table(
    store: str,
) -> None:
    assert main(["migrate"]) == 0
    engine = create_engine(sqlalchemy_url(store))
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP INDEX ix_phoenix_events_processed_at")
        assert main(["migrate"]) == 0
        indexes = {index["name"] for index in inspect(engine).get_indexes("phoenix_events")}
    finally:
        engine.dispose()
    assert "ix_phoenix_events_processed_at" in indexes


def test_migrate_drops_the_index_an_older_version_made_that_every_write_paid_for(
    store: str,
) -> None:
    assert main(["migrate"]) == 0
    engine = create_engine(sqlalchemy_url(store))
    try:
        with engine.begin() as connection:  # as the version before them left them
            connection.exec_driver_sql(
                "CREATE INDEX ix_phoenix_events_user_processing ON phoenix_events (user_id)"
                " WHERE status = 'processing'"
            )
        assert main(["migrate"]) == 0
        assert main(["migrate"]) == 0  # and again: nothing left to drop
        indexes = {index["name"] for index in inspect(engine).get_indexes("phoenix_events")}
    finally:
        engine.dispose()
    assert "ix_phoenix_events_user_processing" not in indexes
    assert "ix_phoenix_events_timestamp" in indexes
    assert "ix_phoenix_events_locked_by" in indexes
