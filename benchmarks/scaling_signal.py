"""What the scaling signal and the store's throughput figures cost as the table grows
(not a test).

    .venv/bin/python -m benchmarks.scaling_signal [--finished 0,1000000] [--backlog 1000,100000]

For each number of finished rows (processed over the last 30 days, as a store keeps them
before retention) and each backlog (pending events of 5,000 users), in a throw-away
PostgreSQL database: the median time of ``SELECT * FROM phoenix_scaling_signal()`` (the
KEDA trigger's query), of the events processed in the last minute (a ``/metrics``
gauge) and of the dashboard's per-minute throughput over the last hour, each over 20
calls from Python, the signal's execution time in the server alone (``EXPLAIN
ANALYZE``), and the indexes its plan reads. The table is vacuumed and analysed after the load,
as autovacuum leaves a settled table.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import psycopg

from benchmarks.throughput import postgres_store
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from src.entrypoints.settings import Settings

CALLS = 20


def load(url: str, finished: int, backlog: int) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        if finished:
            connection.execute(
                "INSERT INTO phoenix_events (event_type, app_source, user_id, event_hash,"
                " status, processed_at, locked_by)"
                " SELECT 'letter.generated', 'phoenix-letters', 'old-' || mod(n, 50000),"
                " 'f' || n, 'processed', now() - n * (interval '30 days' / %s),"
                " 'bench-' || (n / 100)"
                " FROM generate_series(1, %s) AS n",
                (finished, finished),
            )
        if backlog:
            connection.execute(
                "INSERT INTO phoenix_events (event_type, app_source, user_id, event_hash)"
                " SELECT 'cv.uploaded', 'phoenix-cv', 'u' || mod(n, 5000), 'p' || n"
                " FROM generate_series(1, %s) AS n",
                (backlog,),
            )
        connection.execute("VACUUM ANALYZE phoenix_events")


def median_ms(call: Callable[[], object]) -> float:
    times = []
    for _ in range(CALLS):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def indexes(plan: dict[str, object]) -> set[str]:
    found = {str(plan["Index Name"])} if "Index Name" in plan else set()
    for child in plan.get("Plans", []):  # type: ignore[attr-defined]
        found |= indexes(child)
    return found


def measure(finished: int, backlog: int) -> str:
    with postgres_store() as url:
        close_flywheel(open_flywheel(Settings(database_url=url), migrate=True))
        load(url, finished, backlog)
        container = open_flywheel(Settings(database_url=url))
        try:
            operations = container.operations()
            signal = container.scaling_signal()
            now = datetime.now(UTC)
            signal_ms = median_ms(lambda: signal.scaling_signal(now))
            minute_ms = median_ms(lambda: operations.processed_since(now - timedelta(minutes=1)))
            hour_ms = median_ms(lambda: operations.throughput(now - timedelta(hours=1)))
            found = signal.scaling_signal(now)
        finally:
            close_flywheel(container)
        with psycopg.connect(url) as connection:
            server_ms = statistics.median(
                float(
                    connection.execute(
                        "EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM phoenix_scaling_signal()"
                    ).fetchone()[0][0]["Execution Time"]  # type: ignore[index]
                )
                for _ in range(CALLS)
            )
            body = connection.execute(
                "SELECT prosrc FROM pg_proc WHERE proname = 'phoenix_scaling_signal'"
            ).fetchone()
            assert body is not None
            row = connection.execute(f"EXPLAIN (FORMAT JSON) {body[0]}").fetchone()
            assert row is not None
    used = ", ".join(sorted(indexes(row[0][0]["Plan"])))
    return (
        f"finished {finished:>9,}  backlog {backlog:>7,}  signal {signal_ms:7.2f} ms"
        f" (in the server {server_ms:7.2f} ms)"
        f" (claimable {found.claimable}, useful {found.useful_workers})"
        f"  last minute {minute_ms:6.2f} ms  hour by minute {hour_ms:7.2f} ms  [{used}]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--finished", default="0,1000000")
    parser.add_argument("--backlog", default="1000,100000")
    args = parser.parse_args()
    for finished in (int(n) for n in args.finished.split(",")):
        for backlog in (int(n) for n in args.backlog.split(",")):
            print(measure(finished, backlog), flush=True)


if __name__ == "__main__":
    main()
