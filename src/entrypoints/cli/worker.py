"""``phoenix-flywheel worker`` and its health check, ``worker-alive``."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from src.adapters.heartbeat_file import HeartbeatFile
from src.application.errors import PersistenceModuleInvalidError
from src.application.processing.describe import describe
from src.application.worker import BackgroundWorker
from src.entrypoints.bootstrap import (
    build_worker,
    close_flywheel,
    open_flywheel_retrying,
    publish_worker_settings,
)
from src.entrypoints.cli.output import EXIT_INPUT, EXIT_OK, EXIT_STORE
from src.entrypoints.gc_tuning import tune_for_worker
from src.entrypoints.settings import Settings

logger = logging.getLogger(__name__)

HEARTBEAT_MAX_AGE_SECONDS = 60.0


def run_worker(settings: Settings) -> int:
    stopping = threading.Event()
    workers: list[BackgroundWorker] = []

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()
        for worker in workers:
            worker.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        container = open_flywheel_retrying(settings, stopping)
    except PersistenceModuleInvalidError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_INPUT
    if container is None:
        return EXIT_OK  # stopped while waiting for the store
    try:
        try:
            publish_worker_settings(container)
        except Exception as error:  # noqa: BLE001 - the signal's divisor; the worker runs on
            logger.warning("worker settings not written", extra={"error": describe(error)})
        worker = build_worker(container, heartbeat_file=settings.worker_heartbeat_file)
        workers.append(worker)
        if stopping.is_set():
            return EXIT_OK
        tune_for_worker()
        print("worker started; Ctrl+C to stop", file=sys.stderr)
        worker.run()
        print("worker stopped", file=sys.stderr)
    finally:
        close_flywheel(container)
    return EXIT_OK


def worker_alive(settings: Settings, max_age: float) -> int:
    """The worker's health check: its loop went round within ``max_age`` seconds.

    Fresh while the worker drains, idles or pauses after a failure (it keeps retrying);
    stale when it is stuck, or still waiting for its store at start.
    """
    if settings.worker_heartbeat_file is None:
        print("error: set WORKER_HEARTBEAT_FILE (for the worker and this check)", file=sys.stderr)
        return EXIT_INPUT
    age = HeartbeatFile(settings.worker_heartbeat_file).age_seconds()
    if age is None:
        print(f"not alive: no heartbeat in {settings.worker_heartbeat_file} yet")
        return EXIT_STORE
    if age > max_age:
        print(f"not alive: last heartbeat {age:.0f}s ago (more than {max_age:g}s)")
        return EXIT_STORE
    print(f"alive: last heartbeat {age:.1f}s ago")
    return EXIT_OK
