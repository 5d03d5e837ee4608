"""Ingest load against a running server: requests/s and p50/p99 latency (not a test).

    .venv/bin/python -m benchmarks.http_ingest [--requests 2000] [--concurrency 16]

Starts ``phoenix-flywheel serve`` (uvicorn, one process) on a free port for each store,
sends single-event and 100-event batch ingests from ``--concurrency`` concurrent
clients on loopback, and prints the figures. The background worker runs meanwhile, as
in production.
"""

from __future__ import annotations

import argparse
import asyncio
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
from pathlib import Path

import httpx

from benchmarks.throughput import postgres_store
from src.entrypoints.runtime import close_flywheel, open_flywheel
from src.entrypoints.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def server(database_url: str) -> Iterator[str]:
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
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/api/events/queue-status").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            time.sleep(0.1)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def body(batch: int, run: str, index: int) -> dict[str, object]:
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
    return events[0] if batch == 1 else {"events": events}


async def load(base: str, requests: int, batch: int, concurrency: int) -> list[float]:
    run = uuid.uuid4().hex[:8]
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(requests):
        queue.put_nowait(index)

    async def client() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            while not queue.empty():
                index = queue.get_nowait()
                started = time.perf_counter()
                response = await http.post("/api/events", json=body(batch, run, index))
                latencies.append(time.perf_counter() - started)
                if response.status_code != 202:
                    raise SystemExit(f"unexpected answer {response.status_code}: {response.text}")

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies


def report(store: str, label: str, batch: int, latencies: list[float], seconds: float) -> None:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    rate = len(latencies) / seconds
    print(
        f"{store:<9} {label:<16} {len(latencies):>6} requests  {rate:8.0f} req/s  "
        f"{rate * batch:8.0f} events/s  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--batch-requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--stores", default="sqlite,postgres")
    args = parser.parse_args()
    for store in args.stores.split(","):
        if store == "sqlite":
            folder = tempfile.TemporaryDirectory()
            url_context = _fixed(f"sqlite:///{Path(folder.name) / 'bench.db'}")
        else:
            url_context = postgres_store()
        with url_context as url, server(url) as base:
            for label, batch, requests in (
                ("single event", 1, args.requests),
                ("batch of 100", 100, args.batch_requests),
            ):
                started = time.perf_counter()
                latencies = asyncio.run(load(base, requests, batch, args.concurrency))
                report(store, label, batch, latencies, time.perf_counter() - started)


@contextmanager
def _fixed(url: str) -> Iterator[str]:
    yield url


if __name__ == "__main__":
    main()
