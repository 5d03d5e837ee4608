"""Claim time and drain rate with a million processed rows behind the queue, against an
empty table: prints both and their ratio (not a test).

    .venv/bin/python -m benchmarks.retention [--processed 1000000] [--pending 20000]
                                             [--rounds 1] [--slice-batches 20] [--no-reclaim]
    .venv/bin/python -m benchmarks.retention --first-prune [--processed 1000000]

Each scenario gets a throw-away PostgreSQL database (``PHOENIX_BENCH_POSTGRES_URL``,
default the local server). The full one is filled by ``generate_series`` (triggers off for
the fill): rows inserted pending, then taken in hand and finished by two set-wide updates,
as a worker leaves them (a dead version of each in the claim's index), processed a day ago
(inside the default retention window of 30 days: they stay). Then the worker's periodic
maintenance runs once, as it does at a worker's start (``EventRetention.maintain``: prune,
then reclaim the dead rows when there are enough); ``--no-reclaim`` leaves that out, to
show what the claim walks without it. No ANALYZE is run, and autovacuum is off on the
server used here. Then ``--pending`` events are published through the API's ingestion
path into each table, and one processor per table at the default settings drains them,
the two in turns of ``--slice-batches`` batches, so that the load of a shared machine
weighs on both alike; every claim is timed (its whole transaction, from the worker's
side), and the drain rate is the events processed over the time spent draining. The
claimable lookup's plan and buffers are printed for each scenario, from
``EXPLAIN (ANALYZE, BUFFERS)`` of the claim's selection.

``--first-prune`` times instead the first clean-up of a table that never had one: the rows
filled as above but processed 40 days ago, pruned by one ``prune`` pass (batches of 5,000,
each user's last event per app kept), then the dead rows reclaimed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from benchmarks.throughput import backlog, postgres_store
from src.application.retention import EventRetention
from src.entrypoints.bootstrap import Container, close_flywheel, open_flywheel
from src.entrypoints.settings import Settings

FILL = """
SET session_replication_role = replica;
INSERT INTO phoenix_events
    (event_type, app_source, user_id, payload, "timestamp", received_at, event_hash, status)
SELECT 'cv.uploaded', 'phoenix-cv', 'old-user-' || (g % 50000), jsonb_build_object('n', g),
       now() - interval '2 days', now() - interval '2 days', md5(g::text) || md5('h' || g),
       'pending'
FROM generate_series(1, %(rows)s) AS g;
UPDATE phoenix_events SET status = 'processing', attempts = 1, locked_by = 'bench-old',
    locked_until = now() - interval '1 day' WHERE status = 'pending';
UPDATE phoenix_events SET status = 'processed', processed_at = now() - interval '1 day',
    locked_until = NULL WHERE status = 'processing';
SET session_replication_role = origin;
"""

CLAIMABLE = """
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF)
SELECT id FROM phoenix_events
WHERE status IN ('pending', 'failed', 'processing')
  AND (locked_until IS NULL OR locked_until <= now())
  AND user_id NOT IN (SELECT user_id FROM phoenix_events AS h
                      WHERE h.status = 'processing' AND h.locked_until > now())
ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED
"""


@dataclass(frozen=True)
class Figures:
    label: str
    claims: list[float]
    drain_seconds: float
    processed: int
    plan: str

    @property
    def median_ms(self) -> float:
        return statistics.median(self.claims) * 1000

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.claims)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] * 1000

    @property
    def rate(self) -> float:
        return self.processed / self.drain_seconds


def fill(engine: Engine, rows: int) -> float:
    started = time.perf_counter()
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            cursor.execute(FILL.replace("%(rows)s", str(int(rows))))
        raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - started


def claim_plan(engine: Engine) -> str:
    """The claimable lookup, as the claim's transaction plans it (no bitmap scans)."""
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cursor:
            cursor.execute("SET enable_bitmapscan = off")
            cursor.execute(CLAIMABLE)
            lines = [str(row[0]) for row in cursor.fetchall()]
        raw.rollback()
    finally:
        raw.close()
    return "\n".join(f"    {line}" for line in lines)


def timed(claim: Callable[..., Any], claims: list[float]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return claim(*args, **kwargs)
        finally:
            claims.append(time.perf_counter() - started)

    return wrapper


@dataclass
class Scenario:
    label: str
    container: Container
    claims: list[float]
    plan: str
    processed: int = 0
    drain_seconds: float = 0.0

    def figures(self) -> Figures:
        return Figures(self.label, self.claims, self.drain_seconds, self.processed, self.plan)


def prepare(label: str, url: str, processed: int, pending: int, *, reclaim: bool) -> Scenario:
    settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    container = open_flywheel(settings, migrate=True)
    engine = container.engine()
    if processed:
        seconds = fill(engine, processed)
        print(f"  {label}: {processed} processed rows written in {seconds:.1f} s")
    retention: EventRetention = container.retention()
    if reclaim:
        started = time.perf_counter()
        retention.maintain()
        print(
            f"  {label}: the worker's maintenance pass took {time.perf_counter() - started:.2f} s"
        )
    rows = backlog(pending, users=2_000)
    for start in range(0, len(rows), 1000):
        container.ingestion().publish(rows[start : start + 1000])
    claims: list[float] = []
    inbox = container.inbox()
    inbox.claim = timed(inbox.claim, claims)  # type: ignore[method-assign]
    return Scenario(label, container, claims, claim_plan(engine))


def drain_slice(scenario: Scenario, batches: int) -> int:
    """Drain ``batches`` batches (or what is left); the events processed."""
    stop_at = len(scenario.claims) + batches
    started = time.perf_counter()
    summary = asyncio.run(
        scenario.container.processor().drain(should_stop=lambda: len(scenario.claims) >= stop_at)
    )
    scenario.drain_seconds += time.perf_counter() - started
    scenario.processed += summary.processed
    return summary.claimed


def run_round(processed: int, pending: int, slice_batches: int, *, reclaim: bool) -> list[Figures]:
    """Both tables side by side, drained in turns of ``slice_batches`` batches each, so that
    the load of a shared machine weighs on both alike."""
    with ExitStack() as stack:
        scenarios: list[Scenario] = []
        for label, rows in (("empty", 0), ("full", processed)):
            url = stack.enter_context(postgres_store())
            scenarios.append(prepare(label, url, rows, pending, reclaim=reclaim))
            stack.callback(close_flywheel, scenarios[-1].container)
        busy = list(scenarios)
        while busy:
            busy = [s for s in busy if drain_slice(s, slice_batches)]
        for scenario in scenarios:
            if scenario.processed != pending:
                raise SystemExit(f"{scenario.label}: processed {scenario.processed} of {pending}")
        return [scenario.figures() for scenario in scenarios]


def first_prune(processed: int) -> None:
    with postgres_store() as url:
        settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
        container = open_flywheel(settings, migrate=True)
        try:
            engine = container.engine()
            fill(engine, processed)
            with engine.begin() as connection:
                connection.exec_driver_sql(
                    "UPDATE phoenix_events SET processed_at = now() - interval '40 days'"
                )
            started = time.perf_counter()
            report = container.retention().run_once()
            seconds = time.perf_counter() - started
        finally:
            close_flywheel(container)
    print(
        f"first prune of {processed} processed rows: deleted {report.deleted} in "
        f"{report.batches} batches, {report.duration_ms / 1000:.1f} s "
        f"({report.deleted / (report.duration_ms / 1000):.0f} rows/s); "
        f"dead rows reclaimed: {report.reclaimed} ({seconds:.1f} s in all)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processed", type=int, default=1_000_000)
    parser.add_argument("--pending", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-reclaim", action="store_true")
    parser.add_argument("--first-prune", action="store_true")
    parser.add_argument(
        "--slice-batches", type=int, default=20, help="batches drained per turn (default 20)"
    )
    args = parser.parse_args()
    if args.first_prune:
        first_prune(args.processed)
        return
    results: dict[str, list[Figures]] = {"empty": [], "full": []}
    for _ in range(args.rounds):
        for figures in run_round(
            args.processed, args.pending, args.slice_batches, reclaim=not args.no_reclaim
        ):
            results[figures.label].append(figures)
            behind = args.processed if figures.label == "full" else 0
            print(
                f"{figures.label:<5} processed behind {behind:>9}: claim median "
                f"{figures.median_ms:6.2f} ms  p95 {figures.p95_ms:6.2f} ms  "
                f"({len(figures.claims)} claims)  drain {figures.rate:7.0f} events/s"
            )
            print(f"  claimable lookup before the drain:\n{figures.plan}")
    empty, full = results["empty"], results["full"]
    median = statistics.median
    claim_ratio = median(f.median_ms for f in full) / median(f.median_ms for f in empty)
    p95_ratio = median(f.p95_ms for f in full) / median(f.p95_ms for f in empty)
    rate_ratio = median(f.rate for f in full) / median(f.rate for f in empty)
    print(
        f"full / empty: claim median x{claim_ratio:.2f}, claim p95 x{p95_ratio:.2f}, "
        f"drain rate x{rate_ratio:.2f} (target: within 10 %)"
    )


if __name__ == "__main__":
    main()
