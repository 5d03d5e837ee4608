"""The command line on bad input and at the edges of its life: exit 2 naming the field,
a clear message for a wrong ``DATABASE_URL`` or a port in use, a worker that waits for
its store at start, and a stop that says what is left."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from src.domain.events import MAX_PAYLOAD_DEPTH
from src.entrypoints.cli.commands import main
from tests.integration.workers import (
    ROOT,
    fill_backlog,
    processed_count,
    scalar,
    start_worker,
    stop_worker,
    wait_until,
)
from tests.pgbouncer import free_port, pgbouncer, require_pgbouncer


@pytest.fixture
def store(store_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", store_url)
    assert main(["migrate"]) == 0
    return store_url


def nested(levels: int) -> str:
    return '{"a":' * (levels - 1) + "{}" + "}" * (levels - 1)


EMIT = ["emit", "cv.uploaded", "--app", "phoenix-cv"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([*EMIT, "--user", "u", "--payload", "null"], "payload: must be a JSON object, not null"),
        ([*EMIT, "--user", "u\x01\u0000"[1:]], "user_id: contains a NUL character"),
        ([*EMIT, "--user", "team/alice"], "user_id: must not contain '/'"),
        ([*EMIT, "--user", "u", "--payload", '{"n": "a\\u0000"}'], "payload: contains a NUL"),
        ([*EMIT, "--user", "u", "--payload", '{"n": "\\ud800"}'], "lone UTF-16 surrogate"),
        (
            [*EMIT, "--user", "u", "--payload", nested(MAX_PAYLOAD_DEPTH + 1)],
            f"nested more than {MAX_PAYLOAD_DEPTH} levels",
        ),
        (
            [*EMIT, "--user", "u", "--payload", nested(100_000)],
            f"nested more than {MAX_PAYLOAD_DEPTH} levels",
        ),
        (
            [*EMIT, "--user", "u", "--payolad", "{}"],
            "unknown option --payolad for phoenix-flywheel emit (did you mean --payload?)",
        ),
        ([*EMIT, "--user", "u", "--kye=k"], "unknown option --kye for phoenix-flywheel emit"),
        (
            [*EMIT, "--user", "u", "--payload", '{"n": [' + "7" * 4301 + "]}"],
            "payload.n.0: is an integer of 4301 digits",
        ),
        ([*EMIT, "--user", "u", "--payload", '{"n": NaN}'], "payload.n: NaN is not a JSON"),
        ([*EMIT, "--user", "u", "--payload", '{"n": -1e999}'], "payload.n: -1e999 is a number"),
    ],
)
def test_bad_input_exits_2_naming_the_field_on_both_stores(
    store: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert main(["status"]) == 0
    assert json.loads(capsys.readouterr().out)["pending"] == 0


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:///", "error: DATABASE_URL: an SQLite store needs a file"),
        ("postgresql://u:secret@host:port/db", "error: DATABASE_URL is not a database URL"),
    ],
)
def test_a_database_url_that_names_no_store_is_a_clear_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str, message: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message)
    assert "secret" not in err
    assert "Traceback" not in err


def cli(*args: str, cwd: Path, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    environment["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "src.entrypoints.cli", *args],
        cwd=cwd,
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_serve_on_a_port_in_use_says_so_exits_3_and_creates_no_store(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", "--host", "127.0.0.1", "--port", str(port), cwd=tmp_path)
    assert result.returncode == 3
    assert result.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}: ")
    assert "Address already in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == [], "serve created files before failing"


@pytest.mark.postgres
def test_a_worker_started_while_the_store_is_down_waits_for_it_and_then_drains(
    postgres_url: str,
) -> None:
    require_pgbouncer()
    fill_backlog(postgres_url, events=50, users=10)
    port = free_port()  # nothing listens here yet: the store is "down"
    database = postgres_url.rpartition("/")[2]
    pooled = f"postgresql://postgres@127.0.0.1:{port}/{database}?pooler=transaction"
    worker = start_worker(pooled, LOG_LEVEL="INFO", POLL_INTERVAL_SECONDS="0.5")
    try:
        time.sleep(3)
        assert worker.poll() is None, "the worker died while the store was down"
        with pgbouncer(postgres_url, port):
            wait_until(lambda: processed_count(postgres_url) == 50, 60, "the backlog drained")
            log = stop_worker(worker)
    finally:
        if worker.poll() is None:
            stop_worker(worker)
    assert worker.returncode == 0
    assert "store not ready at start, retrying in 0.5s" in log, log[-3000:]
    assert "cannot reach the store at postgresql://postgres@127.0.0.1:" in log
    assert "Traceback" not in log, log[-3000:]


@pytest.mark.postgres
def test_sigterm_mid_backlog_logs_what_is_left_not_queue_drained(postgres_url: str) -> None:
    fill_backlog(postgres_url, events=3000, users=200)
    worker = start_worker(postgres_url, LOG_LEVEL="INFO", EVENT_BATCH_SIZE="20")
    wait_until(lambda: processed_count(postgres_url) >= 100, 120, "the drain to start")
    log = stop_worker(worker)
    assert worker.returncode == 0
    left = scalar(postgres_url, "SELECT count(*) FROM phoenix_events WHERE status = 'pending'")
    assert left > 0, "the backlog drained before the stop: nothing was tested"
    assert f"worker stopping with {left} events pending" in log, log[-3000:]
    assert "queue drained" not in log


def drain_after_an_outage(
    postgres_url: str, *, outage: float, open_first: bool
) -> tuple[float, str]:
    """Seconds from the store's return to a drained backlog of 20, and the worker's log.

    With ``open_first`` the worker opened the store and drained before the outage; else
    it starts during the outage. The store is away long enough for the worker's pause to
    grow past 8 s; without a probe it would sleep it out.
    """
    require_pgbouncer()
    fill_backlog(postgres_url, events=20, users=5)
    port = free_port()
    database = postgres_url.rpartition("/")[2]
    pooled = f"postgresql://postgres@127.0.0.1:{port}/{database}?pooler=transaction"
    if open_first:
        with pgbouncer(postgres_url, port):
            worker = start_worker(pooled, LOG_LEVEL="INFO", POLL_INTERVAL_SECONDS="1")
            wait_until(lambda: processed_count(postgres_url) == 20, 60, "the first drain")
    else:
        worker = start_worker(pooled, LOG_LEVEL="INFO", POLL_INTERVAL_SECONDS="1")
    try:
        time.sleep(outage)
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            # Already folded: the journeys ignore them, the rows only need processing again.
            connection.execute("UPDATE phoenix_events SET status = 'pending'")
        with pgbouncer(postgres_url, port):
            back = time.monotonic()
            wait_until(lambda: processed_count(postgres_url) == 20, 60, "the backlog drained")
            recovery = time.monotonic() - back
            log = stop_worker(worker)
    finally:
        if worker.poll() is None:
            stop_worker(worker)
    print(f"drained {recovery:.1f}s after the store came back")
    assert worker.returncode == 0
    assert "Traceback" not in log, log[-3000:]
    return recovery, log


@pytest.mark.postgres
def test_a_running_worker_drains_within_seconds_of_the_store_coming_back(
    postgres_url: str,
) -> None:
    recovery, log = drain_after_an_outage(postgres_url, outage=20, open_first=True)
    assert "worker drain failed, retrying" in log, log[-3000:]
    assert "store answers again; draining now" in log, log[-3000:]
    assert recovery < 6, f"{recovery:.1f}s"


@pytest.mark.postgres
def test_a_worker_waiting_at_start_opens_within_seconds_of_the_store_coming_back(
    postgres_url: str,
) -> None:
    recovery, log = drain_after_an_outage(postgres_url, outage=20, open_first=False)
    assert "store not ready at start, retrying in 8s" in log, log[-3000:]
    assert "store answers; opening it now" in log, log[-3000:]
    assert recovery < 6, f"{recovery:.1f}s"
