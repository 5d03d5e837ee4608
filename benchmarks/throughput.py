"""Drain throughput of a backlog on each store: prints events per second (not a test).

    .venv/bin/python -m benchmarks.throughput [--events N] [--users N] [--stores sqlite,postgres]
                                              [--without-hash]

The backlog is written first (not timed), then one ``drain()`` does the full work:
claim, hash check, analysis, journeys, nudges, projections. PostgreSQL runs in a
throw-away database on ``PHOENIX_BENCH_POSTGRES_URL`` (default: the local server).
``--without-hash`` clears the backlog's hashes before the drain, as rows a plain
``INSERT`` (supabase-py, an SQL import) leaves for the worker to hash.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy import update

from src.adapters.sql.tables import events as events_table
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from src.entrypoints.settings import Settings

ADMIN_URL = os.environ.get(
    "PHOENIX_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
KINDS = (
    ("letter.generated", "phoenix-letters"),
    ("job_offer.analyzed", "phoenix-letters"),
    ("cv.uploaded", "phoenix-cv"),
    ("cv.generated", "phoenix-cv"),
)


@contextmanager
def sqlite_store() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite:///{Path(folder) / 'bench.db'}"


@contextmanager
def postgres_store() -> Iterator[str]:
    name = f"pf_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{ADMIN_URL.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def backlog(events: int, users: int, seed: int = 7) -> list[dict[str, object]]:
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []
    for index in range(events):
        event_type, app = rng.choice(KINDS)
        rows.append(
            {
                "event_type": event_type,
                "app_source": app,
                "user_id": f"user-{rng.randrange(users)}",
                "payload": {"n": index, "score": rng.random()},
                "idempotency_key": f"bench-{index}",
            }
        )
    return rows


def run(
    store: str, url: str, events: int, users: int, batch_size: int, *, without_hash: bool = False
) -> None:
    settings = Settings(_env_file=None, database_url=url, event_batch_size=batch_size)  # type: ignore[call-arg]
    container = open_flywheel(settings, migrate=True)
    try:
        rows = backlog(events, users)
        for start in range(0, len(rows), 1000):
            container.ingestion().publish(rows[start : start + 1000])
        if without_hash:
            with container.engine().begin() as connection:
                connection.execute(update(events_table).values(event_hash=None))
        started, cpu_started = time.perf_counter(), time.process_time()
        summary = asyncio.run(container.processor().drain())
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
        figures = container.queries().get_ecosystem(30)
    finally:
        close_flywheel(container)
    if summary.processed != events or figures.total_events != events:
        raise SystemExit(
            f"{store}: processed {summary.processed}, projected {figures.total_events}"
        )
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    label = f"{store} no hash" if without_hash else store
    print(
        f"{label:<17} {events:>7} events {users:>6} users  batch {batch_size:>4}  "
        f"{seconds:7.2f} s  {events / seconds:8.0f} events/s  "
        f"nudges {summary.nudges_detected:>6}  peak RSS {peak_mib:6.0f} MiB  "
        f"worker CPU {100 * cpu_seconds / seconds:3.0f} %"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--without-hash", action="store_true")
    args = parser.parse_args()
    stores = {"sqlite": sqlite_store, "postgres": postgres_store}
    for store in args.stores.split(","):
        with stores[store]() as url:
            run(
                store,
                url,
                args.events,
                args.users,
                args.batch_size,
                without_hash=args.without_hash,
            )


if __name__ == "__main__":
    main()
