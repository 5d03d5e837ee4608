"""A rule's dry-run over a history built from known events, on SQLite and PostgreSQL:
through the application, the command line and the HTTP API, writing nothing."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select

from src.adapters.sql.tables import events, nudges
from src.adapters.sqlalchemy_event_history import SqlAlchemyEventHistory
from src.application.dry_run import RuleDryRun
from src.entrypoints.bootstrap import Container, build_container, close_flywheel, prepare_store
from src.entrypoints.cli.commands import main
from src.entrypoints.http import create_app
from tests.conftest import make_settings

NOW = datetime.now(UTC)
RULE_FILE = """
[letter_bursts]
shown_in = "phoenix-letters"
target_app = "phoenix-cv"
converts_on = ["cv.uploaded"]

[[letter_bursts.when]]
count = ["letter.generated"]
at_least = 2
within_days = 7
"""


def emit(container: Container, event_type: str, app: str, user: str, days_ago: float) -> None:
    at = (NOW - timedelta(days=days_ago)).isoformat()
    container.ingestion().publish(
        [
            {
                "event_type": event_type,
                "app_source": app,
                "user_id": user,
                "timestamp": at,
                "idempotency_key": f"{event_type}-{days_ago}",
            }
        ]
    )


@pytest.fixture
def history(store_url: str) -> Iterator[Container]:
    """10 letter writers (two letters each, a day apart) who never had a CV then, 5 of
    whom uploaded one later; 3 CV users who wrote letters after; 1 writer too old."""
    container = build_container(make_settings(store_url))
    prepare_store(container, migrate=True)
    try:
        for n in range(10):
            start = 60 - 4 * n
            emit(container, "letter.generated", "phoenix-letters", f"writer-{n}", start)
            emit(container, "letter.generated", "phoenix-letters", f"writer-{n}", start - 1)
            if n % 2 == 0:
                emit(container, "cv.uploaded", "phoenix-cv", f"writer-{n}", start - 2)
        for n in range(3):
            emit(container, "cv.uploaded", "phoenix-cv", f"cv-first-{n}", 30)
            emit(container, "letter.generated", "phoenix-letters", f"cv-first-{n}", 29)
        emit(container, "letter.generated", "phoenix-letters", "old-writer", 200)
        asyncio.run(container.processor().drain())
        yield container
    finally:
        close_flywheel(container)


def counts(container: Container) -> tuple[int, int]:
    with container.engine().connect() as connection:
        return (
            connection.execute(select(func.count()).select_from(events)).scalar_one(),
            connection.execute(select(func.count()).select_from(nudges)).scalar_one(),
        )


def test_ten_would_match_five_acted_later_and_nothing_is_written(history: Container) -> None:
    before = counts(history)
    report = history.dry_run().dry_run("letters_to_cv", 90)
    assert report.would_target == 10
    assert report.converted_after == 5
    assert report.already_targeted == 10  # the live rule nudged them too
    assert sum(week.would_target for week in report.weeks) == 10
    assert sum(week.converted_after for week in report.weeks) == 5
    assert len(report.weeks) > 1
    assert counts(history) == before


def test_small_pages_split_users_across_batches_and_give_the_same_figures(
    history: Container,
) -> None:
    seen: list[int] = []
    rests: list[float] = []
    dry_run = RuleDryRun(
        history.catalogue(),
        SqlAlchemyEventHistory(history.engine(), batch_size=3),
        history.clock(),
        rest=rests.append,
    )
    report = dry_run.dry_run("letters_to_cv", 90, progress=lambda n, _users: seen.append(n))
    assert (report.would_target, report.converted_after) == (10, 5)
    assert len(seen) > 5
    assert seen[-1] == report.events_scanned
    # It rests after each page, as long as it worked on it, leaving the workers room.
    assert len(rests) == len(seen)
    assert all(pause > 0 for pause in rests)


def test_only_the_period_is_replayed_as_if_the_rule_started_with_it(history: Container) -> None:
    report = history.dry_run().dry_run("letters_to_cv", 30)
    # Writers 8 and 9 (from 28 and 24 days ago); the three CV users' CVs are 30 days old,
    # just before the period, so their letters look like those of users without a CV.
    assert report.would_target == 5
    assert report.events_scanned < history.dry_run().dry_run("letters_to_cv", 90).events_scanned


def test_a_rule_from_a_file_not_deployed_is_replayed(
    history: Container,
    store_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "rule.toml"
    path.write_text(RULE_FILE, encoding="utf-8")
    monkeypatch.setenv("DATABASE_URL", store_url)
    capsys.readouterr()
    args = ["rules", "dry-run", "letter_bursts", "--rule-file", str(path), "--json"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert (report["would_target"], report["converted_after"]) == (10, 5)
    assert report["already_targeted"] == 0
    assert "replaying:" in err


def test_the_command_line_prints_a_table_and_refuses_bad_input(
    history: Container,
    store_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", store_url)
    capsys.readouterr()
    assert main(["rules", "dry-run", "letters_to_cv"]) == 0
    out = capsys.readouterr().out
    assert "would target 10 users, 10 already nudged by the live rule, 5 did" in out
    assert main(["rules", "dry-run", "no_such_rule"]) == 2
    err = capsys.readouterr().err
    assert "unknown nudge type 'no_such_rule'" in err
    assert "letters_to_cv" in err
    assert main(["rules", "dry-run", "letters_to_cv", "--days", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: days: ")
    bad = tmp_path / "bad.toml"
    bad.write_text(RULE_FILE.replace("at_least = 2", "at_least = 0"), encoding="utf-8")
    assert main(["rules", "dry-run", "letter_bursts", "--rule-file", str(bad)]) == 2
    assert "rules.letter_bursts.when.0.at_least" in capsys.readouterr().err
    unknown = tmp_path / "unknown.toml"
    unknown.write_text(RULE_FILE.replace('["cv.uploaded"]', '["cv.lost"]'), encoding="utf-8")
    assert main(["rules", "dry-run", "letter_bursts", "--rule-file", str(unknown)]) == 2
    assert "unknown event type 'cv.lost'" in capsys.readouterr().err


def test_the_http_api_answers_the_same_and_names_unknown_nudge_types(
    history: Container, store_url: str
) -> None:
    with TestClient(create_app(make_settings(store_url), run_worker=False)) as client:
        deadline = time.monotonic() + 30
        while client.get("/api/events/queue-status").status_code != 200:
            assert time.monotonic() < deadline, "the store never opened"
            time.sleep(0.05)
        response = client.get("/api/rules/letters_to_cv/dry-run?days=90")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert (body["would_target"], body["converted_after"]) == (10, 5)
        assert sum(week["would_target"] for week in body["weeks"]) == 10
        missing = client.get("/api/rules/no_such_rule/dry-run")
        assert missing.status_code == 404
        assert "letters_to_cv" in missing.json()["error"]
        bad = client.get("/api/rules/letters_to_cv/dry-run?days=0")
        assert bad.status_code == 400
        assert bad.json()["field"] == "days"
