"""Opening and closing the flywheel: settings to a ready container, and back."""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import Engine

from src.adapters.sql.database import (
    check_reachable,
    check_schema,
    create_schema,
    ping,
    redact,
)
from src.application.errors import (
    PersistenceModuleInvalidError,
    SchemaMissingError,
    StoreUnavailableError,
)
from src.application.rule_book import rule_book
from src.entrypoints.container import Container, build_container
from src.entrypoints.settings import Settings

logger = logging.getLogger(__name__)

MAX_OPEN_PAUSE_SECONDS = 30.0
PROBE_INTERVAL_SECONDS = 1.0


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
    # What the store decides on its own follows the code and the settings that start.
    container.rule_book().publish(
        rule_book(container.catalogue(), container.experiments(), settings.nudge_settings)
    )
    if migrate:
        publish_worker_settings(container)
    _open_journeys(container)


def publish_worker_settings(container: Container) -> None:
    """Write the settings the store's scaling signal needs (``EVENT_BATCH_SIZE``).

    By ``migrate`` and by whatever starts a worker (``worker``, ``serve`` with its worker,
    ``process``), never by the API alone, whose settings need not be the workers'.
    """
    settings: Settings = container.settings()
    container.worker_settings().publish(settings.event_batch_size)


def _open_journeys(container: Container, attempts: int = 5) -> None:
    """Build the journeys application, which creates eventsourcing's tables if missing.

    Workers started together race on that ``CREATE TABLE IF NOT EXISTS`` ("tuple
    concurrently updated"); the loser simply tries again once the winner is done.
    """
    for attempt in range(1, attempts + 1):
        try:
            container.journeys()
        except PersistenceModuleInvalidError:
            raise  # a setting: trying again changes nothing
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


def open_flywheel_retrying(
    settings: Settings, stopping: threading.Event, max_pause: float = MAX_OPEN_PAUSE_SECONDS
) -> Container | None:
    """``open_flywheel``, retried with a doubling pause (from ``POLL_INTERVAL_SECONDS`` up
    to ``max_pause``) while the store is unreachable or not migrated; None once stopping.

    Each failure is logged with its reason and the pause, so an operator sees why a
    worker waits rather than a worker that died at start. While the store is
    unreachable, a cheap ping every ``PROBE_INTERVAL_SECONDS`` ends the pause as soon as
    it answers: a database back after a long outage is used at once. A wrong
    ``PERSISTENCE_MODULE`` is raised at once (``PersistenceModuleInvalidError``): no wait
    makes it right.
    """
    container = build_container(settings)
    pause = settings.poll_interval_seconds
    while not stopping.is_set():
        unreachable = False
        try:
            prepare_store(container)
        except StoreUnavailableError as error:
            reason, unreachable = str(error), True
        except SchemaMissingError as error:
            reason = str(error)
        except PersistenceModuleInvalidError:
            container.engine().dispose()
            raise
        except Exception as error:  # noqa: BLE001 - e.g. the journeys' tables unreachable
            reason = f"cannot open {redact(settings.database_url)}: {type(error).__name__}"
            unreachable = True
        else:
            return container
        logger.warning(
            "store not ready at start, retrying in %ss",
            f"{pause:g}",
            extra={"error": reason, "pause_seconds": pause},
        )
        wait_for_store(stopping, pause, container.engine() if unreachable else None)
        pause = min(pause * 2, max_pause)
    container.engine().dispose()
    return None


def wait_for_store(stopping: threading.Event, pause: float, unreachable: Engine | None) -> None:
    """Wait ``pause`` seconds, or less: stopping, or the ``unreachable`` store answers a
    ping (tried every ``PROBE_INTERVAL_SECONDS``), so it is opened at once.

    Pass None for a store that answers but is not ready (not migrated): pinging it would
    only retry it every second.
    """
    deadline = time.monotonic() + pause
    while not stopping.wait(min(PROBE_INTERVAL_SECONDS, max(deadline - time.monotonic(), 0))):
        if time.monotonic() >= deadline:
            return
        if unreachable is not None and ping(unreachable) is None:
            logger.info("store answers; opening it now")
            return


def close_flywheel(container: Container) -> None:
    # The resources first (the skills extractor): a call in flight may still write its
    # answer to the store.
    container.shutdown_resources()
    container.journeys().close()
    container.engine().dispose()
