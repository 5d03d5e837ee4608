"""Opening and closing the flywheel: settings to a ready container, and back."""

from __future__ import annotations

import time

from src.adapters.sql_database import check_reachable, check_schema, create_schema
from src.entrypoints.container import Container, build_container
from src.entrypoints.settings import Settings


def prepare_store(container: Container, *, migrate: bool = False) -> None:
    """Make sure the store is reachable and its schema exists, or raise saying why.

    The embedded SQLite store creates its schema on first use, as a newcomer expects;
    a shared PostgreSQL is only changed by an explicit ``migrate``.
    """
    settings: Settings = container.settings()
    engine = container.engine()
    check_reachable(engine, settings.database_url)
    if migrate or settings.store_kind == "sqlite":
        create_schema(engine)
    else:
        check_schema(engine)
    container.read_models().save_experiments(
        container.experiments(), settings.nudge_attribution_days
    )
    _open_journeys(container)


def _open_journeys(container: Container, attempts: int = 5) -> None:
    """Build the journeys application, which creates eventsourcing's tables if missing.

    Workers started together race on that ``CREATE TABLE IF NOT EXISTS`` ("tuple
    concurrently updated"); the loser simply tries again once the winner is done.
    """
    for attempt in range(1, attempts + 1):
        try:
            container.journeys()
        except Exception:
            if attempt == attempts:
                raise
            time.sleep(0.2 * attempt)
        else:
            return


def open_flywheel(settings: Settings, *, migrate: bool = False) -> Container:
    """A container whose store is reachable and whose schema exists."""
    container = build_container(settings)
    try:
        prepare_store(container, migrate=migrate)
    except BaseException:
        container.engine().dispose()
        raise
    return container


def close_flywheel(container: Container) -> None:
    container.journeys().close()
    container.engine().dispose()
