"""A worker stalled past its lease while its user is forgotten: prints the phantom rows.

    .venv/bin/python -m benchmarks.fencing_repro [--events 22000] [--every 11] [--runs 1]

Each run, in a throw-away PostgreSQL database (``PHOENIX_BENCH_POSTGRES_URL``, default the
local server), with the default settings:

1. ``--events`` pending events over 2,000 users, every ``--every``-th of them a CV event
   of ``victim-42`` (CV activity and no letters: the user a ``cv_to_letters`` nudge is
   for);
2. two ``phoenix-flywheel worker`` processes drain them;
3. as soon as a batch holding events of ``victim-42`` is in hand, before its save, its
   worker (named in ``locked_by``) gets ``SIGSTOP``;
4. 17 s later (the lease is 15 s) the other worker has taken the batch over and
   processed it; ``phoenix-flywheel forget victim-42`` runs (its exit code is printed);
5. ``SIGCONT``; once the queue is empty both workers stop.

Every row about ``victim-42`` left then is a phantom: written back by the stalled worker
after the erasure. Printed per table and in total (0 is the right answer).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

from benchmarks.throughput import postgres_store
from tests.integration.workers import (
    ROOT,
    fill_backlog,
    logged,
    mentions,
    scalar,
    stall_a_holder_of,
    start_worker,
    stop_worker,
    wait_until,
)

VICTIM = "victim-42"
STALL_SECONDS = 17  # the default lease is 15 s
DEFAULTS = {"POLL_INTERVAL_SECONDS": "2"}  # the helper polls faster unless told


def unfinished(url: str) -> int:
    return scalar(
        url, "SELECT count(*) FROM phoenix_events WHERE status IN ('pending', 'processing')"
    )


def run(events: int, every: int) -> dict[str, int]:
    with postgres_store() as url:
        fill_backlog(url, events, users=2000, seed=42, victim=VICTIM, every=every)
        workers = [start_worker(url, **DEFAULTS) for _ in range(2)]
        try:
            stalled, holder, held = stall_a_holder_of(url, VICTIM, workers, timeout=300)
            time.sleep(STALL_SECONDS)
            taken_over = scalar(
                url,
                "SELECT count(*) FROM phoenix_events WHERE id = ANY(%(ids)s)"
                " AND locked_by IS DISTINCT FROM %(holder)s",
                ids=held,
                holder=holder,
            )
            forget = subprocess.run(
                [sys.executable, "-m", "src.entrypoints.cli", "forget", VICTIM],
                cwd=ROOT,
                env={**os.environ, "DATABASE_URL": url},
                capture_output=True,
                check=False,
                timeout=60,
            )
            stalled.send_signal(signal.SIGCONT)
            wait_until(lambda: unfinished(url) == 0, 600, "the backlog to drain")
            logged(stalled, f"holder={holder}", timeout=5)
            time.sleep(2)  # a projection round of the stalled worker, if it saved
        finally:
            logs = {worker.pid: stop_worker(worker) for worker in workers}
        counts = mentions(url, VICTIM)
    print(
        f"stalled batch {holder}: {len(held)} events of {VICTIM} in hand, {taken_over} taken"
        f" over by the other worker; forget exit {forget.returncode}"
    )
    for line in logs[stalled.pid].splitlines():
        if holder in line:
            print(f"  stalled worker: {line.strip()}")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=22_000)
    parser.add_argument("--every", type=int, default=11)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    for number in range(1, args.runs + 1):
        counts = run(args.events, args.every)
        detail = ", ".join(f"{table} {count}" for table, count in counts.items())
        print(f"run {number}: phantom rows for {VICTIM}: {sum(counts.values())} ({detail})")


if __name__ == "__main__":
    main()
