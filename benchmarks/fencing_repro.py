"""A worker stalled past its lease while its user is forgotten: prints the phantom rows.

    .venv/bin/python -m benchmarks.fencing_repro [--events 22000] [--every 11] [--runs 1]

Each run, in a throw-away PostgreSQL database (``PHOENIX_BENCH_POSTGRES_URL``, default the
local server), with the default settings:

1. ``--events`` pending events, every ``--every``-th of them a CV event of ``victim-42``
   (CV activity and no letters: the user a ``cv_to_letters`` nudge is for), the others
   spread over 2,000 users;
2. two ``phoenix-flywheel worker`` processes drain them;
3. as soon as a batch holding events of ``victim-42`` is in hand, its worker (named by
   ``locked_by``: host, process id) gets ``SIGSTOP``;
4. 17 s later (the lease is 15 s) the other worker has taken the batch over and
   processed it; ``phoenix-flywheel forget victim-42`` runs (its exit code is printed);
5. ``SIGCONT``; once the queue is empty both workers stop.

Then every row that mentions ``victim-42`` is a phantom: written back by the stalled
worker after the erasure. Printed per kind and in total (0 is the right answer).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from benchmarks.throughput import KINDS, postgres_store
from src.domain.user_journey import journey_id
from src.entrypoints.runtime import close_flywheel, open_flywheel
from src.entrypoints.settings import Settings

VICTIM = "victim-42"
ROOT = Path(__file__).resolve().parents[1]
LEASE_SECONDS = 15  # the default
PHANTOMS = {
    "journey entries": "SELECT count(*) FROM phoenix_journey_entries WHERE user_id = %(user)s",
    "applied pairs": (
        "SELECT count(*) FROM phoenix_private.phoenix_applied_events WHERE user_id = %(user)s"
    ),
    "nudges": "SELECT count(*) FROM phoenix_nudges WHERE user_id = %(user)s",
    "journey events": (
        "SELECT count(*) FROM phoenix_private.phoenixjourneys_events"
        " WHERE originator_id = %(journey)s"
    ),
    "journey snapshots": (
        "SELECT count(*) FROM phoenix_private.phoenixjourneys_snapshots"
        " WHERE originator_id = %(journey)s"
    ),
    "events": "SELECT count(*) FROM phoenix_events WHERE user_id = %(user)s",
}


def fill(url: str, events: int, every: int) -> None:
    rng = random.Random(42)
    rows: list[dict[str, object]] = []
    for index in range(events):
        if index % every == every - 1:
            kind, app, user = (*rng.choice(KINDS[2:]), VICTIM)
        else:
            kind, app = rng.choice(KINDS)
            user = f"user-{rng.randrange(2000)}"
        rows.append(
            {
                "event_type": kind,
                "app_source": app,
                "user_id": user,
                "payload": {"n": index},
                "idempotency_key": f"k{index}",
            }
        )
    container = open_flywheel(Settings(_env_file=None, database_url=url), migrate=True)  # type: ignore[call-arg]  # pydantic-settings init kwarg
    try:
        for start in range(0, len(rows), 1000):
            container.ingestion().publish(rows[start : start + 1000])
    finally:
        close_flywheel(container)


def cli(url: str, *args: str, log: Path | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "INFO"}
    return subprocess.Popen(
        [sys.executable, "-m", "src.entrypoints.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb") if log is not None else subprocess.DEVNULL,
    )


def scalar(url: str, sql: str, **params: object) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute(sql, params).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def stop_a_victim_holder(
    url: str, workers: dict[int, subprocess.Popen[bytes]]
) -> tuple[int, str, list[int]]:
    """SIGSTOP the worker of a batch holding victim events: (pid, holder, event ids)."""
    deadline = time.monotonic() + 300
    with psycopg.connect(url, autocommit=True) as connection:
        while time.monotonic() < deadline:
            row = connection.execute(
                "SELECT locked_by FROM phoenix_events"
                " WHERE user_id = %s AND status = 'processing' LIMIT 1",
                (VICTIM,),
            ).fetchone()
            if row is None or row[0] is None:
                time.sleep(0.002)
                continue
            holder = str(row[0])
            pid = int(holder.rpartition(":")[0].rsplit("-", 2)[1])
            workers[pid].send_signal(signal.SIGSTOP)
            time.sleep(0.5)  # a commit sent just before the stop lands meanwhile
            held = [
                int(event_id)
                for (event_id,) in connection.execute(
                    "SELECT id FROM phoenix_events WHERE locked_by = %s"
                    " AND status = 'processing' AND user_id = %s",
                    (holder, VICTIM),
                )
            ]
            if held:
                return pid, holder, held
            workers[pid].send_signal(signal.SIGCONT)  # it finished first: try again
    raise SystemExit("no batch of the victim was ever caught in hand")


def run(events: int, every: int) -> dict[str, int]:
    with postgres_store() as url, tempfile.TemporaryDirectory() as logs:
        fill(url, events, every)
        started = [cli(url, "worker", log=Path(logs) / f"w{n}.log") for n in range(2)]
        workers = {worker.pid: worker for worker in started}
        try:
            pid, holder, held = stop_a_victim_holder(url, workers)
            stopped_at = time.monotonic()
            time.sleep(LEASE_SECONDS + 2 - (time.monotonic() - stopped_at))
            taken_over = scalar(
                url,
                "SELECT count(*) FROM phoenix_events WHERE id = ANY(%(ids)s)"
                " AND locked_by IS DISTINCT FROM %(holder)s",
                ids=held,
                holder=holder,
            )
            forget = cli(url, "forget", VICTIM)
            forget_exit = forget.wait(timeout=60)
            workers[pid].send_signal(signal.SIGCONT)
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline and scalar(
                url, "SELECT count(*) FROM phoenix_events WHERE status IN ('pending','processing')"
            ):
                time.sleep(0.5)
            time.sleep(2)  # the stalled worker's save, and a projection round
        finally:
            for worker in started:
                worker.send_signal(signal.SIGCONT)
                worker.send_signal(signal.SIGTERM)
            for worker in started:
                worker.wait(timeout=60)
        journey = journey_id(VICTIM)
        counts = {
            name: scalar(url, sql, user=VICTIM, journey=journey) for name, sql in PHANTOMS.items()
        }
        stalled_log = (Path(logs) / f"w{started.index(workers[pid])}.log").read_text(
            errors="replace"
        )
    print(
        f"stalled batch {holder}: {len(held)} victim events in hand, "
        f"{taken_over} taken over by the other worker; forget exit {forget_exit}"
    )
    for line in stalled_log.splitlines():
        if "conflict" in line or "lease" in line.lower():
            print(f"  stalled worker: {line.strip()[:160]}")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=22_000)
    parser.add_argument("--every", type=int, default=11)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    for number in range(1, args.runs + 1):
        counts = run(args.events, args.every)
        detail = ", ".join(f"{name} {count}" for name, count in counts.items())
        print(f"run {number}: phantom rows for {VICTIM}: {sum(counts.values())} ({detail})")


if __name__ == "__main__":
    main()
