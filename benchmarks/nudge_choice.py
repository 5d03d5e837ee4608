"""What the choice among competing nudges costs the worker (not a test).

    .venv/bin/python -m benchmarks.nudge_choice [--nudges 100000] [--ranks 100000]

Two figures: the time to draw one nudge's rank (seed and Thompson draw), paid once per
nudge detected; and the time to read every nudge type's exposures and conversions from
the outcomes (``experiment_counts``), paid at most once per batch and no more often than
``NUDGE_CHOICE_REFRESH_SECONDS``, on a store holding ``--nudges`` nudges, half of them
displayed and a tenth converted: on SQLite (a temporary file) and on PostgreSQL.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.throughput import postgres_store
from src.adapters.sql.tables import nudges, nudges_sent
from src.domain.nudge_choice import TypeFigures, choice_seed, nudge_rank
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from src.entrypoints.settings import Settings
from tests.conftest import make_settings

TYPES = ("cv_to_letters", "letters_to_cv", "letters_to_rise", "stress_relief")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
CHUNK = 10_000
REFRESH = Settings.model_fields["nudge_choice_refresh_seconds"].default


def rank_cost(ranks: int) -> float:
    """Microseconds per rank drawn."""
    figures = TypeFigures(exposed=5_000, converted=600)
    started = time.perf_counter()
    for n in range(ranks):
        nudge_rank(figures, choice_seed(f"user-{n}", "letters_to_cv", T0), 0.1)
    return (time.perf_counter() - started) / ranks * 1e6


@contextmanager
def sqlite_store() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite:///{Path(folder) / 'bench.db'}"


def read_cost(url: str, count: int, rounds: int = 5) -> tuple[float, int]:
    """Median milliseconds of one read of the figures, and the exposures it counted."""
    container = open_flywheel(make_settings(url), migrate=True)
    try:
        with container.engine().begin() as connection:
            for start in range(0, count, CHUNK):
                rows = range(start, min(start + CHUNK, count))
                connection.execute(
                    nudges.insert(),
                    [
                        {
                            "nudge_id": f"n{n}",
                            "user_id": f"user-{n}",
                            "nudge_type": TYPES[n % len(TYPES)],
                            "shown_in": "phoenix-letters",
                            "target_app": "phoenix-cv",
                            "status": "converted" if n % 10 == 0 else "active",
                            "detected_at": T0,
                            "converted_at": T0 + timedelta(hours=2) if n % 10 == 0 else None,
                            "variant": "",
                            "rank": 0.5,
                        }
                        for n in rows
                    ],
                )
                connection.execute(
                    nudges_sent.insert(),
                    [
                        {
                            "nudge_id": f"n{n}",
                            "user_id": f"user-{n}",
                            "app": "phoenix-letters",
                            "shown_at": T0 + timedelta(hours=1),
                        }
                        for n in rows
                        if n % 2 == 0
                    ],
                )
            if container.engine().dialect.name == "postgresql":
                connection.exec_driver_sql("ANALYZE phoenix_nudges")
                connection.exec_driver_sql("ANALYZE phoenix_nudges_sent")
        read_models = container.read_models()
        timings: list[float] = []
        exposed = 0
        for _ in range(rounds):
            started = time.perf_counter()
            counts = read_models.experiment_counts()
            timings.append((time.perf_counter() - started) * 1000)
            exposed = sum(c.exposed for by in counts.values() for c in by.values())
        return statistics.median(timings), exposed
    finally:
        close_flywheel(container)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nudges", type=int, default=100_000)
    parser.add_argument("--ranks", type=int, default=100_000)
    args = parser.parse_args()
    print(f"rank drawn: {rank_cost(args.ranks):.1f} µs per nudge detected")
    for name, store in (("sqlite", sqlite_store), ("postgresql", postgres_store)):
        with store() as url:
            millis, exposed = read_cost(url, args.nudges)
        print(
            f"{name}: figures read over {args.nudges} nudges ({exposed} exposed) in "
            f"{millis:.1f} ms; at most once per {REFRESH:g} s: "
            f"{millis / (REFRESH * 1000):.2%} of a core"
        )


if __name__ == "__main__":
    main()
