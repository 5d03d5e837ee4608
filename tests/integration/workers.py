"""Helpers for tests that run real worker processes against PostgreSQL."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

import psycopg

from src.domain.user_journey import journey_id
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]
KINDS = (
    ("letter.generated", "phoenix-letters"),
    ("job_offer.analyzed", "phoenix-letters"),
    ("cv.uploaded", "phoenix-cv"),
    ("cv.generated", "phoenix-cv"),
)


def fill_backlog(
    url: str, events: int, users: int, seed: int = 11, victim: str | None = None, every: int = 11
) -> Counter[str]:
    """Store ``events`` pending events over ``users`` users; returns the count per user.

    With a ``victim``, every ``every``-th event is a CV event of theirs: CV activity and no
    letters, the user a ``cv_to_letters`` nudge is for.
    """
    rng = random.Random(seed)
    per_user: Counter[str] = Counter()
    rows: list[dict[str, object]] = []
    for index in range(events):
        event_type, app = rng.choice(KINDS)
        user = f"user-{rng.randrange(users)}"
        if victim is not None and index % every == every - 1:
            event_type, app, user = (*rng.choice(KINDS[2:]), victim)
        per_user[user] += 1
        rows.append(
            {
                "event_type": event_type,
                "app_source": app,
                "user_id": user,
                "payload": {"n": index},
                "idempotency_key": f"k{index}",
            }
        )
    container = open_flywheel(make_settings(url), migrate=True)
    try:
        for start in range(0, len(rows), 1000):
            container.ingestion().publish(rows[start : start + 1000])
    finally:
        close_flywheel(container)
    return per_user


def start_worker(url: str, **settings: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "POLL_INTERVAL_SECONDS": "0.2",
        "LOG_LEVEL": "WARNING",
        **settings,
    }
    # Logs go to a file: a pipe nobody reads until the end fills up and blocks the worker.
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop_worker
    process = subprocess.Popen(
        [sys.executable, "-m", "src.entrypoints.cli", "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    _logs[process.pid] = log
    return process


_logs: dict[int, IO[bytes]] = {}


def logged(worker: subprocess.Popen[bytes], text: str, timeout: float) -> bool:
    """Whether the running worker's log shows ``text`` within ``timeout`` seconds."""
    log = _logs[worker.pid]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log.seek(0)
        if text in log.read().decode(errors="replace"):
            return True
        time.sleep(0.2)
    return False


def stop_worker(worker: subprocess.Popen[bytes]) -> str:
    """SIGTERM, then the worker's log; SIGKILL if it does not stop in time."""
    if worker.poll() is None:
        worker.send_signal(signal.SIGCONT)  # a stalled worker handles nothing until then
        worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
    log = _logs.pop(worker.pid)
    log.seek(0)
    text = log.read().decode(errors="replace")
    log.close()
    return text


def scalar(url: str, sql: str, **params: object) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute(sql, params or None).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


APPLIED_PAIRS = "phoenix_private.phoenix_applied_events"
MENTIONS = {
    "phoenix_events": "user_id = %(user)s",
    "phoenix_journey_entries": "user_id = %(user)s",
    "phoenix_nudges": "user_id = %(user)s",
    "phoenix_nudges_sent": "user_id = %(user)s",
    APPLIED_PAIRS: "user_id = %(user)s",
    "phoenix_private.phoenixjourneys_events": "originator_id = %(journey)s",
    "phoenix_private.phoenixjourneys_snapshots": "originator_id = %(journey)s",
}
"""Where a user is mentioned: every table, and the condition that finds their rows."""


def mentions(url: str, user: str, applied_pairs: str = APPLIED_PAIRS) -> dict[str, int]:
    """The rows of each table that are about ``user`` (the applied pairs in ``applied_pairs``)."""
    tables = {applied_pairs if t == APPLIED_PAIRS else t: where for t, where in MENTIONS.items()}
    return {
        table: scalar(
            url,
            f"SELECT count(*) FROM {table} WHERE {where}",  # noqa: S608 - names written above
            user=user,
            journey=journey_id(user),
        )
        for table, where in tables.items()
    }


def worker_pid(holder: str) -> int:
    """The process a batch's holder names (``host-pid-suffix:batch``)."""
    return int(holder.rpartition(":")[0].rsplit("-", 2)[1])


def stall_a_holder_of(
    url: str, user: str, workers: Sequence[subprocess.Popen[bytes]], timeout: float = 120
) -> tuple[subprocess.Popen[bytes], str, list[int]]:
    """``SIGSTOP`` the worker of a batch holding events of ``user``, before it saves it.

    Returns that worker, the batch's holder and the ids of ``user``'s events it holds.
    A batch that a commit finished just before the stop is let go, and the next caught.
    """
    by_pid = {worker.pid: worker for worker in workers}
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as connection:
        while time.monotonic() < deadline:
            row = connection.execute(
                "SELECT locked_by FROM phoenix_events"
                " WHERE user_id = %s AND status = 'processing' AND locked_by IS NOT NULL LIMIT 1",
                (user,),
            ).fetchone()
            if row is None:
                time.sleep(0.002)
                continue
            holder = str(row[0])
            worker = by_pid[worker_pid(holder)]
            worker.send_signal(signal.SIGSTOP)
            time.sleep(0.5)  # a commit sent just before the stop lands meanwhile
            held = [
                int(found)
                for (found,) in connection.execute(
                    "SELECT id FROM phoenix_events WHERE user_id = %s"
                    " AND status = 'processing' AND locked_by = %s",
                    (user, holder),
                )
            ]
            if held:
                return worker, holder, held
            worker.send_signal(signal.SIGCONT)
    raise AssertionError(f"no batch holding events of {user} was caught in {timeout}s")


def processed_count(url: str) -> int:
    return scalar(url, "SELECT count(*) FROM phoenix_events WHERE status = 'processed'")


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def assert_exactly_once(url: str, per_user: Counter[str]) -> None:
    """Every event processed once: one journey fact per hash, journeys and nudges exact."""
    total = sum(per_user.values())
    with psycopg.connect(url) as connection:
        statuses = dict(
            connection.execute("SELECT status, count(*) FROM phoenix_events GROUP BY status")
        )
        facts = connection.execute(
            """
            SELECT count(*), count(DISTINCT convert_from(state, 'UTF8')::jsonb ->> 'event_hash')
            FROM phoenix_private.phoenixjourneys_events
            WHERE convert_from(state, 'UTF8')::jsonb ? 'event_hash'
            """
        ).fetchone()
        detections = connection.execute(
            """
            SELECT count(*), count(DISTINCT (originator_id,
                   convert_from(state, 'UTF8')::jsonb ->> 'nudge_type'))
            FROM phoenix_private.phoenixjourneys_events
            WHERE convert_from(state, 'UTF8')::jsonb ? 'detected_at'
            """
        ).fetchone()
        entries = dict(
            connection.execute(
                "SELECT user_id, count(*) FROM phoenix_journey_entries GROUP BY user_id"
            )
        )
        nudges = connection.execute("SELECT count(*) FROM phoenix_nudges").fetchone()
        conversions = connection.execute(
            "SELECT count(*) FROM phoenix_private.phoenixjourneys_events"
            " WHERE convert_from(state, 'UTF8')::jsonb ? 'by_event_hash'"
        ).fetchone()
        converted = connection.execute(
            "SELECT count(*) FROM phoenix_nudges WHERE status = 'converted'"
        ).fetchone()
    assert statuses == {"processed": total}
    assert facts == (total, total), "a source event was folded into a journey twice"
    assert detections is not None
    assert detections[0] == detections[1], "a nudge was detected twice"
    assert nudges == (detections[0],)
    assert converted == conversions, "the read model missed or invented a conversion"
    assert entries == dict(per_user)
