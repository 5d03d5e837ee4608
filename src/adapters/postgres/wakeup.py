"""Wakes the worker as soon as PostgreSQL says new events arrived (LISTEN/NOTIFY).

A nicety over polling, never a guarantee: notifications are lost while this connection
is down, which is why the worker also polls. Not used on SQLite nor behind a transaction
pooler, where LISTEN does not work.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy.engine import make_url

logger = logging.getLogger(__name__)

CHANNEL = "phoenix_events_inserted"
RECONNECT_SECONDS = 5.0


class PostgresWakeup:
    def __init__(self, database_url: str, on_notify: Callable[[], None]) -> None:
        url = make_url(database_url.replace("postgres://", "postgresql://", 1))
        self._conninfo = url.set(drivername="postgresql", query={}).render_as_string(
            hide_password=False
        )
        self._on_notify = on_notify
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="pg-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    logger.info("listening for new events", extra={"channel": CHANNEL})
                    while not self._stop.is_set():
                        for _notice in conn.notifies(timeout=1.0, stop_after=1):
                            self._on_notify()
            except psycopg.Error as error:
                logger.warning(
                    "LISTEN connection lost; polling only until it is back",
                    extra={"error": str(error).strip().splitlines()[0] if str(error) else ""},
                )
                self._stop.wait(RECONNECT_SECONDS)
