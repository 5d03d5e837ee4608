"""Interrupted test runs leave no database behind, and runs side by side never drop each
other's: a run that gets SIGTERM drops its own on the way out, one killed outright has
its databases dropped by the next run, and a live run's are left alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.conftest import ADMIN_URL

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[3]

HOLDING = """
import os, time
from pathlib import Path

def test_hold(postgres_url):
    Path(os.environ["PF_SWEEP_MARK"]).write_text(postgres_url.rpartition("/")[2])
    time.sleep(300)
"""
PASSING = "def test_nothing():\n    pass\n"
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "tests.databases", "-p", "no:cacheprovider"]


def pytest_run(test_file: Path, **env: str) -> subprocess.Popen[bytes]:
    """A test run of its own, with this repository's fixtures (``tests/databases.py``)."""
    return subprocess.Popen(
        [*PYTEST, str(test_file)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def holding_run(tmp_path: Path, name: str) -> tuple[subprocess.Popen[bytes], str]:
    """A run that created its database and holds it; returns the process and the name."""
    test_file = tmp_path / f"test_{name}.py"
    test_file.write_text(HOLDING)
    mark = tmp_path / f"{name}.mark"
    process = pytest_run(test_file, PF_SWEEP_MARK=str(mark))
    deadline = time.monotonic() + 60
    while not mark.exists() or not mark.read_text():
        assert process.poll() is None, "the holding run ended early"
        assert time.monotonic() < deadline, "the holding run did not start"
        time.sleep(0.1)
    return process, mark.read_text()


def exists(name: str) -> bool:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        row = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


def sweep_by_a_new_run(tmp_path: Path) -> None:
    test_file = tmp_path / "test_passing.py"
    test_file.write_text(PASSING)
    assert pytest_run(test_file).wait(timeout=120) == 0


def test_interrupted_runs_leave_nothing_and_live_runs_keep_theirs(tmp_path: Path) -> None:
    terminated, terminated_db = holding_run(tmp_path, "terminated")
    killed, killed_db = holding_run(tmp_path, "killed")
    try:
        sweep_by_a_new_run(tmp_path)
        assert exists(terminated_db)
        assert exists(killed_db), "a live run's database was dropped by another run"

        terminated.send_signal(signal.SIGTERM)
        terminated.wait(timeout=60)
        assert not exists(terminated_db), "SIGTERM left the run's database behind"

        killed.kill()
        killed.wait(timeout=30)
        assert exists(killed_db)  # nothing can run in a process killed outright...
        sweep_by_a_new_run(tmp_path)
        assert not exists(killed_db)  # ...so the next run drops what it left
    finally:
        for process in (terminated, killed):
            if process.poll() is None:
                process.kill()
                process.wait()
