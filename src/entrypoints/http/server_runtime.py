"""The server's flywheel: opened in the background, so the API answers from the first second.

Until the first attempt to open the store has ended, ``/health`` says 503 ``starting``
and a request that needs the store waits for that attempt (``OPEN_WAIT_SECONDS`` at
most) rather than failing: a client that calls as soon as the port answers is served.
The store may be down when the server starts: the API then answers ``/health`` with 503
and the supervisor keeps trying; once the store answers, the schema is checked, the
worker starts (draining the backlog when ``AUTO_PROCESS_ON_STARTUP``) and, on PostgreSQL,
a LISTEN connection wakes it as soon as events arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time

from sqlalchemy import Engine

from src.adapters.postgres.wakeup import PostgresWakeup
from src.adapters.sql.database import ping, redact
from src.application.errors import (
    PersistenceModuleInvalidError,
    SchemaMissingError,
    StoreStartingError,
    StoreUnavailableError,
)
from src.application.group_commit import GroupCommit
from src.application.processing.describe import describe
from src.application.processing.summary import DrainSummary
from src.application.worker import BackgroundWorker
from src.entrypoints.bootstrap import (
    Container,
    build_container,
    build_worker,
    close_flywheel,
    open_wakeup,
    prepare_store,
    publish_worker_settings,
    wait_for_store,
)
from src.entrypoints.http.errors import NOT_MIGRATED
from src.entrypoints.settings import Settings

logger = logging.getLogger(__name__)

MAX_RETRY_SECONDS = 30.0
MANUAL_DRAIN_WAIT_SECONDS = 60.0
OPEN_WAIT_SECONDS = 5.0
"""How long a request that needs the store waits for the first attempt to open it."""
OPEN_POLL_SECONDS = 0.005
STARTING = "starting"


class ServerRuntime:
    def __init__(self, settings: Settings, *, run_worker: bool = True) -> None:
        self.settings = settings
        self.container: Container = build_container(settings)
        self._run_worker = run_worker
        self._opened = threading.Event()
        self._first_attempt_over = threading.Event()
        self._stopping = threading.Event()
        self._open_error: str | None = None
        self._schema_missing = False
        self.worker: BackgroundWorker | None = None
        self._wakeup: PostgresWakeup | None = None
        self._thread = threading.Thread(target=self._supervise, name="flywheel", daemon=True)
        self._manual_drains = 0
        self._manual_done = threading.Condition()
        self._last_problem: str | None = None
        self.group_commit = GroupCommit(
            lambda groups: self.require_open().ingestion().append_groups(groups)
        )
        """How ``POST /api/events`` writes: with the requests that arrive meanwhile."""

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._first_attempt_over.set()  # nobody waits for a store that will not open
        if self.worker is not None:
            self.worker.stop()
        self._thread.join(timeout=60)
        with self._manual_done:
            # A drain asked over HTTP stops between batches too; the engine is only
            # closed once its batch is done, so its events are never left half-written.
            self._manual_done.wait_for(
                lambda: self._manual_drains == 0, timeout=MANUAL_DRAIN_WAIT_SECONDS
            )
        if self._wakeup is not None:
            self._wakeup.stop()
        if self._opened.is_set():
            close_flywheel(self.container)
        else:
            # A store that never opened may have no engine to dispose of (a SQLite
            # folder that does not exist refuses to make one).
            with contextlib.suppress(StoreUnavailableError):
                self.container.engine().dispose()

    def require_open(self) -> Container:
        """The container, once the store is open; else an error saying why (a 503)."""
        if self._opened.is_set():
            return self.container
        if self._schema_missing:
            raise SchemaMissingError(self._open_error or NOT_MIGRATED)
        if not self._first_attempt_over.is_set():
            raise StoreStartingError("the store is being opened")
        raise StoreUnavailableError(self._open_error or "the store is being opened")

    def open_container(self, timeout: float = OPEN_WAIT_SECONDS) -> Container:
        """``require_open``, after waiting for the first attempt to open the store; for
        code running in a worker thread."""
        self._first_attempt_over.wait(timeout)
        return self.require_open()

    async def open_container_async(self, timeout: float = OPEN_WAIT_SECONDS) -> Container:
        """``open_container`` for the event loop: polls, so no thread is held waiting."""
        deadline = time.monotonic() + timeout
        while not self._first_attempt_over.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(OPEN_POLL_SECONDS)
        return self.require_open()

    def drain_now(self) -> DrainSummary:
        """Drain on the calling thread (``POST /api/events/process-queue``), with totals.

        It may overlap the background worker's drain: both are safe, each claims other
        events under its lease. A shutdown stops it between batches.
        """
        processor = self.open_container().processor()
        with self._manual_done:
            self._manual_drains += 1
        try:
            return asyncio.run(processor.drain(should_stop=self._stopping.is_set))
        finally:
            with self._manual_done:
                self._manual_drains -= 1
                self._manual_done.notify_all()

    def wait_open(self, timeout: float) -> bool:
        return self._opened.wait(timeout)

    def database_state(self) -> str:
        """``ok`` when the store answers now and is open, else what any client may be told:
        ``starting``, ``unreachable`` or ``NOT_MIGRATED``.

        The reason itself (it names the database's host, port and user) goes to the log
        when it changes, not on every poll of a health check: ``/health`` answers anyone.
        A store that answers but could not be opened (its schema missing) is not ready:
        every other endpoint answers 503 then, so ``/health`` must not say ok.
        """
        try:
            problem = ping(self.container.engine())
        except StoreUnavailableError as error:  # a SQLite folder that went missing
            problem = str(error)
        if problem is None and not self._opened.is_set():
            if not self._first_attempt_over.is_set():
                return STARTING
            problem = self._open_error
        if problem is not None and problem != self._last_problem:
            logger.warning("store not ready", extra={"error": problem})
        self._last_problem = problem
        if problem is None:
            return "ok"
        return NOT_MIGRATED if self._schema_missing else "unreachable"

    @property
    def worker_external(self) -> bool:
        """The API alone (``serve --no-worker``): workers are processes of their own."""
        return not self._run_worker

    @property
    def worker_running(self) -> bool:
        return self.worker is not None and self.worker.running

    def wake_worker(self) -> None:
        if self.worker is not None:
            self.worker.wake()

    def _supervise(self) -> None:
        if not self._open_store():
            return
        if not self._run_worker:
            return
        try:
            publish_worker_settings(self.container)
        except Exception as error:  # noqa: BLE001 - the signal's divisor; the worker runs on
            logger.warning("worker settings not written", extra={"error": describe(error)})
        self.worker = build_worker(
            self.container, drain_at_start=self.settings.auto_process_on_startup
        )
        self._wakeup = open_wakeup(self.settings, self.wake_worker)
        if self._wakeup is not None:
            self._wakeup.start()
        if not self._stopping.is_set():
            self.worker.run()

    def _open_store(self) -> bool:
        pause = self.settings.poll_interval_seconds
        while not self._stopping.is_set():
            unreachable: Engine | None = None
            try:
                # Inside the try: a SQLite folder that went missing fails the engine itself.
                unreachable = self.container.engine()
                prepare_store(self.container)
            except (StoreUnavailableError, SchemaMissingError) as error:
                self._schema_missing = isinstance(error, SchemaMissingError)
                if self._schema_missing:
                    unreachable = None
                self._open_error = str(error)
                logger.warning(
                    "store not ready, retrying",
                    extra={"error": str(error), "pause_seconds": pause},
                )
            except PersistenceModuleInvalidError as error:
                # A setting: no retry makes it right. /health says why (503).
                self._open_error = str(error)
                logger.error("store refused", extra={"error": self._open_error})
                self._first_attempt_over.set()
                return False
            except Exception as error:  # noqa: BLE001 - e.g. the journeys' tables unreachable
                self._open_error = f"cannot open {redact(self.settings.database_url)}: {error}"
                logger.warning("store not ready, retrying", extra={"error": self._open_error})
            else:
                self._open_error = None
                self._schema_missing = False
                self._opened.set()
                self._first_attempt_over.set()
                logger.info("store open", extra={"store": redact(self.settings.database_url)})
                return True
            self._first_attempt_over.set()
            wait_for_store(self._stopping, pause, unreachable)
            pause = min(pause * 2, MAX_RETRY_SECONDS)
        return False
