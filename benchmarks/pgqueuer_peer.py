"""One pgqueuer consumer process for ``side_by_side`` (not a test, not run by hand).

    python -m benchmarks.pgqueuer_peer URL MANAGERS BATCH

Connects ``MANAGERS`` queue managers (asyncpg, one connection each) with a no-op
entrypoint, prints their server processes' ids (one JSON line) and waits for a line on
stdin; then drains the queue (``mode=drain``) with dequeue batches of ``BATCH`` and
prints one JSON line: the jobs run, when the drain started and ended
(``time.perf_counter``: CLOCK_MONOTONIC on Linux, comparable between processes) and this
process's CPU time during the drain. Imports and connections are done before the parent
says go, so only the drain is timed, as in pgqueuer's own drain benchmark.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time


async def consume(url: str, managers: int, batch: int) -> dict[str, float]:
    """``run`` closes the connections when it ends, and their server processes exit: the
    parent samples their CPU time while they run (it knows them from the first line)."""
    import asyncpg  # optional group "bench"
    from pgqueuer import AsyncpgDriver, Job, Queries, QueueManager
    from pgqueuer.domain.types import QueueExecutionMode

    done = 0
    queue_managers = []
    backends: list[int] = []
    for _ in range(managers):
        connection = await asyncpg.connect(dsn=url)
        backends.append(connection.get_server_pid())
        manager = QueueManager(Queries(AsyncpgDriver(connection)))

        @manager.entrypoint("noop")
        async def noop(job: Job) -> None:
            nonlocal done
            done += 1

        queue_managers.append(manager)
    print(json.dumps({"backends": backends}), flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    started, cpu_started = time.perf_counter(), time.process_time()
    await asyncio.gather(
        *(m.run(batch_size=batch, mode=QueueExecutionMode.drain) for m in queue_managers)
    )
    ended = time.perf_counter()
    client_cpu = time.process_time() - cpu_started
    return {"done": done, "started": started, "ended": ended, "client_cpu": client_cpu}


def main() -> None:
    url, managers, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    print(json.dumps(asyncio.run(consume(url, managers, batch))), flush=True)


if __name__ == "__main__":
    main()
