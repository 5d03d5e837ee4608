"""Where the CPU per event goes: real workers drain a backlog, sampled (not a test).

    .venv/bin/python -m benchmarks.cpu_profile --events 50000 [--without-hash] [--perf]

N catalogue events over N/5 users are loaded as ``side_by_side`` loads them (with or
without the bridge's hash), then ``--workers`` real ``phoenix-flywheel worker`` processes
(2 by default, ``EVENT_BATCH_SIZE`` 100) drain them. From the first processed event to the
last projected one:

- each worker is sampled by py-spy (``py-spy record --pid --gil``: the thread that holds
  the GIL, i.e. Python's CPU), and its samples are put in the phases of a batch (claim,
  triage, fold, save, projection, ...) by the outermost frame that names one, and in
  packages by the innermost frame (self time);
- the workers' and their server processes' CPU time are read from ``/proc``, so each
  phase's share of the samples becomes microseconds per event;
- when the server has ``pg_stat_statements`` (a throw-away cluster started with
  ``shared_preload_libraries = 'pg_stat_statements'``, see docs/cpu-per-event.md), it is
  reset at the first processed event and its statements are listed by time per event;
- ``--perf`` also records the server processes with ``perf record`` (the PostgreSQL
  functions their CPU goes to; ``perf`` from the distribution).

``--root DIR`` runs the workers of another checkout (``git archive REV | tar -x -C DIR``):
the same figures for a change tried out. ``PHOENIX_BENCH_POSTGRES_URL`` names the server,
as for the other benchmarks.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from benchmarks import side_by_side as bench
from benchmarks.cpu import cpu_seconds
from benchmarks.cpu_phases import breakdown
from benchmarks.throughput import ADMIN_URL


def spy(pid: int, output: Path, rate: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            str(Path(sys.executable).with_name("py-spy")),
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--nolineno",
            # Only the thread holding the GIL: Python's CPU. Without it, threads blocked in
            # a wait (the pools' workers, the heartbeat's sleep, a query in flight) are
            # counted as running often enough to skew every share.
            "--gil",
            "-o",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def statements_available() -> bool:
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
            connection.execute("SELECT pg_stat_statements_reset()")
    except psycopg.Error:
        return False
    return True


def top_statements(database: str, events: int, limit: int = 14) -> list[str]:
    with psycopg.connect(ADMIN_URL) as connection:
        rows = connection.execute(
            "SELECT calls, total_exec_time + total_plan_time, total_plan_time, rows, query"
            " FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid"
            " WHERE d.datname = %s ORDER BY 2 DESC",
            (database,),
        ).fetchall()
    total = sum(row[1] for row in rows) or 1.0
    lines = [
        f"statements: {total * 1000 / events:.0f} us per event in all"
        " (execution + planning, wall time in the server)"
    ]
    for calls, spent, planning, returned, query in rows[:limit]:
        text = " ".join(query.split())[:110]
        lines.append(
            f"  {100 * spent / total:5.1f} %  {spent * 1000 / events:6.1f} us/event"
            f"  (plan {planning * 1000 / events:5.1f})  {calls:6d} calls"
            f"  {returned / max(calls, 1):6.1f} rows/call  {text}"
        )
    return lines


def perf_report(data: Path) -> list[str]:
    report = subprocess.run(
        [
            *("perf", "report", "-i", str(data), "--no-children", "--stdio", "-g", "none"),
            *("--sort", "symbol", "--percent-limit", "1.5"),
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return [line for line in report.splitlines() if line.strip() and not line.startswith("#")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=bench.BATCH_SIZE)
    parser.add_argument("--without-hash", action="store_true")
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--perf", action="store_true", help="also perf-record the server")
    parser.add_argument(
        "--root",
        type=Path,
        default=bench.ROOT,
        help="run the workers of this checkout (another revision, a change tried out)",
    )
    parser.add_argument(
        "--output", type=Path, default=Path(tempfile.gettempdir()) / "pf_cpu_profile"
    )
    args = parser.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    events, path = args.events, "no hash" if args.without_hash else "with hash"
    load = ", ".join(f"{figure:.2f}" for figure in os.getloadavg())
    print(
        f"# {events:,} events ({path}), {args.workers} workers, batch {args.batch_size},"
        f" workers of {args.root}"
    )
    print(f"# load {load} at the start")
    with bench.database() as url:
        bench.fill(url, events, with_hash=not args.without_hash)
        database = url.rpartition("/")[2]
        log = args.output / "workers.log"
        log.unlink(missing_ok=True)
        workers = [
            bench.start_worker(url, log, args.root, args.batch_size) for _ in range(args.workers)
        ]
        probes: list[subprocess.Popen[bytes]] = []
        try:
            with psycopg.connect(
                url, autocommit=True, application_name=bench.BENCH_APPLICATION
            ) as probe:

                def count(sql: str) -> int:
                    row = probe.execute(sql).fetchone()
                    return int(row[0]) if row else 0

                bench.wait_for(
                    lambda: (
                        count(
                            "SELECT count(*) FROM (SELECT 1 FROM phoenix_events"
                            " WHERE status = 'processed' LIMIT 1) s"
                        )
                        > 0
                    ),
                    "the first processed event",
                    0.05,
                )
                statements = statements_available()
                backends = bench.server_cpu(url) or {}
                samples = [args.output / f"worker{i}.txt" for i in range(len(workers))]
                probes = [
                    spy(w.pid, out, args.rate) for w, out in zip(workers, samples, strict=True)
                ]
                if args.perf:
                    probes.append(
                        subprocess.Popen(
                            [
                                "perf",
                                "record",
                                "-F",
                                "499",
                                "-g",
                                "-e",
                                "cpu-clock",
                                "-o",
                                str(args.output / "perf.data"),
                                "-p",
                                ",".join(map(str, backends)),
                            ],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                        )
                    )
                client_before = sum(cpu_seconds(w.pid) for w in workers)
                started = time.perf_counter()
                bench.wait_for(
                    lambda: (
                        count(
                            f"SELECT count(*) FROM (SELECT 1 FROM phoenix_events"
                            f" WHERE {bench.UNFINISHED} LIMIT 1) s"
                        )
                        == 0
                    ),
                    "the drain",
                    0.25,
                )
                bench.wait_for(
                    lambda: count("SELECT count(*) FROM phoenix_journey_entries") == events,
                    "the projection",
                    0.1,
                )
                seconds = time.perf_counter() - started
                client = sum(cpu_seconds(w.pid) for w in workers) - client_before
                server = bench.spent_between(backends, bench.server_cpu(url)) or 0.0
                for spying in probes:
                    spying.send_signal(signal.SIGINT)
                for spying in probes:
                    spying.wait(timeout=120)
                done = count("SELECT count(*) FROM phoenix_events WHERE status = 'processed'")
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                worker.wait(timeout=30)
        lines = [
            f"# load {', '.join(f'{f:.2f}' for f in os.getloadavg())} at the end;"
            f" {done:,} processed in {seconds:.1f} s after the first ({events / seconds:,.0f}/s)",
            f"CPU per event: workers {client * 1e6 / events:.0f} us,"
            f" PostgreSQL {server * 1e6 / events:.0f} us",
        ]
        lines += breakdown(samples, client * 1e6 / events)
        if statements:
            lines += top_statements(database, events)
        if args.perf:
            lines += [
                "PostgreSQL functions (perf, self time):",
                *perf_report(args.output / "perf.data"),
            ]
    report = "\n".join(lines)
    print(report)
    (args.output / f"report-{path.replace(' ', '-')}.txt").write_text(report + "\n")


if __name__ == "__main__":
    main()
