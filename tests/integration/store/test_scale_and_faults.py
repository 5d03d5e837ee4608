"""Real worker processes on one PostgreSQL: sharing the queue, crashes, lost connections."""

from __future__ import annotations

import signal
import time

import psycopg
import pytest

from tests.conftest import ADMIN_URL
from tests.integration.workers import (
    assert_exactly_once,
    fill_backlog,
    processed_count,
    scalar,
    start_worker,
    stop_worker,
    wait_until,
)

pytestmark = pytest.mark.postgres


def test_three_workers_share_the_queue_and_count_each_event_once(postgres_url: str) -> None:
    per_user = fill_backlog(postgres_url, events=3000, users=150)
    workers = [start_worker(postgres_url, EVENT_BATCH_SIZE="50") for _ in range(3)]
    try:
        wait_until(lambda: processed_count(postgres_url) == 3000, 240, "3000 events processed")
    finally:
        errors = [stop_worker(worker) for worker in workers]
    assert_exactly_once(postgres_url, per_user)
    assert all("Traceback" not in err for err in errors), errors


# The recovery target with the default settings, from the restart of a killed worker or
# the return of the database to an empty queue.
RECOVERY_TARGET_SECONDS = 30
# The defaults a deployment runs with (start_worker polls faster unless told).
DEFAULTS = {"POLL_INTERVAL_SECONDS": "2"}


def test_a_worker_killed_mid_drain_is_replaced_within_seconds(postgres_url: str) -> None:
    """Default settings: the killed worker's batch returns when nobody renews its lease."""
    per_user = fill_backlog(postgres_url, events=5000, users=400)
    victim = start_worker(postgres_url, **DEFAULTS)
    try:
        wait_until(lambda: processed_count(postgres_url) >= 1000, 240, "a first 1000 events")
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
    left = 5000 - processed_count(postgres_url)
    assert left > 0, "the worker finished before it could be killed; make the backlog larger"
    restarted_at = time.monotonic()
    survivor = start_worker(postgres_url, **DEFAULTS)
    try:
        wait_until(
            lambda: processed_count(postgres_url) == 5000,
            RECOVERY_TARGET_SECONDS,
            f"the {left} events left drained within {RECOVERY_TARGET_SECONDS} s of the restart",
        )
        print(
            f"SIGKILL mid-drain: {left} events left, drained "
            f"{time.monotonic() - restarted_at:.1f} s after the restart"
        )
    finally:
        stop_worker(survivor)
    assert_exactly_once(postgres_url, per_user)


def cut_connections(database: str, seconds: float) -> int:
    """Terminate every backend of ``database``, again and again for ``seconds``."""
    cut = 0
    deadline = time.monotonic() + seconds
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        while time.monotonic() < deadline:
            row = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            ).fetchone()
            cut += row[0] if row else 0
            time.sleep(0.05)
    return cut


def test_the_queue_flows_again_soon_after_the_database_returns(postgres_url: str) -> None:
    """A database restart mid-drain, as the worker lives it, with the default settings.

    Other tests share this PostgreSQL server, so the cluster itself is not restarted: every
    backend of the test's database is terminated, over and over for five seconds, which
    is what a restart does to the worker's connections (the claim of a batch committed,
    its save cut off, reconnections refused). The worker gives back the batches it lost
    track of as soon as the database answers again, whole and uncounted: an outage is
    no event's fault, so no batch is saved in parts and no attempt is counted.
    """
    per_user = fill_backlog(postgres_url, events=5000, users=400)
    database = postgres_url.rpartition("/")[2]
    worker = start_worker(postgres_url, **DEFAULTS)
    try:
        wait_until(lambda: processed_count(postgres_url) >= 500, 240, "the drain to start")
        assert cut_connections(database, seconds=5) >= 1
        returned_at = time.monotonic()
        left = 5000 - processed_count(postgres_url)
        wait_until(
            lambda: processed_count(postgres_url) == 5000,
            RECOVERY_TARGET_SECONDS,
            f"the backlog drained within {RECOVERY_TARGET_SECONDS} s of the database's return",
        )
        print(
            f"database cut off for 5 s mid-drain: {left} events left, drained "
            f"{time.monotonic() - returned_at:.1f} s after its return"
        )
    finally:
        log = stop_worker(worker)
    assert "Traceback" not in log, log[-5000:]
    assert "saving it in parts" not in log, log[-5000:]
    assert worker.returncode == 0
    assert_exactly_once(postgres_url, per_user)
    assert scalar(postgres_url, "SELECT max(attempts) FROM phoenix_events") == 1


def test_sigterm_lets_the_worker_finish_its_batch_and_stop(postgres_url: str) -> None:
    fill_backlog(postgres_url, events=2000, users=100)
    worker = start_worker(postgres_url, EVENT_BATCH_SIZE="50")
    wait_until(lambda: processed_count(postgres_url) >= 100, 240, "the drain to start")
    stop_worker(worker)
    assert worker.returncode == 0
    with psycopg.connect(postgres_url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM phoenix_events WHERE status = 'processing'"
        ).fetchone()
    assert row == (0,), "a stopped worker left events leased"


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS line")


def test_a_100k_backlog_drains_with_flat_memory(postgres_url: str) -> None:
    total = 100_000
    per_user = fill_backlog(postgres_url, events=total, users=20_000)
    worker = start_worker(postgres_url, EVENT_BATCH_SIZE="200")
    samples: list[tuple[int, float]] = []

    def sample() -> bool:
        done = processed_count(postgres_url)
        samples.append((done, rss_mib(worker.pid)))
        return done == total

    try:
        wait_until(sample, 900, "100,000 events processed")
    finally:
        stop_worker(worker)
    assert_exactly_once(postgres_url, per_user)
    halfway = max(rss for done, rss in samples if done <= total // 2)
    peak = max(rss for _, rss in samples)
    print(f"worker RSS: {halfway:.0f} MiB at half the backlog, peak {peak:.0f} MiB")
    # The journey cache is bounded (by bytes); the second half must not grow memory
    # beyond what the journeys themselves gain.
    assert peak - halfway < 40, f"RSS grew from {halfway:.0f} MiB to {peak:.0f} MiB"
