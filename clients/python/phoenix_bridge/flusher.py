"""The outbox's flusher: sends what waits, oldest first, and sets aside what the store
refuses for good.

Delivery is in batches; when the store refuses a batch for good, the rows go one by one
so that only the refused ones are set aside (with the store's reason) and the others are
delivered in order. A transient failure stops the round and keeps the rows. A delivered
row the outbox cannot delete (a full disk) is not sent again: the outbox remembers it,
and each round tries the delete again, so room that returns is used at once. A daemon
thread runs rounds: at once when an event is queued while the store is healthy, every
``flush_interval_seconds`` otherwise, backing off up to ``max_backoff_seconds`` while the
store stays away, and at once again as soon as the store answers the app.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

from phoenix_bridge.config import BridgeConfig
from phoenix_bridge.event_hash import short_hash
from phoenix_bridge.outbox_guard import OutboxGuard, OutboxUnavailableError
from phoenix_bridge.transport import BridgeTransport, Row, TransportRejectedError

logger = logging.getLogger("phoenix_flywheel.bridge")


class OutboxFlusher:
    def __init__(self, transport: BridgeTransport, guard: OutboxGuard, config: BridgeConfig):
        self.transport = transport
        self.guard = guard
        self.outbox = guard.outbox
        self.config = config
        self.failing = False
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._store_back = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def flush(self) -> int:
        """Sends what the outbox holds, oldest first; returns how many still wait.

        Never raises: a failure of the store keeps the rows for the next round, and a
        failure of the outbox after a delivery leaves the rows in the file, crossed off
        (sent again, as twins, only by a later process)."""
        with self._lock:
            if self.outbox.undeleted:
                with contextlib.suppress(OutboxUnavailableError):
                    self.guard.write(self.outbox.purge)
            while True:
                nothing: list[tuple[int, Row]] = []
                batch = self.guard.read(
                    self.outbox.pending, self.config.batch_size, default=nothing
                )
                if not batch:
                    self.failing = False
                    return 0
                seqs = [seq for seq, _ in batch]
                try:
                    duplicates = self.transport.deliver([row for _, row in batch])
                except TransportRejectedError:
                    if not self._deliver_one_by_one(batch):
                        return self._left(len(batch))
                    continue
                except Exception as error:  # noqa: BLE001 - kept for the next attempt
                    return self._paused(seqs, error)
                self.failing = False
                with contextlib.suppress(OutboxUnavailableError):  # crossed off all the same
                    self.guard.write(self.outbox.remove, seqs)
                logger.info(
                    "outbox flushed %d events (%d already in the store)", len(seqs), duplicates
                )

    def _deliver_one_by_one(self, batch: list[tuple[int, Row]]) -> bool:
        """Sets aside the rows the store refuses for good and delivers the others; False
        when the round must stop (the store or the outbox failed meanwhile)."""
        for seq, row in batch:
            try:
                self.transport.deliver([row])
            except TransportRejectedError as error:
                try:
                    self.guard.write(self.outbox.set_aside, seq, str(error))
                except OutboxUnavailableError:
                    return False
                logger.error(
                    "event rejected by the store and set aside in the outbox (hash: %s, %s): %s",
                    short_hash(str(row["event_hash"])),
                    row.get("event_type"),
                    error,
                )
                continue
            except Exception as error:  # noqa: BLE001 - kept for the next attempt
                self._paused([seq], error)
                return False
            with contextlib.suppress(OutboxUnavailableError):  # crossed off all the same
                self.guard.write(self.outbox.remove, [seq])
        return True

    def _paused(self, seqs: list[int], error: Exception) -> int:
        self.failing = True
        with contextlib.suppress(OutboxUnavailableError):  # only bookkeeping
            self.guard.write(self.outbox.note_failure, seqs, str(error))
        left = self._left(len(seqs))
        logger.warning("outbox flush paused, %d events kept: %s", left, error)
        return left

    def _left(self, at_least: int) -> int:
        return self.guard.read(self.outbox.count, default=at_least) or at_least

    # -- the background thread -------------------------------------------------------------

    def wake(self) -> None:
        """An event was queued: a healthy flusher sends it now."""
        self._wake.set()

    def store_answered(self) -> None:
        """The store answered the app: a backing-off flusher drains now, not at its next try."""
        if self.failing:
            self._store_back.set()
            self._wake.set()

    def start(self, name: str) -> None:
        # Started at once: whatever a previous run left in the outbox is sent now.
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        interval = self.config.flush_interval_seconds
        delay = 0.0
        while not self._stop.is_set():
            next_attempt = time.monotonic() + delay
            # A wake-up (a new queued event) only hurries a healthy flusher; after a
            # failure the backoff holds, so a burst of emits does not hammer a dead store,
            # unless the store answered the app meanwhile: then it drains at once.
            while not self._stop.is_set():
                remaining = next_attempt - time.monotonic()
                woken = self._wake.is_set()
                if remaining <= 0 or (woken and (delay <= interval or self._store_back.is_set())):
                    break
                if woken:
                    # The wake-up stays set for after the backoff: waiting on it would
                    # return at once and spin. Only the store's return cuts the wait short;
                    # a stop is seen within the poll.
                    self._store_back.wait(min(remaining, 0.05))
                else:
                    self._wake.wait(remaining)
            self._wake.clear()
            self._store_back.clear()
            if self._stop.is_set():
                return
            try:
                left = self.flush()
            except Exception:  # the thread must outlive any one failure
                logger.exception("outbox flush failed")
                left = -1
            if left == 0:
                quiet = self.guard.read(self.outbox.count, default=0) == 0
                delay = interval if quiet else 0.0
            else:
                delay = min(max(delay * 2, interval, 0.5), self.config.max_backoff_seconds)
