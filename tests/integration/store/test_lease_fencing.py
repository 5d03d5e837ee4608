"""Real worker processes on PostgreSQL: a worker stalled past its lease writes nothing back.

Two workers drain a backlog in which every 11th event is the victim's. The worker holding
a batch of the victim's events is stopped (``SIGSTOP``) until its lease has run out and
the other worker has taken the batch over and finished it; then, in one case, the victim
is forgotten; then the stalled worker goes on (``SIGCONT``). Both cases must come out
exact with the applied-pairs check switched off (``blind_applied_pairs``): fencing is the
first line, the unique key only the second.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import psycopg
import pytest

from tests.integration.workers import (
    ROOT,
    assert_exactly_once,
    fill_backlog,
    logged,
    mentions,
    scalar,
    stall_a_holder_of,
    start_worker,
    stop_worker,
    wait_until,
)

pytestmark = pytest.mark.postgres

VICTIM = "victim-42"
BLIND = "blind-worker"
"""The ``application_name`` of the workers, whose applied-pairs check sees nothing."""


def blind_applied_pairs(url: str) -> None:
    """No unique key on the applied pairs, and the workers' look-up finds none of them.

    The table becomes a view of a copy without its key, empty to sessions named ``BLIND``
    (the workers, through libpq's ``PGAPPNAME``) and whole to the others, so the erasure
    still deletes the pairs through it.
    """
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            "ALTER TABLE phoenix_private.phoenix_applied_events RENAME TO applied_kept;"
            " ALTER TABLE phoenix_private.applied_kept"
            " DROP CONSTRAINT phoenix_applied_events_pkey;"
            " CREATE VIEW phoenix_private.phoenix_applied_events AS"
            " SELECT * FROM phoenix_private.applied_kept"
            " WHERE current_setting('application_name') <> 'blind-worker'"
        )


def processed(url: str, ids: list[int]) -> int:
    return scalar(
        url,
        "SELECT count(*) FROM phoenix_events WHERE id = ANY(%(ids)s) AND status = 'processed'",
        ids=ids,
    )


def left(url: str) -> int:
    return scalar(url, "SELECT count(*) FROM phoenix_events WHERE status <> 'processed'")


@pytest.mark.parametrize("forget", [False, True], ids=["taken-over", "then-forgotten"])
def test_a_worker_stalled_past_its_lease_writes_nothing_back(
    postgres_url: str, forget: bool
) -> None:
    per_user = fill_backlog(postgres_url, events=2200, users=150, victim=VICTIM)
    blind_applied_pairs(postgres_url)
    settings = {"EVENT_LEASE_SECONDS": "2", "PGAPPNAME": BLIND}
    workers = [start_worker(postgres_url, **settings) for _ in range(2)]
    try:
        stalled, holder, held = stall_a_holder_of(postgres_url, VICTIM, workers)
        wait_until(
            lambda: processed(postgres_url, held) == len(held),
            60,
            "the other worker to take the stalled batch over and finish it",
        )
        if forget:
            erased = subprocess.run(
                [sys.executable, "-m", "src.entrypoints.cli", "forget", VICTIM],
                cwd=ROOT,
                env={**os.environ, "DATABASE_URL": postgres_url},
                capture_output=True,
                check=False,
                timeout=60,
            )
            assert erased.returncode == 0, erased.stderr.decode()
            del per_user[VICTIM]
        stalled.send_signal(signal.SIGCONT)
        wait_until(lambda: left(postgres_url) == 0, 120, "the backlog to drain")
        # Its save comes at once; without fencing it goes through silently.
        logged(stalled, f"holder={holder}", timeout=10)
    finally:
        logs = {worker.pid: stop_worker(worker) for worker in workers}
    if forget:
        found = mentions(postgres_url, VICTIM, applied_pairs="phoenix_private.applied_kept")
        assert found == dict.fromkeys(found, 0)
    assert_exactly_once(postgres_url, per_user)
    stalled_log = logs[stalled.pid]
    assert stalled_log.count("lost its lease") == 1, stalled_log[-3000:]
    assert all("Traceback" not in log for log in logs.values()), logs
