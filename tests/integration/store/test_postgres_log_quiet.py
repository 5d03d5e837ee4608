"""Starting the flywheel writes no ERROR into PostgreSQL's log: eventsourcing's row type
is created once, not tried again (and refused) on every start."""

from __future__ import annotations

import glob
import os
import time
from pathlib import Path

import psycopg
import pytest

from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from tests.conftest import make_settings

pytestmark = pytest.mark.postgres
MARKER = "phoenix_log_marker"


def server_log() -> Path:
    """The server's log file, as Debian's clusters write it (``pg_ctlcluster``)."""
    logs = sorted(glob.glob("/var/log/postgresql/postgresql-*-main.log"))
    if not logs or not os.access(logs[-1], os.R_OK):
        pytest.skip("PostgreSQL's log is not readable here (/var/log/postgresql)")
    return Path(logs[-1])


def test_starts_leave_no_error_in_the_server_log(postgres_url: str) -> None:
    log = server_log()
    database = postgres_url.rpartition("/")[2]
    start = log.stat().st_size
    close_flywheel(open_flywheel(make_settings(postgres_url), migrate=True))  # creates it all
    for _ in range(2):  # then starts as a worker or server does
        close_flywheel(open_flywheel(make_settings(postgres_url)))
    # One error of our own, so the test knows it sees this database's lines at all.
    with psycopg.connect(postgres_url) as connection, pytest.raises(psycopg.Error):
        connection.execute(f"SELECT {MARKER}()")
    deadline = time.monotonic() + 10
    while MARKER not in log.read_text(errors="replace")[start:] and time.monotonic() < deadline:
        time.sleep(0.1)
    with log.open("rb") as file:
        file.seek(start)
        written = file.read().decode(errors="replace")
    # Log lines carry the database name (log_line_prefix %d); other sessions write here too.
    ours = [line for line in written.splitlines() if f"@{database} " in line]
    assert any(MARKER in line for line in ours), "this test cannot see our sessions' lines"
    errors = [line for line in ours if "ERROR:" in line and MARKER not in line]
    assert errors == []
