"""A rule's dry-run over a large history, and what it costs a worker draining meanwhile
(not a test; prints figures).

    .venv/bin/python -m benchmarks.dry_run [--events N] [--users N] [--stores sqlite,postgres]
                                           [--pending N]

The history (processed events of Letters, CV and Rise over 90 days, journal entries with
random stress levels) is written straight into ``phoenix_events`` first, not timed. Then:
the dry-run of ``stress_relief`` and of ``letters_to_cv`` alone; then a worker draining
``--pending`` new events alone, and again while dry-runs run back to back in a thread.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.throughput import postgres_store, sqlite_store
from src.adapters.sql.tables import events
from src.domain.event_hash import compute_event_hash
from src.entrypoints.bootstrap import Container, close_flywheel, open_flywheel
from src.entrypoints.settings import Settings

KINDS = (
    ("letter.generated", "phoenix-letters"),
    ("cv.uploaded", "phoenix-cv"),
    ("rise.journal_entry", "phoenix-rise"),
    ("rise.meditation", "phoenix-rise"),
)


def history(count: int, users: int, status: str, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    rows = []
    for n in range(count):
        event_type, app = rng.choice(KINDS)
        user = f"user-{rng.randrange(users)}"
        payload: dict[str, object] = {"n": n}
        if event_type == "rise.journal_entry":
            payload["stress_level"] = rng.randint(0, 10)
        key = f"{status}-{n}"
        rows.append(
            {
                "event_type": event_type,
                "app_source": app,
                "user_id": user,
                "payload": payload,
                "timestamp": now - timedelta(seconds=rng.uniform(0, 89 * 86400)),
                "idempotency_key": key,
                "event_hash": compute_event_hash(event_type, app, user, payload, key),
                "status": status,
            }
        )
    return rows


def insert(container: Container, rows: list[dict[str, Any]]) -> None:
    with container.engine().begin() as connection:
        for start in range(0, len(rows), 5_000):
            connection.execute(events.insert(), rows[start : start + 5_000])


def timed_drain(container: Container) -> float:
    started = time.perf_counter()
    asyncio.run(container.processor().drain())
    return time.perf_counter() - started


def run(url: str, store: str, args: argparse.Namespace) -> None:
    container = open_flywheel(Settings(database_url=url), migrate=True)
    try:
        insert(container, history(args.events, args.users, "processed", seed=7))
        for nudge_type in ("stress_relief", "letters_to_cv"):
            started = time.perf_counter()
            report = container.dry_run().dry_run(nudge_type, 90)
            seconds = time.perf_counter() - started
            print(
                f"{store}: dry-run {nudge_type} over {report.events_scanned} events of "
                f"{report.users_scanned} users: {seconds:.2f}s "
                f"({report.events_scanned / seconds:.0f} events/s), "
                f"would target {report.would_target}"
            )
        insert(container, history(args.pending, args.users, "pending", seed=8))
        alone = timed_drain(container)
        insert(container, history(args.pending, args.users, "pending", seed=9))
        stop = threading.Event()
        runs = [0]

        def replay() -> None:
            while not stop.is_set():
                container.dry_run().dry_run("stress_relief", 90)
                runs[0] += 1

        thread = threading.Thread(target=replay)
        thread.start()
        try:
            during = timed_drain(container)
        finally:
            stop.set()
            thread.join()
        insert(container, history(args.pending, args.users, "pending", seed=10))
        command = [sys.executable, "-m", "src.entrypoints.cli", "rules", "dry-run"]
        env = {**os.environ, "DATABASE_URL": url}
        with subprocess.Popen(
            [*command, "stress_relief", "--json"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ) as other:
            time.sleep(1.0)  # past its start-up, into the replay
            beside = timed_drain(container)
            replaying = other.poll() is None
            other.wait()
        print(
            f"{store}: drain of {args.pending} events alone {alone:.2f}s; "
            f"while dry-runs run in the worker's own process {during:.2f}s "
            f"({runs[0]} dry-runs); while `rules dry-run` runs in another process "
            f"{beside:.2f}s (still replaying at the end: {replaying})"
        )
    finally:
        close_flywheel(container)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--pending", type=int, default=5_000)
    parser.add_argument("--stores", default="sqlite,postgres")
    args = parser.parse_args()
    stores = {"sqlite": sqlite_store, "postgres": postgres_store}
    for store in args.stores.split(","):
        with stores[store]() as url:
            run(url, store, args)


if __name__ == "__main__":
    main()
