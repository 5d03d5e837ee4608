"""What PostgreSQL's own catalogue check costs an insert (not a test).

    .venv/bin/python -m benchmarks.catalogue_check [--rows 50000] [--rounds 2]

On a migrated store, inserts ``--rows`` events in one statement (a third of them Rise
journal entries, whose declared ``stress_level`` is checked), with the trigger
``phoenix_events_check_catalogue`` disabled then enabled, and prints the time per row of
each. The other insert triggers stay on: the difference is the catalogue's check alone.
"""

from __future__ import annotations

import argparse
import time

import psycopg

from benchmarks.throughput import postgres_store
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from tests.conftest import make_settings

INSERT = """
INSERT INTO phoenix_events (event_type, app_source, user_id, payload, event_hash)
SELECT CASE WHEN g %% 3 = 0 THEN 'rise.journal_entry' ELSE 'letter.generated' END,
       CASE WHEN g %% 3 = 0 THEN 'phoenix-rise' ELSE 'phoenix-letters' END,
       'u' || (g %% 1000),
       CASE WHEN g %% 3 = 0 THEN '{"stress_level": 5}' ELSE '{}' END::jsonb,
       %(prefix)s || g
FROM generate_series(1, %(rows)s) AS g
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with postgres_store() as url:
        close_flywheel(open_flywheel(make_settings(url), migrate=True))
        with psycopg.connect(url) as connection:
            for round_ in range(args.rounds):
                for check in ("DISABLE", "ENABLE"):
                    connection.execute(
                        f"ALTER TABLE phoenix_events {check} TRIGGER phoenix_events_check_catalogue"
                    )
                    connection.commit()
                    started = time.perf_counter()
                    connection.execute(INSERT, {"prefix": f"{round_}-{check}-", "rows": args.rows})
                    connection.commit()
                    per_row = (time.perf_counter() - started) / args.rows * 1e6
                    state = "on " if check == "ENABLE" else "off"
                    print(f"round {round_ + 1}: catalogue check {state} {per_row:6.1f} us/row")


if __name__ == "__main__":
    main()
