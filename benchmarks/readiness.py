"""The readiness window of ``phoenix-flywheel serve``: how long after the process starts
``/health`` says 200 and an ingest is accepted (not a test).

    .venv/bin/python -m benchmarks.readiness [--runs 10] [--store postgres|sqlite]

Each run starts the real command on a migrated store (a throw-away PostgreSQL database,
or a SQLite file) and, from the moment the port accepts a connection, sends
``POST /api/events`` and ``GET /health`` in turn until both have succeeded. It prints,
per run and as median and maximum: the time to the first answer, to the first 200 of
``/health`` and to the first 202 of an ingest (all from the process's start), how long
the first ingest waited, the window in which ``/health`` said 503 ``starting`` (from the
first answer to its first 200), and every answer that was neither (there should be none but
``/health``'s 503 ``starting``). ``tests/e2e/test_readiness.py`` runs the same probe
and holds its invariants.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx

from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from src.entrypoints.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEADLINE_SECONDS = 30.0


@dataclass(frozen=True)
class Answer:
    at: float
    """Seconds since the process was started, when the answer arrived."""
    request: str
    status: int
    body: str
    took: float


@dataclass
class StartRun:
    started: float = 0.0
    first_answer: float | None = None
    answers: list[Answer] = field(default_factory=list)

    def first(self, request: str, status: int) -> Answer | None:
        return next((a for a in self.answers if a.request == request and a.status == status), None)

    @property
    def health_ok(self) -> float | None:
        answer = self.first("health", 200)
        return answer.at if answer else None

    @property
    def ingest_accepted(self) -> float | None:
        answer = self.first("ingest", 202)
        return answer.at if answer else None

    @property
    def unexpected(self) -> list[Answer]:
        """Answers other than 202, 200 and ``/health``'s 503 ``starting``."""
        return [
            a
            for a in self.answers
            if a.status not in (200, 202)
            and not (a.request == "health" and a.status == 503 and '"starting"' in a.body)
        ]


def serve_command() -> list[str]:
    script = Path(sys.executable).with_name("phoenix-flywheel")
    return [str(script)] if script.exists() else [sys.executable, "-m", "src.entrypoints.cli"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def probe_start(database_url: str, *, log: Path | None = None) -> StartRun:
    """Start the server, probe it until it is ready, stop it; every answer recorded."""
    port = free_port()
    environment = {**os.environ, "DATABASE_URL": database_url, "POLL_INTERVAL_SECONDS": "0.5"}
    environment.pop("FLYWHEEL_API_TOKEN", None)
    run = StartRun()
    with open(log or os.devnull, "wb") as log_file:
        run.started = time.perf_counter()
        process = subprocess.Popen(
            [*serve_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
        try:
            _probe(run, process, port)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=45)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return run


def _probe(run: StartRun, process: subprocess.Popen[bytes], port: int) -> None:
    deadline = run.started + DEADLINE_SECONDS
    while True:
        with socket.socket() as connection:
            if connection.connect_ex(("127.0.0.1", port)) == 0:
                break
        if process.poll() is not None or time.perf_counter() > deadline:
            raise RuntimeError(f"the server did not listen (exit code {process.poll()})")
        time.sleep(0.002)
    run.first_answer = time.perf_counter() - run.started
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        index = 0
        while run.health_ok is None or run.ingest_accepted is None:
            if time.perf_counter() > deadline:
                raise RuntimeError("not ready within the deadline")
            index += 1
            if index % 2:
                event = {
                    "event_type": "cv.uploaded",
                    "app_source": "phoenix-cv",
                    "user_id": "readiness",
                    "idempotency_key": uuid.uuid4().hex,
                }
                _send(run, "ingest", partial(client.post, "/api/events", json=event))
            else:
                _send(run, "health", partial(client.get, "/health"))


def _send(run: StartRun, request: str, call: Callable[[], httpx.Response]) -> None:
    sent = time.perf_counter()
    response = call()
    now = time.perf_counter()
    run.answers.append(
        Answer(now - run.started, request, response.status_code, response.text, now - sent)
    )


@contextmanager
def migrated_store(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{folder}/readiness.db"
            _migrate(url)
            yield url
        return
    from benchmarks.throughput import postgres_store

    with postgres_store() as url:
        _migrate(url)
        yield url


def _migrate(url: str) -> None:
    close_flywheel(open_flywheel(Settings(_env_file=None, database_url=url), migrate=True))  # type: ignore[call-arg]  # pydantic-settings init kwarg


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:7.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    args = parser.parse_args()
    runs: list[StartRun] = []
    print(f"store: {args.store}; times in ms from the process's start")
    print("run  first answer  health 200  ingest 202  first ingest waited  unexpected")
    with migrated_store(args.store) as url:
        for number in range(1, args.runs + 1):
            run = probe_start(url)
            runs.append(run)
            first_ingest = run.answers[0] if run.answers else None
            print(
                f"{number:3}  {_ms(run.first_answer):>12}  {_ms(run.health_ok):>10}  "
                f"{_ms(run.ingest_accepted):>10}  "
                f"{_ms(first_ingest.took if first_ingest else None):>19}  "
                f"{[(a.request, a.status) for a in run.unexpected]}"
            )
    for label, values in (
        ("first answer", [r.first_answer for r in runs]),
        ("health 200", [r.health_ok for r in runs]),
        ("ingest 202", [r.ingest_accepted for r in runs]),
        ("first ingest waited", [r.answers[0].took for r in runs if r.answers]),
        (
            "503 starting window",
            [r.health_ok - r.first_answer for r in runs if r.health_ok and r.first_answer],
        ),
    ):
        present = [v for v in values if v is not None]
        print(
            f"{label:>20}: median {_ms(statistics.median(present))} ms, max {_ms(max(present))} ms"
        )
    print(f"unexpected answers: {sum(len(r.unexpected) for r in runs)} in {len(runs)} runs")
    print(f"load average during the runs: {os.getloadavg()[0]:.1f} (2 cores)")


if __name__ == "__main__":
    main()
