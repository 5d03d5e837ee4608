"""The outbox's health, told once: a fallback that fails must not fail the app.

Every outbox call of the bridge goes through ``read`` or ``write``. A failure (an
unwritable folder, a read-only file, a full disk) is logged once per episode, kept as
``problem`` for the app to report, and turned into ``OutboxUnavailableError`` (writes) or
a default value (reads). Only a successful write ends the episode: a full disk still
reads, and logging its recovery at every read would be one line per event.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from phoenix_bridge.outbox import SqliteOutbox

logger = logging.getLogger("phoenix_flywheel.bridge")
T = TypeVar("T")
_OUTBOX_ERRORS = (sqlite3.Error, OSError)


class OutboxUnavailableError(Exception):
    """The outbox file cannot be opened or written (unwritable folder, full disk)."""


class OutboxGuard:
    def __init__(self, outbox: SqliteOutbox) -> None:
        self.outbox = outbox
        self.problem: str | None = None
        self._lock = threading.Lock()

    def write(self, action: Callable[..., T], *args: Any) -> T:
        try:
            result = action(*args)
        except _OUTBOX_ERRORS as error:
            self._failed(error)
            raise OutboxUnavailableError(str(error)) from error
        if self.problem is not None:
            with self._lock:
                if self.problem is not None:
                    logger.info("the outbox at %s is usable again", self.outbox.path)
                    self.problem = None
        return result

    def read(self, action: Callable[..., T], *args: Any, default: T) -> T:
        try:
            return action(*args)
        except _OUTBOX_ERRORS as error:
            self._failed(error)
            return default

    def _failed(self, error: BaseException) -> None:
        with self._lock:
            first = self.problem is None
            self.problem = f"{type(error).__name__}: {error}"
        if first:
            logger.error(
                "the outbox at %s cannot keep events (%s): they go straight to the store "
                "while it answers, and are lost when it does not",
                self.outbox.path,
                self.problem,
            )
