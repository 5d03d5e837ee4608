"""The processor side by side with pgqueuer, tuned and at its defaults (not a test).

    .venv/bin/python -m benchmarks.side_by_side --events 20000 100000
    .venv/bin/python -m benchmarks.side_by_side --profile 20000 [--without-hash]

For each N, the same N catalogue events over N/5 users are built as the bridge builds them
(``phoenix_bridge.rows.build_row``) and loaded with ``COPY`` into two template databases
made by ``phoenix-flywheel migrate``: one with each row's ``event_hash`` (what the bridge
inserts), one without (what a plain supabase-py insert or an SQL import leaves). Each
contender then drains a copy of its template (untimed set-up), or a database of its own:

1. the processor on both paths: ``phoenix-flywheel worker`` processes (``--workers``,
   2 by default), timed from their spawn until every event is ``processed`` *and*
   projected into the read models. Their CPU time and that of the server processes that
   serve them are counted from the first processed event on (imports and connections
   left out, as for the peer); the peak RSS of each worker is its ``VmHWM``;
2. pgqueuer tuned, the peer: N no-op jobs drained (``mode=drain``) by 2 processes, each
   with one queue manager on the asyncpg driver dequeuing batches of 200;
3. pgqueuer at the defaults of its own drain benchmark: one process, 5 queue managers,
   batches of 10, asyncpg.

The peer's processes import pgqueuer and connect before the clock starts (as pgqueuer's
own benchmark does), so the processor's like-for-like figure is its rate once started:
from its first processed event on. Both are printed.

Nobody runs ANALYZE: autovacuum is off on this server, and on Supabase it runs at most
once a minute, so the processor must cope with the statistics as they are.
``--analyze-interval S`` runs one every S seconds beside every contender, to compare.

``--baseline DIR`` also runs the workers of another checkout (``git archive REV | tar -x
-C DIR``) on the same templates, for before/after figures from one run. ``--also naive
floor`` adds the loop a first version would write (one event per
transaction) and a pure-SQL floor (one statement per batch that claims, marks and
inserts the journey rows, no Python). Every database is on ``PHOENIX_BENCH_POSTGRES_URL``
(default: the local server), dropped afterwards. ``--profile N`` instead profiles one
in-process drain (the worker's own ``drain()``) with pyinstrument.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psycopg
from phoenix_bridge.rows import EVENT_COLUMNS, build_row

from benchmarks.cpu import cpu_seconds, sampled
from benchmarks.throughput import ADMIN_URL, backlog
from src.application.journeys import SourceEvent
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from src.entrypoints.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
BATCH_SIZE = 100  # the product's default EVENT_BATCH_SIZE; --batch-size for the workers
WORKER_BATCH_SIZE = BATCH_SIZE
BEST_BATCH_SIZE = 500  # the processor at its best settings here; --best-batch-size 0: no row
RUN_TIMEOUT_SECONDS = 3600.0
UNFINISHED = "status IN ('pending', 'failed', 'processing')"
TUNED = (2, 1, 200)
"""pgqueuer tuned: processes, queue managers per process, dequeue batch."""
DEFAULTS = (1, 5, 10)
"""pgqueuer at the settings of its own drain benchmark."""


@dataclass
class Result:
    events: int
    contender: str
    timed: int
    seconds: float
    startup_seconds: float | None = None
    """Processor only: from the spawn to the first processed event."""
    processed_seconds: float | None = None
    peak_rss_mib: list[float] | None = None
    note: str = ""
    client_cpu_seconds: float | None = None
    server_cpu_seconds: float | None = None

    @property
    def rate(self) -> float:
        return self.timed / self.seconds if self.seconds else 0.0

    @property
    def running_rate(self) -> float:
        """The rate once started: the like-for-like one (the peer is timed that way)."""
        if self.startup_seconds is None:
            return self.rate
        running = self.seconds - self.startup_seconds
        return self.timed / running if running > 0 else 0.0

    def cpu_us_per_event(self) -> str:
        """Where the work went: the contender's own processes, then PostgreSQL's."""
        if self.client_cpu_seconds is None or self.server_cpu_seconds is None:
            return "-"
        per_event = 1e6 / self.timed
        return (
            f"{self.client_cpu_seconds * per_event:.0f} + {self.server_cpu_seconds * per_event:.0f}"
        )


# --- CPU time of the server -------------------------------------------------------------

SERVER_IS_LOCAL = psycopg.conninfo.conninfo_to_dict(ADMIN_URL).get("host") in (
    None,
    "",
    "127.0.0.1",
    "localhost",
)
BENCH_APPLICATION = "pf_bench_harness"
"""``application_name`` of the benchmark's own probes, left out of the server's CPU."""


def server_cpu(url: str) -> dict[int, float] | None:
    """CPU time of each server process serving a contender's connection to ``url``.

    The benchmark's own probes are left out by their ``application_name``. A server on
    another machine has no processes here: None.
    """
    if not SERVER_IS_LOCAL:
        return None
    with psycopg.connect(url, application_name=BENCH_APPLICATION) as harness:
        pids = harness.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_type = 'client backend' AND application_name <> %s",
            (BENCH_APPLICATION,),
        ).fetchall()
    return {pid: cpu_seconds(pid) for (pid,) in pids}


def spent_between(before: dict[int, float] | None, after: dict[int, float] | None) -> float | None:
    """Server CPU spent between two readings; a process new since ``before`` counts whole."""
    if before is None or after is None:
        return None
    return sum(spent - before.get(pid, 0.0) for pid, spent in after.items())


# --- databases -------------------------------------------------------------------------


def url_for(name: str) -> str:
    return f"{ADMIN_URL.rpartition('/')[0]}/{name}"


def admin(sql: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(sql)


@contextmanager
def database(template: str | None = None) -> Iterator[str]:
    """A throw-away database (a copy of ``template`` when given), dropped afterwards."""
    name = f"pf_bench_{uuid.uuid4().hex[:10]}"
    admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        yield url_for(name)
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def settings_for(url: str) -> Settings:
    return Settings(_env_file=None, database_url=url, event_batch_size=BATCH_SIZE)  # type: ignore[call-arg]


def cli(*arguments: str) -> list[str]:
    """``phoenix-flywheel`` as a user runs it (the store from ``DATABASE_URL``)."""
    return [sys.executable, "-m", "src.entrypoints.cli", *arguments]


def migrate(url: str) -> None:
    subprocess.run(
        cli("migrate"),
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"},
        check=True,
        stdout=subprocess.DEVNULL,
    )


def fill(url: str, events: int, *, with_hash: bool) -> None:
    """The production schema, then ``events`` pending rows as the bridge builds them.

    Loaded with ``COPY``, with or without the bridge's hash. No ANALYZE afterwards: an
    import is followed by no ANALYZE either until autovacuum comes by.
    """
    migrate(url)
    rows = [
        build_row(
            str(row["app_source"]),
            str(row["event_type"]),
            str(row["user_id"]),
            dict(row["payload"]),  # type: ignore[call-overload]
            str(row["idempotency_key"]),
        )
        for row in backlog(events, max(events // 5, 1))
    ]
    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        columns = ", ".join(f'"{name}"' for name in EVENT_COLUMNS)
        with cursor.copy(f"COPY phoenix_events ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    (
                        row["event_type"],
                        row["app_source"],
                        row["user_id"],
                        json.dumps(row["payload"]),
                        row["timestamp"],
                        row["idempotency_key"],
                        row["event_hash"] if with_hash else None,
                    )
                )


def scalar(url: str, sql: str) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


ANALYZE_INTERVAL = 0.0  # seconds; set by --analyze-interval, 0: never


@contextmanager
def autoanalyze(url: str) -> Iterator[None]:
    """ANALYZE the database every ``ANALYZE_INTERVAL`` s while a contender runs (if > 0).

    Off by default: only to compare with a server whose autovacuum analyses often.
    """
    if ANALYZE_INTERVAL <= 0:
        yield
        return
    stop = threading.Event()

    def loop() -> None:
        with psycopg.connect(
            url, autocommit=True, application_name=BENCH_APPLICATION
        ) as connection:
            while not stop.wait(ANALYZE_INTERVAL):
                connection.execute("ANALYZE")

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


# --- 1. the processor: real worker processes --------------------------------------------


def start_worker(
    url: str, log: Path, root: Path = ROOT, batch_size: int | None = None
) -> subprocess.Popen[bytes]:
    """Like ``tests/integration/workers.start_worker``, but stderr goes to a file: a pipe
    nobody reads would block a worker that logs a lot (contention warnings)."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "POLL_INTERVAL_SECONDS": "0.2",
        "LOG_LEVEL": "WARNING",
        "EVENT_BATCH_SIZE": str(batch_size or WORKER_BATCH_SIZE),
    }
    with log.open("ab") as err:
        return subprocess.Popen(
            cli("worker"), cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=err
        )


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_for(condition: Callable[[], bool], what: str, pause: float = 0.1) -> float:
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return time.perf_counter()
        time.sleep(pause)
    raise SystemExit(f"timed out waiting for {what}")


def run_workers(
    template: str,
    events: int,
    workers: int,
    path: str,
    root: Path = ROOT,
    batch_size: int | None = None,
) -> Result:
    """``batch_size`` None: the workers' ``--batch-size``; else named in the row."""
    log = Path(tempfile.gettempdir()) / f"pf_bench_workers_{events}_{workers}.log"
    log.unlink(missing_ok=True)
    with database(template) as url, autoanalyze(url):
        with psycopg.connect(url, autocommit=True, application_name=BENCH_APPLICATION) as probe:

            def first_processed() -> bool:
                row = probe.execute(
                    "SELECT 1 FROM phoenix_events WHERE status = 'processed' LIMIT 1"
                ).fetchone()
                return row is not None

            def all_processed() -> bool:
                # EXISTS stops at the first unfinished row: a count(*) every 0.25 s took
                # CPU from the workers it was timing.
                left = probe.execute(
                    f"SELECT EXISTS (SELECT 1 FROM phoenix_events WHERE {UNFINISHED})"
                )
                return left.fetchone() == (False,)

            def all_projected() -> bool:
                entries = probe.execute("SELECT count(*) FROM phoenix_journey_entries")
                return entries.fetchone() == (events,)

            started = time.perf_counter()
            procs = [start_worker(url, log, root, batch_size) for _ in range(workers)]
            try:
                first = wait_for(first_processed, "the first processed event", 0.05)
                client_before = sum(cpu_seconds(proc.pid) for proc in procs)
                server_before = server_cpu(url)
                processed = wait_for(all_processed, "the drain", 0.25)
                done = wait_for(all_projected, "the projection", 0.1)
                peaks = [peak_rss_mib(proc.pid) for proc in procs]
                client_cpu = sum(cpu_seconds(proc.pid) for proc in procs) - client_before
                server_spent = spent_between(server_before, server_cpu(url))
                exited = [
                    f"worker {i + 1} exited ({proc.returncode})"
                    for i, proc in enumerate(procs)
                    if proc.poll() is not None
                ]
            finally:
                for proc in procs:
                    proc.terminate()
                for proc in procs:
                    try:
                        proc.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
            statuses = dict(
                probe.execute("SELECT status, count(*) FROM phoenix_events GROUP BY status")
            )
        if statuses != {"processed": events}:
            raise SystemExit(f"{workers} workers left {statuses}: {log.read_text()[-2000:]}")
    return Result(
        events=events,
        contender=f"{'processor' if root == ROOT else 'baseline'}, {path}, "
        f"{workers} worker{'s' if workers > 1 else ''}"
        + (f", batch {batch_size}" if batch_size else ""),
        timed=events,
        seconds=done - started,
        startup_seconds=first - started,
        processed_seconds=processed - started,
        peak_rss_mib=peaks,
        client_cpu_seconds=client_cpu,
        server_cpu_seconds=server_spent,
        note=f"spawn -> all projected (all marked processed at {processed - started:.2f} s)"
        + (f"; {', '.join(exited)} early, stderr in {log}" if exited else ""),
    )


# --- 2. pgqueuer ------------------------------------------------------------------------


async def _enqueue(url: str, events: int) -> None:
    import asyncpg  # optional group "bench"
    from pgqueuer import AsyncpgDriver, Queries

    connection = await asyncpg.connect(dsn=url)
    try:
        setup = Queries(AsyncpgDriver(connection))
        await setup.install()
        for start in range(0, events, 10_000):
            size = min(10_000, events - start)
            await setup.enqueue(["noop"] * size, [b""] * size, [0] * size)
    finally:
        await connection.close()


def run_pgqueuer(events: int, label: str, processes: int, managers: int, batch: int) -> Result:
    """``processes`` consumer processes (``benchmarks.pgqueuer_peer``), timed from "go"."""
    with database() as url, autoanalyze(url):
        asyncio.run(_enqueue(url, events))
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "benchmarks.pgqueuer_peer", url, str(managers), str(batch)],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(processes)
        ]
        try:
            backends = [pid for proc in procs for pid in json.loads(_line(proc))["backends"]]
            with sampled(lambda: backends if SERVER_IS_LOCAL else []) as seen:
                before = dict(seen)
                go = time.perf_counter()
                for proc in procs:
                    assert proc.stdin is not None
                    proc.stdin.write("go\n")
                    proc.stdin.flush()
                reports = [json.loads(_line(proc)) for proc in procs]
            for proc in procs:
                proc.wait(timeout=60)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        left = scalar(url, "SELECT count(*) FROM pgqueuer WHERE status = 'queued'")
    done = sum(int(report["done"]) for report in reports)
    if done != events or left:
        raise SystemExit(f"{label}: ran {done} of {events} jobs, {left} left queued")
    return Result(
        events=events,
        contender=label,
        timed=done,
        seconds=max(float(report["ended"]) for report in reports) - go,
        client_cpu_seconds=sum(float(report["client_cpu"]) for report in reports),
        server_cpu_seconds=(
            sum(seen[pid] - before[pid] for pid in backends) if SERVER_IS_LOCAL else None
        ),
        note=(
            f"no-op jobs; asyncpg, {processes} process{'es' if processes > 1 else ''} x "
            f"{managers} manager{'s' if managers > 1 else ''} x batch {batch}, drain mode"
        ),
    )


def _line(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise SystemExit(f"pgqueuer consumer exited ({proc.wait()})")
    return line


# --- extras: the naive loop and the floor ------------------------------------------------

NAIVE_CLAIM = """
SELECT id, event_type, app_source, user_id, "timestamp", event_hash
FROM phoenix_events
WHERE status = 'pending'
ORDER BY id
LIMIT 1
FOR UPDATE SKIP LOCKED
"""
NAIVE_MARK = """
UPDATE phoenix_events SET status = 'processed', processed_at = now(), locked_until = NULL
WHERE id = %s
"""


def run_naive(template: str, events: int, limit: int) -> Result:
    """One event per transaction: the journey fold and the read models, like the processor."""
    timed = min(events, limit)
    with database(template) as url, autoanalyze(url):
        container = open_flywheel(settings_for(url))
        journeys, projector = container.journeys(), container.projector()
        try:
            with psycopg.connect(url) as connection:
                started, cpu_started = time.perf_counter(), time.process_time()
                server_before = server_cpu(url)
                for _ in range(timed):
                    with connection.transaction():
                        row = connection.execute(NAIVE_CLAIM).fetchone()
                        if row is None:
                            break
                        event_id, event_type, app_source, user_id, at, event_hash = row
                        journeys.fold(
                            [
                                SourceEvent(
                                    event_id=event_id,
                                    event_hash=event_hash,
                                    event_type=event_type,
                                    app_source=app_source,
                                    user_id=user_id,
                                    timestamp=at,
                                )
                            ]
                        )
                        connection.execute(NAIVE_MARK, (event_id,))
                    projector.run()
                seconds = time.perf_counter() - started
                client_cpu = time.process_time() - cpu_started
                server_spent = spent_between(server_before, server_cpu(url))
        finally:
            close_flywheel(container)
        processed = scalar(url, "SELECT count(*) FROM phoenix_events WHERE status = 'processed'")
        projected = scalar(url, "SELECT count(*) FROM phoenix_journey_entries")
    if processed != timed or projected != timed:
        raise SystemExit(f"naive: processed {processed}, projected {projected} of {timed}")
    note = "whole backlog" if timed == events else f"first {timed:,} events of the backlog"
    return Result(
        events=events,
        contender="naive loop",
        timed=timed,
        seconds=seconds,
        note=note,
        client_cpu_seconds=client_cpu,
        server_cpu_seconds=server_spent,
    )


FLOOR_TABLE = """
CREATE TABLE floor_store (
    originator_id uuid NOT NULL,
    originator_version bigint NOT NULL,
    topic text,
    state bytea,
    notification_id bigserial,
    PRIMARY KEY (originator_id, originator_version)
);
CREATE UNIQUE INDEX floor_store_notification_id ON floor_store (notification_id);
"""
FLOOR_BATCH = f"""
WITH claimed AS (
    SELECT id FROM phoenix_events
    WHERE {UNFINISHED} AND (locked_until IS NULL OR locked_until <= now())
    ORDER BY id
    LIMIT {BATCH_SIZE}
    FOR UPDATE SKIP LOCKED
), done AS (
    UPDATE phoenix_events AS e
    SET status = 'processed', processed_at = now(), locked_until = NULL,
        attempts = e.attempts + 1
    FROM claimed
    WHERE e.id = claimed.id
    RETURNING e.id, e.event_hash, e.user_id, e.event_type, e.app_source, e."timestamp"
), entries AS (
    INSERT INTO phoenix_journey_entries (event_hash, user_id, event_type, app_source, "timestamp")
    SELECT event_hash, user_id, event_type, app_source, "timestamp" FROM done
    ON CONFLICT DO NOTHING
), stored AS (
    INSERT INTO floor_store (originator_id, originator_version, topic, state)
    SELECT md5(user_id)::uuid, id, 'src.domain.apps:ActivityRecorded',
           convert_to(json_build_object(
               'event_hash', event_hash, 'event_type', event_type,
               'app_source', app_source, 'user_id', user_id, 'occurred_at', "timestamp"
           )::text, 'UTF8')
    FROM done
)
SELECT count(*) FROM done
"""


def run_floor(template: str, events: int, connections: int) -> Result:
    with database(template) as url, autoanalyze(url):
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(FLOOR_TABLE)

        spent: list[float] = []

        def drain() -> None:
            with psycopg.connect(url, autocommit=True) as connection:
                while True:
                    row = connection.execute(FLOOR_BATCH).fetchone()
                    if row is None or row[0] == 0:
                        break
                if SERVER_IS_LOCAL:
                    spent.append(cpu_seconds(connection.info.backend_pid))

        started = time.perf_counter()
        threads = [threading.Thread(target=drain) for _ in range(connections)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
        processed = scalar(url, "SELECT count(*) FROM phoenix_events WHERE status = 'processed'")
        stored = scalar(url, "SELECT count(*) FROM floor_store")
    if processed != events or stored != events:
        raise SystemExit(f"floor: processed {processed}, stored {stored} of {events}")
    plural = "s" if connections > 1 else ""
    return Result(
        events=events,
        contender=f"floor, {connections} connection{plural}",
        timed=events,
        seconds=seconds,
        client_cpu_seconds=0.0,  # the drain threads only wait for the server
        server_cpu_seconds=sum(spent) if SERVER_IS_LOCAL else None,
        note=f"1 SQL statement per batch of {BATCH_SIZE}",
    )


# --- the run -----------------------------------------------------------------------------

PEERS = ("tuned", "defaults")
TUNED_NAME = "pgqueuer tuned"
DEFAULTS_NAME = "pgqueuer defaults"


def measure(
    events: int,
    workers: list[int],
    peers: set[str],
    also: set[str],
    naive_limit: int,
    baseline: Path | None,
    best_batch_size: int = 0,
) -> list[Result]:
    results: list[Result] = []
    templates = {path: f"pf_bench_tpl_{uuid.uuid4().hex[:10]}" for path in ("with hash", "no hash")}
    try:
        for path, template in templates.items():
            filled = time.perf_counter()
            admin(f'CREATE DATABASE "{template}"')
            fill(url_for(template), events, with_hash=path == "with hash")
            print(
                f"# N={events:,}, {path}: {events:,} rows over {max(events // 5, 1):,} users"
                f" loaded in {time.perf_counter() - filled:.1f} s",
                flush=True,
            )
        steps: list[Callable[[], Result]] = [
            *(
                lambda w=w, p=p: run_workers(templates[p], events, w, p)
                for w in workers
                for p in templates
            ),
            *(
                lambda w=w, p=p: run_workers(templates[p], events, w, p, batch_size=best_batch_size)
                for w in (workers if best_batch_size else [])
                for p in templates
            ),
            *(
                lambda w=w, p=p: run_workers(templates[p], events, w, p, baseline)
                for w in (workers if baseline is not None else [])
                for p in templates
            ),
        ]
        if "tuned" in peers:
            steps.append(lambda: run_pgqueuer(events, TUNED_NAME, *TUNED))
        if "defaults" in peers:
            steps.append(lambda: run_pgqueuer(events, DEFAULTS_NAME, *DEFAULTS))
        if "naive" in also:
            steps.append(lambda: run_naive(templates["with hash"], events, naive_limit))
        if "floor" in also:
            steps.append(lambda: run_floor(templates["with hash"], events, 1))
            steps.append(lambda: run_floor(templates["with hash"], events, 2))
        for step in steps:
            result = step()
            print(row(result), flush=True)
            results.append(result)
    finally:
        for template in templates.values():
            admin(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
    return results


HEADER = (
    f"{'N':>7}  {'contender':<42} {'seconds':>8} {'events/s':>9} "
    f"{'start-up s':>10} {'running/s':>9}  {'CPU us/event':>12}  {'peak RSS MiB':<14} note"
)


def row(result: Result) -> str:
    rss = "/".join(f"{m:.0f}" for m in result.peak_rss_mib) if result.peak_rss_mib else "-"
    startup = f"{result.startup_seconds:10.2f}" if result.startup_seconds is not None else "-" * 10
    timed = "" if result.timed == result.events else f"{result.timed:,} timed; "
    return (
        f"{result.events:>7}  {result.contender:<42} {result.seconds:8.2f} "
        f"{result.rate:9.0f} {startup} {result.running_rate:9.0f}  "
        f"{result.cpu_us_per_event():>12}  {rss:<14} {timed}{result.note}"
    )


def ratios(results: list[Result]) -> list[str]:
    """Each processor row against both peers of its N: once started, then from spawn."""
    lines = []
    for events in sorted({r.events for r in results}):
        mine = {r.contender: r for r in results if r.events == events}
        peers = [(name, mine[name]) for name in (TUNED_NAME, DEFAULTS_NAME) if name in mine]
        for result in mine.values():
            if not result.contender.startswith(("processor", "baseline")):
                continue
            lines.append(
                f"N={events:,} {result.contender}: "
                + ", ".join(
                    f"/ {name} {result.running_rate / peer.rate:.2f}"
                    f" ({result.rate / peer.rate:.2f} from spawn)"
                    for name, peer in peers
                )
            )
    return lines


# --- the profile -------------------------------------------------------------------------

# (component, function name, file path suffix): the outermost matching frame is charged.
COMPONENTS = (
    ("claim", "claim", "sqlalchemy_inbox.py"),
    ("marking (complete)", "complete", "sqlalchemy_inbox.py"),
    ("triage + analysers", "_triage", "processor.py"),
    ("triage + analysers", "_analyse", "processor.py"),
    ("aggregate loads", "load_journeys", "journeys.py"),
    ("aggregate loads", "get_journey", "journeys.py"),
    ("aggregate loads", "get", "eventsourcing/application.py"),
    ("eventsourcing save", "save", "eventsourcing/application.py"),
    ("save: mark, views, journeys (one commit)", "_save_journeys", "journeys.py"),
    ("domain fold (record, nudges)", "record", "user_journey.py"),
    ("domain fold (record, nudges)", "detect_nudges", "user_journey.py"),
    ("projection", "run", "projector.py"),
)


def component_of(frame: Any) -> str | None:
    path = (frame.file_path or "").replace("\\", "/")
    for name, function, suffix in COMPONENTS:
        if frame.function == function and path.endswith(suffix):
            return name
    return None


def breakdown(root: Any) -> tuple[dict[str, float], dict[str, float]]:
    """Time per component (outermost match wins) and self time per function."""
    components: dict[str, float] = defaultdict(float)
    own: dict[str, float] = defaultdict(float)

    def walk(frame: Any, charged: str | None) -> None:
        if frame.function.startswith("["):  # pyinstrument's [self] / [await] pseudo-frames
            return
        name = charged or component_of(frame)
        if name is not None and charged is None:
            components[name] += frame.time
        self_time = frame.total_self_time
        if self_time > 0:
            where = Path(frame.file_path or "?")
            own[f"{frame.function} ({where.parent.name}/{where.name})"] += self_time
            if name is None:
                components["other (drain loop, asyncio, logging)"] += self_time
        for child in frame.children:
            walk(child, name)

    walk(root, None)
    return components, own


@contextmanager
def count_statements() -> Iterator[dict[str, int]]:
    """Counts the statements every psycopg cursor sends (SQLAlchemy's and eventsourcing's)."""
    counts: dict[str, int] = defaultdict(int)
    originals = {name: getattr(psycopg.Cursor, name) for name in ("execute", "executemany")}

    def counting(name: str) -> Callable[..., Any]:
        original = originals[name]

        def wrapper(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return original(self, query, *args, **kwargs)

        return wrapper

    for name in originals:
        setattr(psycopg.Cursor, name, counting(name))
    try:
        yield counts
    finally:
        for name, original in originals.items():
            setattr(psycopg.Cursor, name, original)


def profile(events: int, output: Path, *, with_hash: bool) -> None:
    from pyinstrument import Profiler  # optional group "bench"

    with database() as url, autoanalyze(url):
        fill(url, events, with_hash=with_hash)
        container = open_flywheel(settings_for(url))
        try:
            processor = container.processor()
            profiler = Profiler(interval=0.0005, async_mode="disabled")
            with count_statements() as statements:
                started = time.perf_counter()
                profiler.start()
                summary = asyncio.run(processor.drain())
                profiler.stop()
                seconds = time.perf_counter() - started
        finally:
            close_flywheel(container)
    if summary.processed != events:
        raise SystemExit(f"profile: processed {summary.processed} of {events}")
    output.write_text(profiler.output_text(unicode=False, color=False, show_all=False))
    session = profiler.last_session
    root = session.root_frame() if session else None
    if root is None:
        raise SystemExit("profile: no samples")
    components, own = breakdown(root)
    print(
        f"profile: one in-process drain of {events:,} events "
        f"({'with' if with_hash else 'without'} hash), {seconds:.2f} s under the "
        f"profiler ({events / seconds:.0f} events/s); sampled {root.time:.2f} s; "
        f"tree in {output}"
    )
    print(
        f"{summary.batches} batches; psycopg calls (execute/executemany): "
        + ", ".join(f"{k} {v} ({v / summary.batches:.1f}/batch)" for k, v in statements.items())
    )
    print("by component:")
    for name, spent in sorted(components.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<40} {spent:7.2f} s  {100 * spent / root.time:5.1f} %")
    print("top self time:")
    for name, spent in sorted(own.items(), key=lambda kv: -kv[1])[:20]:
        print(f"  {name:<72} {spent:6.2f} s  {100 * spent / root.time:5.1f} %")


def main() -> None:
    global ANALYZE_INTERVAL, WORKER_BATCH_SIZE  # module settings
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[20_000])
    parser.add_argument("--workers", type=int, nargs="+", default=[2])
    parser.add_argument(
        "--peers", nargs="*", choices=PEERS, default=list(PEERS), help="pgqueuer's runs"
    )
    parser.add_argument(
        "--also", nargs="*", choices=("naive", "floor"), default=[], help="extra contenders"
    )
    parser.add_argument("--naive-limit", type=int, default=5_000)
    parser.add_argument(
        "--batch-size", type=int, default=BATCH_SIZE, help="the workers' EVENT_BATCH_SIZE"
    )
    parser.add_argument(
        "--best-batch-size",
        type=int,
        default=BEST_BATCH_SIZE,
        help="also run the workers with this EVENT_BATCH_SIZE, their best here (0: not)",
    )
    parser.add_argument(
        "--analyze-interval",
        type=float,
        default=ANALYZE_INTERVAL,
        help="ANALYZE every this many seconds beside each contender (default 0: never)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="also run the workers of this checkout (another revision), for before/after",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--profile", type=int, metavar="N", help="profile one drain of N")
    parser.add_argument(
        "--without-hash", action="store_true", help="profile rows loaded without a hash"
    )
    parser.add_argument(
        "--profile-output", type=Path, default=Path(tempfile.gettempdir()) / "pf_profile.txt"
    )
    args = parser.parse_args()
    ANALYZE_INTERVAL = args.analyze_interval
    WORKER_BATCH_SIZE = args.batch_size
    if args.profile:
        profile(args.profile, args.profile_output, with_hash=not args.without_hash)
        return
    revision = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    load = ", ".join(f"{figure:.2f}" for figure in os.getloadavg())
    print(
        f"# revision {revision}, {os.cpu_count()} CPUs, load {load} (1, 5, 15 min), "
        + (f"ANALYZE every {ANALYZE_INTERVAL:g} s" if ANALYZE_INTERVAL > 0 else "no ANALYZE")
        + f", workers' EVENT_BATCH_SIZE {WORKER_BATCH_SIZE}"
    )
    print(HEADER)
    results: list[Result] = []
    for events in args.events:
        results.extend(
            measure(
                events,
                args.workers,
                set(args.peers),
                set(args.also),
                args.naive_limit,
                args.baseline,
                args.best_batch_size,
            )
        )
    load = ", ".join(f"{figure:.2f}" for figure in os.getloadavg())
    print(f"# load at the end {load}")
    print("ratios (running rate; from spawn in brackets):")
    for line in ratios(results):
        print("  " + line)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))


if __name__ == "__main__":
    main()
