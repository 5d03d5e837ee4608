"""How big one user's journey gets: its snapshot and its memory after N events (not a
test; prints figures).

    .venv/bin/python -m benchmarks.journey_size [--events 5000 50000]

One user's letters and CVs, one every ten minutes, folded in batches of 500 through the
worker's ``JourneyApplication`` on a throw-away SQLite store. Printed per size: the snapshots
taken and their bytes in all, the last snapshot's bytes, and the journey's memory once
reloaded (``tracemalloc``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

from src.application.journeys import SourceEvent
from src.domain.user_journey import journey_id
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from src.entrypoints.settings import Settings

BATCH = 500
START = datetime(2025, 1, 1, tzinfo=UTC)
KINDS = (("letter.generated", "phoenix-letters"), ("cv.uploaded", "phoenix-cv"))


def measure(events: int, folder: Path) -> dict[str, float]:
    url = f"sqlite:///{folder / f'journey_{events}.db'}"
    container = open_flywheel(Settings(_env_file=None, database_url=url), migrate=True)  # type: ignore[call-arg]
    journeys = container.journeys()
    started = time.perf_counter()
    try:
        for first in range(0, events, BATCH):
            journeys.fold(
                [
                    SourceEvent(
                        n + 1,
                        f"{n:064x}",
                        *KINDS[n % 2],
                        "heavy",
                        START + timedelta(minutes=10 * n),
                    )
                    for n in range(first, min(first + BATCH, events))
                ]
            )
        elapsed = time.perf_counter() - started
        assert journeys.snapshots is not None
        snapshots = [
            len(journeys.mapper.to_stored_event(s).state)
            for s in journeys.snapshots.get(journey_id("heavy"))
        ]
        journeys.repository.cache.get(journey_id("heavy"), evict=True)  # type: ignore[union-attr]
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        journey = journeys.get_journey("heavy")
        held = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        assert journey is not None
    finally:
        close_flywheel(container)
    return {
        "events": events,
        "seconds": elapsed,
        "snapshots": len(snapshots),
        "snapshot_bytes_total": sum(snapshots),
        "last_snapshot_bytes": snapshots[-1] if snapshots else 0,
        "journey_bytes": held,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, nargs="+", default=[5_000, 50_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for events in args.events:
            figures = measure(events, Path(folder))
            print(
                f"{figures['events']:>7,} events: {figures['snapshots']:,.0f} snapshots, "
                f"{figures['snapshot_bytes_total']:,.0f} bytes in all, last one "
                f"{figures['last_snapshot_bytes']:,.0f} bytes; journey in memory "
                f"{figures['journey_bytes']:,.0f} bytes; folded in {figures['seconds']:.1f} s"
            )


if __name__ == "__main__":
    main()
