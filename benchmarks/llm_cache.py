"""What the store's cache saves a re-processed event's extraction (not a test).

    .venv/bin/python -m benchmarks.llm_cache [--texts 200] [--model-seconds 0.5]

On each store (a SQLite file, a fresh PostgreSQL database), the container's skills
extractor reads ``--texts`` distinct offers through the local OpenAI-compatible stub
server of the tests, which answers after ``--model-seconds`` (a small local model takes
from half a second to several seconds), then reads them all again, as a re-processing
would. Prints the time per extraction of both rounds (median and 95th percentile) and how
many calls reached the stub.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.throughput import postgres_store
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from tests.conftest import make_settings
from tests.skills.openai_stub import OpenAIStub, Reply, recorded


@contextmanager
def sqlite_store() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite:///{Path(folder) / 'bench.db'}"


async def read_all(extractor: object, texts: list[str]) -> list[float]:
    seconds = []
    for text in texts:
        started = time.perf_counter()
        await extractor.extract("bench-user", "offer", text)  # type: ignore[attr-defined]
        seconds.append(time.perf_counter() - started)
    return seconds


def figures(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"median {statistics.median(ordered) * 1000:8.2f} ms   p95 {p95 * 1000:8.2f} ms"


def run(store: str, url: str, texts: list[str], stub: OpenAIStub) -> None:
    before = len(stub.requests)
    settings = make_settings(url, llm_base_url=stub.base_url, llm_model="qwen2.5:3b")
    container = open_flywheel(settings, migrate=True)
    try:
        extractor = container.skills_extractor()
        first = asyncio.run(read_all(extractor, texts))
        again = asyncio.run(read_all(extractor, texts))
    finally:
        close_flywheel(container)
    calls = len(stub.requests) - before
    print(f"{store:10}  first read (model): {figures(first)}")
    print(f"{store:10}  read again (cache): {figures(again)}   calls to the model: {calls}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=200)
    parser.add_argument("--model-seconds", type=float, default=0.5)
    args = parser.parse_args()
    texts = [f"Offre {n} : Data Engineer, Python, SQL, Docker, anglais." for n in range(args.texts)]
    stub = OpenAIStub(default=Reply(recorded("offer_airbus"), delay=args.model_seconds))
    stub.start()
    try:
        print(f"{args.texts} texts, the model answering in {args.model_seconds:g} s")
        with sqlite_store() as url:
            run("sqlite", url, texts, stub)
        with postgres_store() as url:
            run("postgresql", url, texts, stub)
    finally:
        stub.stop()


if __name__ == "__main__":
    main()
