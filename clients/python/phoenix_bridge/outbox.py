"""The local, on-disk outbox: events the store has not acknowledged yet.

A stdlib SQLite file, so it survives an app restart and needs no dependency. Rows keep
their insertion order (``seq``) and are deleted only once the store acknowledged them;
``event_hash`` is unique here too, so a retried emit never queues a twin. Rows the store
refuses for good are moved to a table of their own, kept for inspection and out of the
way of the others.

The outbox must keep working on a small or full disk (``outbox_room``): its write-ahead
log is checkpointed after every commit, so the rows live in the database file and the
log stays the size of one transaction; an event is queued only while every file of the
outbox stays within ``max_bytes`` and the disk keeps some room free, so that rows the
store acknowledged can always be deleted. A row that cannot be deleted all the same
(the disk filled up by something else) is remembered as delivered: never sent again by
this process, not counted as waiting, and deleted as soon as there is room again.

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

from phoenix_bridge.outbox_room import OutboxRoom

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


DELETE_CHUNK = 16
"""Delivered rows deleted per transaction: each commit's share of the log stays small
enough to fit in the log's room already on disk, even when the disk is full."""
_NOT_IN = "seq NOT IN (SELECT value FROM json_each(?))"


class SqliteOutbox:
    def __init__(self, path: Path | str, max_bytes: int | None = None) -> None:
        self.path = Path(path).expanduser()
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        # One connection shared by the app's threads and the flush thread, under the lock.
        self._connection: sqlite3.Connection | None = None
        self._room: OutboxRoom | None = None
        # Rows the store acknowledged that the file still holds (their delete failed).
        self._delivered: set[int] = set()

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
            room = OutboxRoom(self.path, connection, self.max_bytes)
            room.configure(connection)
            connection.executescript(_SCHEMA)
        except BaseException:
            connection.close()
            raise
        self._connection, self._room = connection, room
        return connection

    def add(self, event_hash: str, row: dict[str, Any]) -> bool:
        """Keeps the row durably; False when its twin is already waiting.

        Raises ``OutboxFullError`` (an ``sqlite3.OperationalError``) when the row would take
        the outbox beyond ``max_bytes`` or the disk below the room the outbox keeps free.
        """
        text = json.dumps(row, ensure_ascii=False)
        with self._lock:
            connection = self._db()
            if self._room is not None:
                self._room.check(connection, len(text.encode()))
            cursor = connection.execute(
                "INSERT OR IGNORE INTO phoenix_outbox (event_hash, row) VALUES (?, ?)",
                (event_hash, text),
            )
            return cursor.rowcount == 1

    def pending(self, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """The oldest rows waiting for delivery, in the order they were emitted."""
        with self._lock:
            rows = (
                self._db()
                .execute(
                    f"SELECT seq, row FROM phoenix_outbox WHERE {_NOT_IN} ORDER BY seq LIMIT ?",  # noqa: S608 - a constant
                    (self._delivered_json(), limit),
                )
                .fetchall()
            )
        return [(int(seq), json.loads(text)) for seq, text in rows]

    def remove(self, seqs: list[int]) -> None:
        """Crosses off rows the store acknowledged. They are never sent again by this
        process, even when the delete fails (then it raises, and ``purge`` retries it)."""
        with self._lock:
            self._delivered.update(seqs)
            self._purge()

    @property
    def undeleted(self) -> int:
        """Delivered rows the file still holds, waiting for room to be deleted."""
        return len(self._delivered)

    def purge(self) -> None:
        """Deletes the delivered rows a failed delete left in the file."""
        with self._lock:
            self._purge()

    def _purge(self) -> None:
        """A few rows per transaction; row by row when even that finds no room in the log
        (a disk filled up by something else): the log's own room always takes one."""
        connection = self._db()
        while self._delivered:
            chunk = sorted(self._delivered)[:DELETE_CHUNK]
            try:
                self._delete(connection, chunk)
            except sqlite3.OperationalError:
                if len(chunk) == 1:
                    raise
                for seq in chunk:
                    self._delete(connection, [seq])

    def _delete(self, connection: sqlite3.Connection, seqs: list[int]) -> None:
        connection.execute(
            "DELETE FROM phoenix_outbox WHERE seq IN (SELECT value FROM json_each(?))",
            (json.dumps(seqs),),
        )
        self._delivered.difference_update(seqs)

    def _delivered_json(self) -> str:
        return json.dumps(sorted(self._delivered))

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
        """Rows waiting for delivery (delivered ones the file still holds do not wait)."""
        with self._lock:
            (total,) = (
                self._db()
                .execute(
                    f"SELECT count(*) FROM phoenix_outbox WHERE {_NOT_IN}",  # noqa: S608 - a constant
                    (self._delivered_json(),),
                )
                .fetchone()
            )
        return int(total)

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = self._room = None
