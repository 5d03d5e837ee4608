"""``process --max-seconds S`` and ``process --max-events N``: bounded runs for job runners.

A limit or SIGTERM stops the run between batches: the batch in hand finishes, the run
exits 0 and says what remains. A bad value is exit 2 naming the flag, nothing written.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from src.adapters.sql.tables import events
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from src.entrypoints.cli.commands import main
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[3]
PLUGINS = ROOT / "tests" / "e2e" / "plugins"


def backlog(url: str, count: int) -> None:
    """``count`` pending events, each of a user of its own (no user waits for another)."""
    container = open_flywheel(make_settings(url), migrate=True)
    try:
        container.ingestion().publish(
            [
                {"event_type": "cv.uploaded", "app_source": "phoenix-cv", "user_id": f"u{n}"}
                for n in range(count)
            ]
        )
    finally:
        close_flywheel(container)


def by_status(url: str) -> dict[str, int]:
    container = open_flywheel(make_settings(url))
    try:
        with container.engine().connect() as connection:
            rows = connection.execute(
                select(events.c.status, func.count()).group_by(events.c.status)
            ).all()
    finally:
        close_flywheel(container)
    return {str(status): int(count) for status, count in rows}


def paced_process(url: str, *args: str, pace: float) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "EVENT_BATCH_SIZE": "5",
        "PYTHONPATH": str(PLUGINS),
        "EVENT_ANALYSERS": "paced_analyser:PacedAnalyser",
        "PACED_ANALYSER_SECONDS": str(pace),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "src.entrypoints.cli", "process", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_max_events_claims_no_more_and_says_what_remains(
    store_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    backlog(store_url, 12)
    monkeypatch.setenv("DATABASE_URL", store_url)
    monkeypatch.setenv("EVENT_BATCH_SIZE", "5")
    assert main(["process", "--max-events", "7"]) == 0
    out = capsys.readouterr().out
    # Batches of 5 then 2: the last batch is claimed smaller, never beyond the bound.
    assert "processed 7, duplicates 0" in out
    assert "stopped by --max-events 7: 5 events remain (pending 5," in out
    assert by_status(store_url) == {"processed": 7, "pending": 5}
    assert main(["process", "--max-events", "100"]) == 0
    out = capsys.readouterr().out
    assert "processed 5," in out
    assert "stopped by" not in out  # the queue ran dry first
    assert by_status(store_url) == {"processed": 12}


def test_max_seconds_stops_between_batches(store_url: str) -> None:
    backlog(store_url, 60)
    run = paced_process(store_url, "--max-seconds", "1", pace=0.25)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 0, err
    assert "stopped by --max-seconds 1: " in out, out
    counts = by_status(store_url)
    # Some batches ran; none was cut: every event is processed or still pending.
    assert set(counts) == {"processed", "pending"}, counts
    assert counts["processed"] % 5 == 0
    assert 5 <= counts["processed"] < 60
    assert f"events remain (pending {counts['pending']}," in out


@pytest.mark.postgres
def test_sigterm_finishes_the_batch_in_hand_and_exits_0(postgres_url: str) -> None:
    backlog(postgres_url, 200)
    run = paced_process(postgres_url, pace=0.5)
    deadline = time.monotonic() + 30
    while by_status(postgres_url).get("processing", 0) == 0:
        assert time.monotonic() < deadline, "the run never claimed a batch"
        time.sleep(0.05)
    run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=30)
    assert run.returncode == 0, err
    assert "stopped by SIGTERM: " in out, out
    counts = by_status(postgres_url)
    # The batch in hand was finished and saved, not dropped back into the queue.
    assert "processing" not in counts, counts
    assert counts["processed"] % 5 == 0, counts
    assert 5 <= counts["processed"] < 200, counts


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--max-seconds", "0"], "--max-seconds"),
        (["--max-seconds", "-3"], "--max-seconds"),
        (["--max-seconds", "soon"], "--max-seconds"),
        (["--max-seconds", "nan"], "--max-seconds"),
        (["--max-events", "0"], "--max-events"),
        (["--max-events", "2.5"], "--max-events"),
        (["--max-events", "many"], "--max-events"),
    ],
)
def test_a_bad_limit_is_exit_2_naming_the_flag_and_nothing_is_written(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    flag: str,
) -> None:
    store = tmp_path / "flywheel.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{store}")
    with pytest.raises(SystemExit) as exited:
        main(["process", *args])
    assert exited.value.code == 2
    assert f"argument {flag}: must be" in capsys.readouterr().err
    assert not store.exists()
