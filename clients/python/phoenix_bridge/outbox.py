"""The local, on-disk outbox: events the store has not acknowledged yet.

A stdlib SQLite file, so it survives an app restart and needs no dependency. Rows keep
their insertion order (``seq``) and are deleted only once the store acknowledged them;
``event_hash`` is unique here too, so a retried emit never queues a twin. Rows the store
refuses for good are moved to a table of their own, kept for inspection and out of the
way of the others.

The file is opened on first use, and again after any failure to open it: the outbox is a
fallback, so an unwritable folder must not stop an app from starting, and a folder that
becomes writable later is used from then on. Every method may raise ``sqlite3.Error`` or
``OSError``; the bridge decides what that means.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS phoenix_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_hash TEXT NOT NULL UNIQUE,
    row TEXT NOT NULL,
    queued_at REAL NOT NULL DEFAULT (julianday('now')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS phoenix_outbox_rejected (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_hash TEXT NOT NULL UNIQUE,
    row TEXT NOT NULL,
    reason TEXT NOT NULL,
    rejected_at REAL NOT NULL
);
-- Left by an older bridge, which remembered displays itself: the store does.
DROP TABLE IF EXISTS phoenix_shown;
"""


class SqliteOutbox:
    def __init__(self, path: Path | str, max_bytes: int | None = None) -> None:
        self.path = Path(path).expanduser()
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        # One connection shared by the app's threads and the flush thread, under the lock.
        self._connection: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        """The open connection, opening the file first if needed (under the lock)."""
        if self._connection is not None:
            return self._connection
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            self.path, timeout=10, check_same_thread=False, isolation_level=None
        )
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
            connection.executescript(_SCHEMA)
            if self.max_bytes:
                # SQLite then answers SQLITE_FULL ("database or disk is full") beyond the
                # cap, exactly as on a full disk: one code path for both.
                (page_size,) = connection.execute("PRAGMA page_size").fetchone()
                pages = max(self.max_bytes // int(page_size), 1)
                connection.execute(f"PRAGMA max_page_count = {int(pages)}")
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return connection

    def add(self, event_hash: str, row: dict[str, Any]) -> bool:
        """Keeps the row durably; False when its twin is already waiting."""
        with self._lock:
            cursor = self._db().execute(
                "INSERT OR IGNORE INTO phoenix_outbox (event_hash, row) VALUES (?, ?)",
                (event_hash, json.dumps(row, ensure_ascii=False)),
            )
            return cursor.rowcount == 1

    def pending(self, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """The oldest waiting rows, in the order they were emitted."""
        with self._lock:
            rows = (
                self._db()
                .execute("SELECT seq, row FROM phoenix_outbox ORDER BY seq LIMIT ?", (limit,))
                .fetchall()
            )
        return [(int(seq), json.loads(text)) for seq, text in rows]

    def remove(self, seqs: list[int]) -> None:
        with self._lock:
            self._db().executemany(
                "DELETE FROM phoenix_outbox WHERE seq = ?", [(seq,) for seq in seqs]
            )

    def note_failure(self, seqs: list[int], error: str) -> None:
        with self._lock:
            self._db().executemany(
                "UPDATE phoenix_outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?",
                [(error[:500], seq) for seq in seqs],
            )

    # -- rows refused for good --------------------------------------------------------------

    def set_aside(self, seq: int, reason: str) -> None:
        """Moves a waiting row to the rejected table, in one transaction."""
        with self._lock:
            connection = self._db()
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.execute(
                    "INSERT OR REPLACE INTO phoenix_outbox_rejected "
                    "(event_hash, row, reason, rejected_at) "
                    "SELECT event_hash, row, ?, ? FROM phoenix_outbox WHERE seq = ?",
                    (reason[:2000], time.time(), seq),
                )
                connection.execute("DELETE FROM phoenix_outbox WHERE seq = ?", (seq,))
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise

    def keep_rejected(self, event_hash: str, row: dict[str, Any], reason: str) -> None:
        """Keeps a row refused on its first delivery, for the same inspection."""
        with self._lock:
            self._db().execute(
                "INSERT OR REPLACE INTO phoenix_outbox_rejected "
                "(event_hash, row, reason, rejected_at) VALUES (?, ?, ?, ?)",
                (event_hash, json.dumps(row, ensure_ascii=False), reason[:2000], time.time()),
            )

    def rejected_count(self) -> int:
        with self._lock:
            (total,) = self._db().execute("SELECT count(*) FROM phoenix_outbox_rejected").fetchone()
        return int(total)

    def rejected(self, limit: int) -> list[dict[str, Any]]:
        """The rows set aside, oldest first, each with the store's reason."""
        with self._lock:
            rows = (
                self._db()
                .execute(
                    "SELECT row, reason, rejected_at FROM phoenix_outbox_rejected "
                    "ORDER BY seq LIMIT ?",
                    (limit,),
                )
                .fetchall()
            )
        return [
            {"event": json.loads(text), "reason": reason, "rejected_at": at}
            for text, reason, at in rows
        ]

    def requeue_rejected(self) -> int:
        """Puts every set-aside row back at the tail of the outbox; how many moved."""
        with self._lock:
            connection = self._db()
            connection.execute("BEGIN IMMEDIATE")
            try:
                moved = connection.execute(
                    "INSERT OR IGNORE INTO phoenix_outbox (event_hash, row) "
                    "SELECT event_hash, row FROM phoenix_outbox_rejected ORDER BY seq"
                ).rowcount
                connection.execute("DELETE FROM phoenix_outbox_rejected")
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
        return int(moved)

    def count(self) -> int:
        with self._lock:
            (total,) = self._db().execute("SELECT count(*) FROM phoenix_outbox").fetchone()
        return int(total)

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
