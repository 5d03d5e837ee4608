"""Real worker processes on one PostgreSQL: sharing the queue, crashes, lost connections."""

from __future__ import annotations

import signal

import psycopg
import pytest

from tests.conftest import ADMIN_URL
from tests.integration.workers import (
    assert_exactly_once,
    fill_backlog,
    processed_count,
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


def test_a_worker_killed_mid_drain_loses_and_doubles_nothing(postgres_url: str) -> None:
    per_user = fill_backlog(postgres_url, events=5000, users=400)
    lease = {"EVENT_LEASE_SECONDS": "3", "EVENT_PROCESSING_TIMEOUT": "1"}
    victim = start_worker(postgres_url, **lease)
    try:
        wait_until(lambda: processed_count(postgres_url) >= 1000, 240, "a first 1000 events")
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
    left = 5000 - processed_count(postgres_url)
    assert left > 0, "the worker finished before it could be killed; make the backlog larger"
    survivor = start_worker(postgres_url, **lease)
    try:
        wait_until(lambda: processed_count(postgres_url) == 5000, 240, "the rest processed")
    finally:
        stop_worker(survivor)
    assert_exactly_once(postgres_url, per_user)


def test_a_worker_reconnects_after_its_connections_are_cut(postgres_url: str) -> None:
    per_user = fill_backlog(postgres_url, events=4000, users=300)
    database = postgres_url.rpartition("/")[2]
    worker = start_worker(postgres_url, EVENT_LEASE_SECONDS="3", EVENT_PROCESSING_TIMEOUT="1")
    try:
        wait_until(lambda: processed_count(postgres_url) >= 500, 240, "the drain to start")
        # What a server restart does to a client: every connection dies mid-work.
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            cut = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            ).fetchone()
        assert cut is not None
        assert cut[0] >= 1
        wait_until(lambda: processed_count(postgres_url) == 4000, 240, "the drain to finish")
    finally:
        log = stop_worker(worker)
    assert "Traceback" not in log, log[-5000:]
    assert worker.returncode == 0
    assert_exactly_once(postgres_url, per_user)


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
