"""PhoenixEventBridge: how an app publishes events and reads its nudges back.

The app must never wait on, nor fail because of, the store or the disk. ``emit`` tries
the transport once within its timeout; on a transient failure the event goes to the local
outbox, which a daemon thread flushes in order, with backoff, and which the next bridge on
the same file flushes at start. A row leaves the outbox only once the store acknowledged
it, and the event hash makes every re-send harmless: a twin is refused by the store and
counted as delivered, so nothing is lost and nothing is doubled.

A row the store refuses for good (validation, row-level security) is set aside in the
outbox with the store's reason, never retried, so it cannot block the rows behind it. The
outbox is a fallback, not a gate: when its folder is unwritable or its disk full, the
bridge still starts and still delivers straight to a healthy store.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from src.adapters.bridge.config import BridgeConfig
from src.adapters.bridge.factory import make_transport
from src.adapters.bridge.outbox import SqliteOutbox
from src.adapters.bridge.rows import UnstorableEventError, build_row
from src.adapters.bridge.transport import (
    BridgeTransport,
    EmitOutcome,
    Nudge,
    Row,
    TransportError,
    TransportRejectedError,
)
from src.domain.event_hash import short_hash

logger = logging.getLogger("phoenix_flywheel.bridge")
T = TypeVar("T")
_OUTBOX_ERRORS = (sqlite3.Error, OSError)


class OutboxUnavailableError(Exception):
    """The outbox file cannot be opened or written (unwritable folder, full disk)."""


class PhoenixEventBridge:
    def __init__(
        self,
        app_source: str,
        config: BridgeConfig | None = None,
        *,
        transport: BridgeTransport | None = None,
        background_flush: bool = True,
    ) -> None:
        self.app_source = app_source
        self.config = config if config is not None else BridgeConfig.from_env()
        self.transport = transport if transport is not None else make_transport(self.config)
        self.outbox = SqliteOutbox(self.config.outbox_path, self.config.outbox_max_bytes)
        self._outbox_fault: str | None = None
        self._fault_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._flush_failing = False
        self._wake = threading.Event()
        self._store_back = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Opened now, so an unusable outbox is said at start; never raises.
        self._outbox_read(self.outbox.count, default=0)
        if background_flush:
            # Started at once: whatever a previous run left in the outbox is sent now.
            self._thread = threading.Thread(
                target=self._flush_forever, name=f"phoenix-outbox-{app_source}", daemon=True
            )
            self._thread.start()

    # -- publishing ------------------------------------------------------------------------

    def emit(
        self,
        event_type: str,
        user_id: str,
        payload: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> EmitOutcome:
        """Publishes one event; never raises. Falsy when the event will not reach the store:
        ``rejected`` (refused for good) or ``dropped`` (neither store nor outbox took it),
        each with its ``reason``."""
        try:
            row = build_row(self.app_source, event_type, user_id, payload or {}, idempotency_key)
        except UnstorableEventError as error:
            logger.error("event rejected, it cannot be stored: %s (%s)", event_type, error)
            return EmitOutcome.rejected(str(error))
        event_hash = str(row["event_hash"])
        # Events go straight out only when none wait before them, so order is kept; when
        # the outbox cannot take this one, straight out is still better than lost.
        if self._outbox_read(self.outbox.count, default=0) and self._queue(event_hash, row):
            return EmitOutcome.QUEUED
        outcome, failure = self._send(row)
        if outcome is not None:
            return outcome
        if self._queue(event_hash, row):
            logger.warning(
                "event kept in the outbox (hash: %s): %s", short_hash(event_hash), failure
            )
            return EmitOutcome.QUEUED
        reason = f"store unreachable ({failure}) and outbox unusable ({self._outbox_fault})"
        logger.error("event lost (hash: %s): %s", short_hash(event_hash), reason)
        return EmitOutcome.dropped(reason)

    def _send(self, row: Row) -> tuple[EmitOutcome | None, str]:
        """One direct attempt: the outcome, or None and why it failed (worth retrying)."""
        event_hash = str(row["event_hash"])
        started = time.monotonic()
        try:
            duplicates = self.transport.deliver([row])
        except TransportRejectedError as error:
            logger.error(
                "event rejected by the store (hash: %s, %s): %s",
                short_hash(event_hash),
                row["event_type"],
                error,
            )
            # Kept for inspection when the outbox can; the app has the outcome anyway.
            with contextlib.suppress(OutboxUnavailableError):
                self._outbox_write(self.outbox.keep_rejected, event_hash, row, str(error))
            return EmitOutcome.rejected(str(error)), ""
        except Exception as error:  # noqa: BLE001 - the app must never see a transport error
            return None, str(error) or type(error).__name__
        self._store_answered()
        logger.debug(
            "event delivered (hash: %s) in %.0f ms",
            short_hash(event_hash),
            (time.monotonic() - started) * 1000,
        )
        return (EmitOutcome.DUPLICATE if duplicates else EmitOutcome.DELIVERED), ""

    def _queue(self, event_hash: str, row: Row) -> bool:
        try:
            self._outbox_write(self.outbox.add, event_hash, row)
        except OutboxUnavailableError:
            return False
        self._wake.set()
        return True

    # -- the outbox's health ---------------------------------------------------------------

    def outbox_problem(self) -> str | None:
        """Why the outbox cannot keep events now (unwritable folder, full disk), else None.

        While it says something, events still go straight to a healthy store; only an
        event the store could not take either is lost (``dropped``)."""
        return self._outbox_fault

    def _outbox_write(self, action: Callable[..., T], *args: Any) -> T:
        try:
            result = action(*args)
        except _OUTBOX_ERRORS as error:
            self._outbox_failed(error)
            raise OutboxUnavailableError(str(error)) from error
        if self._outbox_fault is not None:
            with self._fault_lock:
                if self._outbox_fault is not None:
                    logger.info("the outbox at %s is usable again", self.outbox.path)
                    self._outbox_fault = None
        return result

    def _outbox_read(self, action: Callable[..., T], *args: Any, default: T) -> T:
        """Reads never clear a fault: a full disk still reads, and one log line is enough."""
        try:
            return action(*args)
        except _OUTBOX_ERRORS as error:
            self._outbox_failed(error)
            return default

    def _outbox_failed(self, error: BaseException) -> None:
        with self._fault_lock:
            first = self._outbox_fault is None
            self._outbox_fault = f"{type(error).__name__}: {error}"
        if first:  # once per episode, not once per event
            logger.error(
                "the outbox at %s cannot keep events (%s): they go straight to the store "
                "while it answers, and are lost when it does not",
                self.outbox.path,
                self._outbox_fault,
            )

    # -- the outbox ------------------------------------------------------------------------

    def pending(self) -> int:
        """Events waiting in the outbox (0 when it cannot be read: see ``outbox_problem``)."""
        return self._outbox_read(self.outbox.count, default=0)

    def quarantined(self) -> int:
        """Events the store refused for good, set aside in the outbox for inspection."""
        return self._outbox_read(self.outbox.rejected_count, default=0)

    def rejected_events(self, limit: int = 100) -> list[dict[str, Any]]:
        """The set-aside events, oldest first: ``{"event", "reason", "rejected_at"}``."""
        return self._outbox_read(self.outbox.rejected, limit, default=[])

    def requeue_rejected(self) -> int:
        """Sends the set-aside events again (once their cause is fixed, e.g. a grant);
        how many went back to the outbox. Raises ``OutboxUnavailableError``."""
        moved = self._outbox_write(self.outbox.requeue_rejected)
        self._wake.set()
        return moved

    def flush(self) -> int:
        """Sends what the outbox holds, oldest first; returns how many still wait.

        Never raises: a failure of the store keeps the rows for the next round, and a
        failure of the outbox after a delivery only means the rows go again (as twins)."""
        with self._flush_lock:
            while True:
                nothing: list[tuple[int, Row]] = []
                batch = self._outbox_read(
                    self.outbox.pending, self.config.batch_size, default=nothing
                )
                if not batch:
                    self._flush_failing = False
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
                self._flush_failing = False
                try:
                    self._outbox_write(self.outbox.remove, seqs)
                except OutboxUnavailableError:
                    return self._left(len(batch))
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
                    self._outbox_write(self.outbox.set_aside, seq, str(error))
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
            try:
                self._outbox_write(self.outbox.remove, [seq])
            except OutboxUnavailableError:
                return False
        return True

    def _paused(self, seqs: list[int], error: Exception) -> int:
        self._flush_failing = True
        with contextlib.suppress(OutboxUnavailableError):  # only bookkeeping
            self._outbox_write(self.outbox.note_failure, seqs, str(error))
        left = self._left(len(seqs))
        logger.warning("outbox flush paused, %d events kept: %s", left, error)
        return left

    def _left(self, at_least: int) -> int:
        return self._outbox_read(self.outbox.count, default=at_least) or at_least

    def _store_answered(self) -> None:
        """The store answered the app: a backing-off flusher drains now, not at its next try."""
        if self._flush_failing:
            self._store_back.set()
            self._wake.set()

    def _flush_forever(self) -> None:
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
                self._wake.wait(remaining if not woken else min(remaining, 0.05))
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
                delay = interval if self._outbox_quiet() else 0.0
            else:
                delay = min(max(delay * 2, interval, 0.5), self.config.max_backoff_seconds)

    def _outbox_quiet(self) -> bool:
        return self._outbox_read(self.outbox.count, default=0) == 0

    # -- nudges ----------------------------------------------------------------------------

    def get_nudges(self, user_id: str, app: str | None = None) -> list[Nudge]:
        """The nudges to show now: the worker's, else the SQL view's, else none. Never raises."""
        shown_in = app or self.app_source
        try:
            found = self.transport.active_nudges(user_id, shown_in, self.config.cooldown_hours)
        except Exception as error:  # noqa: BLE001 - degraded mode below
            logger.warning("worker nudges unavailable for %s: %s", user_id, error)
            found = []
        else:
            self._store_answered()
        if found:
            found = self._not_shown_recently(found)
        if found:
            return found
        try:
            return self.transport.nudge_opportunities(user_id, shown_in)
        except Exception as error:  # noqa: BLE001 - no nudge is better than a broken page
            logger.warning("nudge opportunities unavailable for %s: %s", user_id, error)
            return []

    def _not_shown_recently(self, found: list[Nudge]) -> list[Nudge]:
        """The cooldown, also kept locally: an anon or user key may not read displays back."""
        try:
            recent = self.outbox.shown_since(time.time() - self.config.cooldown_hours * 3600)
        except Exception:  # noqa: BLE001 - without the local record, the store's filter stands
            return found
        return [nudge for nudge in found if nudge.get("nudge_id") not in recent]

    def mark_shown(self, nudge_id: str | None, app: str | None = None) -> bool:
        """Records that the app displayed the nudge; False when it could not. Never raises."""
        if not nudge_id:
            return False  # a view-computed opportunity has no id to record
        try:
            self.transport.mark_shown(nudge_id, app or self.app_source)
        except TransportError as error:
            logger.warning("nudge display not recorded (%s): %s", nudge_id, error)
            return False
        except Exception:  # never into the app
            logger.exception("nudge display not recorded (%s)", nudge_id)
            return False
        self._store_answered()
        try:
            self.outbox.note_shown(nudge_id)
        except Exception:  # noqa: BLE001 - the store has it; the local copy is a help
            logger.warning("nudge display not noted locally (%s)", nudge_id)
        return True

    # -- lifetime --------------------------------------------------------------------------

    def close(self, timeout: float = 5.0) -> None:
        """Stops the flusher; what is still pending stays on disk for the next start."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.transport.close()
        self.outbox.close()

    def __enter__(self) -> PhoenixEventBridge:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
