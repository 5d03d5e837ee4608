"""How much more the outbox may take: every file it uses, and the room left on its disk.

SQLite's own cap (``max_page_count``) counts the database's pages only, while in WAL mode
most of the bytes can sit in the write-ahead log: a log left to grow to its default
checkpoint can fill a small disk by itself, and then nothing can be deleted any more,
since a delete needs room in the log too. So here:

* the log is checkpointed after every commit (``wal_autocheckpoint = 1``) and, past a
  large transaction, cut back (``journal_size_limit``): rows live in the database file,
  and the log stays about the size of one transaction, reused from its start each time;
* before an event is queued, the outbox counts every file it uses (the database less
  its free pages, which SQLite reuses first, the log, the shared-memory index, a rollback
  journal if any) against ``max_bytes``, and the disk's free space against what the row
  may take plus ``KEEP_FREE_PAGES``: that room stays for deleting delivered rows and for
  checkpoints, which never need more than that. Refused, the event is ``dropped`` with
  the reason, as a full disk would have it.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

FILE_SUFFIXES = ("", "-wal", "-shm", "-journal")
"""The database and every file SQLite keeps beside it."""
ROW_PAGES = 4
"""Pages an insert touches besides the row's own: the table's leaf, the hash index's,
the sequence, and one for a split."""
KEEP_FREE_PAGES = 32
"""Disk room never taken by new events: a delete of ``DELETE_CHUNK`` rows and its
checkpoint fit in it with room to spare."""
LOG_LIMIT_PAGES = 64
"""The log's size after a checkpoint, at most (it only grows past it for a large
transaction, such as the set-aside rows put back at once)."""
FRAME_HEADER = 24
"""Bytes a page takes in the log beyond the page itself."""


class OutboxFullError(sqlite3.OperationalError):
    """Another event would take the outbox beyond ``max_bytes``, or fill its disk."""


class OutboxRoom:
    def __init__(self, path: Path, connection: sqlite3.Connection, max_bytes: int | None):
        self.path = path
        self.max_bytes = max_bytes
        (page_size,) = connection.execute("PRAGMA page_size").fetchone()
        self.page_size = int(page_size)

    def configure(self, connection: sqlite3.Connection) -> None:
        connection.execute("PRAGMA wal_autocheckpoint = 1")
        connection.execute(f"PRAGMA journal_size_limit = {LOG_LIMIT_PAGES * self.page_size}")

    def files(self) -> dict[str, int]:
        """The size of every file of the outbox on disk, by name."""
        sizes: dict[str, int] = {}
        for suffix in FILE_SUFFIXES:
            try:
                sizes[self.path.name + suffix] = os.stat(f"{self.path}{suffix}").st_size
            except FileNotFoundError:
                continue
        return sizes

    def check(self, connection: sqlite3.Connection, row_bytes: int) -> None:
        """Raise ``OutboxFullError`` unless a row of ``row_bytes`` fits."""
        frame = self.page_size + FRAME_HEADER
        # The row's pages go to the log first, then to the database at the checkpoint.
        growth = 2 * (row_bytes // self.page_size + 1 + ROW_PAGES) * frame
        (free_pages,) = connection.execute("PRAGMA freelist_count").fetchone()
        reusable = int(free_pages) * self.page_size
        if self.max_bytes is not None:
            used = sum(self.files().values()) - reusable
            if used + growth > self.max_bytes:
                raise OutboxFullError(
                    f"the outbox is full: its files take {used:,} of the "
                    f"{self.max_bytes:,} bytes it may use"
                )
        try:
            disk = os.statvfs(self.path.parent)
        except OSError:  # a file system that cannot tell: SQLite answers when it is full
            return
        free = disk.f_bavail * disk.f_frsize
        keep = KEEP_FREE_PAGES * frame
        if free + reusable < growth + keep:
            raise OutboxFullError(
                f"the disk of the outbox is full: {free:,} bytes left, of which it keeps "
                f"{keep:,} to delete what it delivers"
            )
