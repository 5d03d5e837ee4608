"""The local, on-disk outbox: events the store has not acknowledged yet.

A stdlib SQLite file, so it survives an app restart and needs no dependency. Rows keep
their insertion order (``seq``) and are deleted only once the store acknowledged them;
``event_hash`` is unique here too, so a retried emit never queues a twin.
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
CREATE TABLE IF NOT EXISTS phoenix_shown (
    nudge_id TEXT PRIMARY KEY,
    shown_at REAL NOT NULL
)
"""


class SqliteOutbox:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # One connection shared by the app's threads and the flush thread, under the lock.
        self._connection = sqlite3.connect(
            self.path, timeout=10, check_same_thread=False, isolation_level=None
        )
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=FULL")
        self._connection.executescript(_SCHEMA)

    def add(self, event_hash: str, row: dict[str, Any]) -> bool:
        """Keeps the row durably; False when its twin is already waiting."""
        with self._lock:
            cursor = self._connection.execute(
                "INSERT OR IGNORE INTO phoenix_outbox (event_hash, row) VALUES (?, ?)",
                (event_hash, json.dumps(row, ensure_ascii=False)),
            )
            return cursor.rowcount == 1

    def pending(self, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """The oldest waiting rows, in the order they were emitted."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT seq, row FROM phoenix_outbox ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [(int(seq), json.loads(text)) for seq, text in rows]

    def remove(self, seqs: list[int]) -> None:
        with self._lock:
            self._connection.executemany(
                "DELETE FROM phoenix_outbox WHERE seq = ?", [(seq,) for seq in seqs]
            )

    def note_failure(self, seqs: list[int], error: str) -> None:
        with self._lock:
            self._connection.executemany(
                "UPDATE phoenix_outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?",
                [(error[:500], seq) for seq in seqs],
            )

    def note_shown(self, nudge_id: str) -> None:
        """Remembers a display, for stores that do not let this key read them back."""
        with self._lock:
            self._connection.execute(
                "INSERT OR REPLACE INTO phoenix_shown (nudge_id, shown_at) VALUES (?, ?)",
                (nudge_id, time.time()),
            )

    def shown_since(self, since: float) -> set[str]:
        with self._lock:
            rows = self._connection.execute(
                "SELECT nudge_id FROM phoenix_shown WHERE shown_at > ?", (since,)
            ).fetchall()
        return {str(row[0]) for row in rows}

    def count(self) -> int:
        with self._lock:
            (total,) = self._connection.execute("SELECT count(*) FROM phoenix_outbox").fetchone()
        return int(total)

    def close(self) -> None:
        with self._lock:
            self._connection.close()
