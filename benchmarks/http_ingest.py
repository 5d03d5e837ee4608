"""Ingest load against a running server: requests/s, p50/p99 latency, CPU per event (not a test).

    .venv/bin/python -m benchmarks.http_ingest [--stores sqlite,postgres] [--requests 2000]
        [--batch-requests 200] [--concurrency 16] [--rounds 1] [--no-worker]

Starts ``phoenix-flywheel serve`` (the real command, its background worker running as in
production, or with ``--no-worker`` the API alone, as when workers run in processes of
their own) on a free port for each store, sends single-event and 100-event batch
ingests from ``--concurrency`` concurrent keep-alive clients on loopback, and prints the
figures: requests/s, events/s, p50 and p99 latency, and the CPU time per event of the
server process and of the PostgreSQL backends serving its database (the machine's load
average too: the figures are only comparable at a similar load).

The clients speak HTTP/1.1 over bare asyncio streams with bodies encoded beforehand: an
HTTP library spent more CPU per request than the server (1.3 ms against 2 ms with
httpx), so on a small machine it measured itself as much as the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.throughput import postgres_store
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from src.entrypoints.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    pid: int
    database: str | None
    """The PostgreSQL database it uses, whose backends' CPU is counted; None on SQLite."""

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def server(database_url: str, *, no_worker: bool = False) -> Iterator[Server]:
    settings = Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]
    close_flywheel(open_flywheel(settings, migrate=True))
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "src.entrypoints.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *(["--no-worker"] if no_worker else []),
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    database = database_url.rpartition("/")[2] if database_url.startswith("postgres") else None
    running = Server("127.0.0.1", port, process.pid, database)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{running.base}/api/events/queue-status").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            time.sleep(0.1)
        yield running
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def body(batch: int, run: str, index: int) -> bytes:
    events = [
        {
            "event_type": "letter.generated",
            "app_source": "phoenix-letters",
            "user_id": f"user-{(index * batch + n) % 5000}",
            "payload": {"company": "Airbus", "n": n},
            "idempotency_key": f"{run}-{index}-{n}",
        }
        for n in range(batch)
    ]
    return json.dumps(events[0] if batch == 1 else {"events": events}).encode()


def request(target: Server, payload: bytes) -> bytes:
    head = (
        f"POST /api/events HTTP/1.1\r\nHost: {target.host}:{target.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


async def answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One HTTP/1.1 response read off a keep-alive connection: its status and body."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _sep, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def load(target: Server, requests: int, batch: int, concurrency: int) -> list[float]:
    """Latency of each request, every event checked as accepted (none a duplicate)."""
    run = uuid.uuid4().hex[:8]
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for index in range(requests):
        queue.put_nowait(request(target, body(batch, run, index)))
    latencies: list[float] = []

    async def client() -> None:
        reader, writer = await asyncio.open_connection(target.host, target.port)
        try:
            while not queue.empty():
                raw = queue.get_nowait()
                started = time.perf_counter()
                writer.write(raw)
                status, answered = await answer(reader)
                latencies.append(time.perf_counter() - started)
                if status != 202 or json.loads(answered) != {"accepted": batch, "duplicates": 0}:
                    raise SystemExit(f"unexpected answer {status}: {answered!r}")
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process, all its threads; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def database_cpu_seconds(database: str | None) -> float:
    """CPU time of the PostgreSQL backends connected to ``database`` (process titles)."""
    if database is None or not Path("/proc").is_dir():
        return 0.0
    marker = f" {database} "
    total = 0.0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline") as title:
                    if marker in title.read():
                        total += cpu_seconds(int(entry))
            except OSError:
                continue
    return total


def report(
    store: str,
    label: str,
    batch: int,
    latencies: list[float],
    seconds: float,
    cpu: tuple[float, float],
) -> None:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    rate = len(latencies) / seconds
    events = len(latencies) * batch
    server_ms, database_ms = (1000 * spent / events for spent in cpu)
    database = f"  postgres {database_ms:.3f}" if store == "postgres" else ""
    print(
        f"{store:<9} {label:<13} {len(latencies):>5} requests {rate:7.0f} req/s "
        f"{rate * batch:7.0f} events/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  "
        f"CPU ms/event: server {server_ms:.3f}{database}",
        flush=True,
    )


def measure(
    target: Server, store: str, label: str, batch: int, requests: int, concurrency: int
) -> None:
    before = (cpu_seconds(target.pid), database_cpu_seconds(target.database))
    started = time.perf_counter()
    latencies = asyncio.run(load(target, requests, batch, concurrency))
    seconds = time.perf_counter() - started
    after = (cpu_seconds(target.pid), database_cpu_seconds(target.database))
    spent = (after[0] - before[0], after[1] - before[1])
    report(store, label, batch, latencies, seconds, spent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--batch-requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--rounds", type=int, default=1, help="both phases, this many times")
    parser.add_argument(
        "--no-worker", action="store_true", help="serve --no-worker: the API alone, no worker"
    )
    args = parser.parse_args()
    for store in args.stores.split(","):
        if store == "sqlite":
            folder = tempfile.TemporaryDirectory()
            url_context = _fixed(f"sqlite:///{Path(folder.name) / 'bench.db'}")
        else:
            url_context = postgres_store()
        with url_context as url, server(url, no_worker=args.no_worker) as target:
            for _round in range(args.rounds):
                print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
                for label, batch, requests in (
                    ("single event", 1, args.requests),
                    ("batch of 100", 100, args.batch_requests),
                ):
                    measure(target, store, label, batch, requests, args.concurrency)


@contextmanager
def _fixed(url: str) -> Iterator[str]:
    yield url


if __name__ == "__main__":
    main()
