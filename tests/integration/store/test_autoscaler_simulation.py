"""An autoscaler played on this machine, as KEDA plays it on a cluster.

Events flow in at a steady rate. Every two seconds the "autoscaler" reads the store's
scaling signal (``phoenix_scaling_signal()``, the query of the KEDA trigger) and starts
``worker`` processes, or stops them with SIGTERM, to match ``useful_workers``, capped.
Each worker holds a known pace (an analyser that takes a fixed time per event), so one
worker alone cannot keep up with the inflow, and the cap can.

Then: every event was processed exactly once; no user's events were ever held by two
batches at once (a trigger records each change of an event's holder, with the time of
the change); the backlog stayed bounded while the inflow ran; every worker stopped on
SIGTERM with exit 0; and once the inflow stopped, the queue drained and the workers were
scaled in to zero.
"""

from __future__ import annotations

import itertools
import random
import signal
import subprocess
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from tests.conftest import make_settings
from tests.integration.workers import assert_exactly_once, start_worker, stop_worker

pytestmark = pytest.mark.postgres

PLUGINS = Path(__file__).resolve().parents[2] / "e2e" / "plugins"
CAP = 3
BATCH = 10
# Ten events take two rounds of five at a quarter second each: about 20 events/s a
# worker, so the inflow needs two of them, and the cap gives room to catch up.
PACE_SECONDS = 0.25
INFLOW_PER_SECOND = 24
INFLOW_SECONDS = 20
USERS = 24
AUTOSCALER_PERIOD = 2.0
BACKLOG_BOUND = 15 * INFLOW_PER_SECOND
"""Fifteen seconds of inflow: room for workers to start on a busy machine."""
DEADLINE_SECONDS = 80

WORKER_SETTINGS = {
    "EVENT_BATCH_SIZE": str(BATCH),
    "EVENT_CONCURRENCY": "5",
    "PYTHONPATH": str(PLUGINS),
    "EVENT_ANALYSERS": "paced_analyser:PacedAnalyser",
    "PACED_ANALYSER_SECONDS": str(PACE_SECONDS),
    "EVENT_RETRY_BACKOFF_SECONDS": "0",
}

AUDIT = """
CREATE TABLE simulation_holders (
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    event_id bigint NOT NULL,
    user_id text NOT NULL,
    old_holder text,
    new_holder text,
    old_status text NOT NULL,
    new_status text NOT NULL
);
CREATE FUNCTION simulation_record_holder() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO simulation_holders (event_id, user_id, old_holder, new_holder,
                                    old_status, new_status)
    VALUES (NEW.id, NEW.user_id, OLD.locked_by, NEW.locked_by, OLD.status, NEW.status);
    RETURN NULL;
END
$$;
CREATE TRIGGER simulation_record_holder AFTER UPDATE ON phoenix_events FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.locked_by IS DISTINCT FROM NEW.locked_by)
    EXECUTE FUNCTION simulation_record_holder();
"""


@dataclass(frozen=True)
class Sample:
    at: float
    claimable: int
    useful_workers: int
    running: int


class Inflow(threading.Thread):
    """``INFLOW_PER_SECOND`` events a second, in small groups, for ``INFLOW_SECONDS``."""

    def __init__(self, url: str) -> None:
        super().__init__(name="inflow", daemon=True)
        self.url = url
        self.per_user: Counter[str] = Counter()
        self.error: BaseException | None = None

    def run(self) -> None:
        rng = random.Random(22)
        container = open_flywheel(make_settings(self.url))
        kinds = (("letter.generated", "phoenix-letters"), ("cv.uploaded", "phoenix-cv"))
        try:
            started = time.monotonic()
            sent = 0
            while (elapsed := time.monotonic() - started) < INFLOW_SECONDS:
                due = int(elapsed * INFLOW_PER_SECOND) + 1
                rows = []
                for n in range(sent, due):
                    event_type, app = rng.choice(kinds)
                    user = f"user-{rng.randrange(USERS)}"
                    self.per_user[user] += 1
                    rows.append(
                        {
                            "event_type": event_type,
                            "app_source": app,
                            "user_id": user,
                            "idempotency_key": f"sim-{n}",
                        }
                    )
                if rows:
                    container.ingestion().publish(rows)
                sent = due
                time.sleep(0.1)
        except BaseException as error:  # noqa: BLE001 - reported by the test's thread
            self.error = error
        finally:
            close_flywheel(container)


class Autoscaler:
    """Starts and stops workers to match the signal; SIGTERM on scale-in, newest first."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.running: list[subprocess.Popen[bytes]] = []
        self.stopping: list[subprocess.Popen[bytes]] = []
        self.exit_codes: list[int] = []
        self.logs: list[str] = []
        self.samples: list[Sample] = []
        self.started = 0
        self._began = time.monotonic()

    def signal(self) -> tuple[int, int]:
        with psycopg.connect(self.url) as connection:
            row = connection.execute(
                "SELECT claimable, useful_workers FROM phoenix_scaling_signal()"
            ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])

    def step(self) -> Sample:
        self._reap()
        claimable, useful = self.signal()
        wanted = min(useful, CAP)
        while len(self.running) < wanted:
            self.running.append(start_worker(self.url, **WORKER_SETTINGS))
            self.started += 1
        while len(self.running) > wanted:
            worker = self.running.pop()
            worker.terminate()  # SIGTERM: the batch in hand finishes first
            self.stopping.append(worker)
        sample = Sample(time.monotonic() - self._began, claimable, useful, len(self.running))
        self.samples.append(sample)
        return sample

    def _reap(self) -> None:
        for worker in [w for w in self.stopping if w.poll() is not None]:
            self.stopping.remove(worker)
            self.exit_codes.append(worker.returncode)
            self.logs.append(stop_worker(worker))

    def settled(self) -> bool:
        self._reap()
        return not self.running and not self.stopping

    def shut_down(self) -> None:
        for worker in self.running + self.stopping:
            self.logs.append(stop_worker(worker))
        self.running, self.stopping = [], []


def overlapping_holds(url: str) -> list[str]:
    """Users whose events two batches held at the same time, from the holders' record.

    A batch holds a user from the change that gave it the first of their events to the
    change that took the last one from it (finished, given back, or claimed by another
    after its lease ran out). Times are those of the row changes: a claim can only see a
    user free once the change that freed them has committed, so holds of one user by two
    batches must follow each other.
    """
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT at, user_id, old_holder, new_holder, old_status, new_status"
            " FROM simulation_holders ORDER BY at"
        ).fetchall()
    start: dict[tuple[str, str], datetime] = {}
    end: dict[tuple[str, str], datetime] = {}
    for at, user, old_holder, new_holder, old_status, new_status in rows:
        if new_status == "processing" and new_holder is not None:
            start.setdefault((user, new_holder), at)
        let_go = new_status != "processing" or new_holder != old_holder
        if old_status == "processing" and old_holder is not None and let_go:
            end[(user, old_holder)] = at
    holds: dict[str, list[tuple[datetime, datetime, str]]] = defaultdict(list)
    for (user, holder), began in start.items():
        holds[user].append(
            (began, end.get((user, holder), datetime.max.replace(tzinfo=began.tzinfo)), holder)
        )
    problems = []
    for user, spans in holds.items():
        spans.sort()
        for (_, ended, first), (began, _, second) in itertools.pairwise(spans):
            if began < ended:
                problems.append(
                    f"{user}: {second} took it at {began} before {first} let go at {ended}"
                )
    return problems


def test_workers_scaled_on_the_signal_process_every_event_once(postgres_url: str) -> None:
    close_flywheel(open_flywheel(make_settings(postgres_url, event_batch_size=BATCH), migrate=True))
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(AUDIT)
    inflow = Inflow(postgres_url)
    autoscaler = Autoscaler(postgres_url)
    deadline = time.monotonic() + DEADLINE_SECONDS
    inflow.start()
    try:
        while inflow.is_alive() or not autoscaler.settled():
            assert time.monotonic() < deadline, f"not settled: {autoscaler.samples[-5:]}"
            autoscaler.step()
            time.sleep(AUTOSCALER_PERIOD)
        # One last look: nothing left, nobody running.
        final = autoscaler.step()
    finally:
        autoscaler.shut_down()
        inflow.join(timeout=5)
    assert inflow.error is None, inflow.error

    samples = autoscaler.samples
    running = [sample.running for sample in samples]
    assert max(running) == CAP, samples  # the inflow needed more than one worker
    assert all(count <= CAP for count in running)
    assert (final.claimable, final.useful_workers, final.running) == (0, 0, 0)
    assert max(sample.claimable for sample in samples) <= BACKLOG_BOUND, samples
    assert len(autoscaler.exit_codes) == autoscaler.started
    for code, log in zip(autoscaler.exit_codes, autoscaler.logs, strict=True):
        # A worker stopped while Python still loads it dies of the signal: it held
        # nothing yet. One that started finishes its batch and exits 0.
        assert code == 0 or (code == -signal.SIGTERM and "worker started" not in log), log
    assert not any("Traceback" in log for log in autoscaler.logs), autoscaler.logs
    assert overlapping_holds(postgres_url) == []
    assert_exactly_once(postgres_url, inflow.per_user)
    print(  # the run's shape, for whoever reads the test's output
        f"\n{sum(inflow.per_user.values())} events, {autoscaler.started} worker starts, "
        f"peak backlog {max(s.claimable for s in samples)}, "
        f"workers over time {[s.running for s in samples]}, "
        f"backlog over time {[s.claimable for s in samples]}"
    )
