"""PhoenixEventBridge: how an app publishes events and reads its nudges back.

The app must never wait on, nor fail because of, the store. ``emit`` tries the transport
once within its timeout; on any failure the event goes to the local outbox, which a
daemon thread flushes in order, with backoff, and which the next bridge on the same file
flushes at start. A row leaves the outbox only once the store acknowledged it, and the
event hash makes every re-send harmless: a twin is refused by the store and counted as
delivered, so nothing is lost and nothing is doubled.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from src.adapters.bridge.config import BridgeConfig
from src.adapters.bridge.factory import make_transport
from src.adapters.bridge.outbox import SqliteOutbox
from src.adapters.bridge.transport import (
    BridgeTransport,
    EmitOutcome,
    Nudge,
    Row,
    TransportError,
    TransportRejectedError,
)
from src.domain.event_hash import compute_event_hash, short_hash

logger = logging.getLogger("phoenix_flywheel.bridge")


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
        self.outbox = SqliteOutbox(self.config.outbox_path)
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
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
        *,
        access_token: str | None = None,
    ) -> EmitOutcome:
        """Publishes one event; never raises. Falsy only when even the outbox failed.

        ``access_token``: the signed-in user's (Supabase Auth), sent with this delivery
        only. It is never written to the outbox (a secret, and short-lived): an event
        queued there is delivered later with the bridge's own key.
        """
        try:
            row = self._row(event_type, user_id, payload or {}, idempotency_key)
        except (TypeError, ValueError) as error:
            logger.error("event not emitted, its payload is not JSON: %s (%s)", event_type, error)
            return EmitOutcome.DROPPED
        event_hash = str(row["event_hash"])
        if self._outbox_empty():
            started = time.monotonic()
            try:
                duplicates = self.transport.deliver([row], access_token=access_token)
            except TransportRejectedError as error:
                # Invalid for good (an unknown event type): queuing it would not help.
                logger.error(
                    "event refused by the store (hash: %s): %s", short_hash(event_hash), error
                )
                return EmitOutcome.DROPPED
            except Exception as error:  # noqa: BLE001 - the app must never see a transport error
                logger.warning(
                    "event kept in the outbox (hash: %s): %s", short_hash(event_hash), error
                )
            else:
                logger.debug(
                    "event delivered (hash: %s) in %.0f ms",
                    short_hash(event_hash),
                    (time.monotonic() - started) * 1000,
                )
                return EmitOutcome.DUPLICATE if duplicates else EmitOutcome.DELIVERED
        try:
            self.outbox.add(event_hash, row)
        except Exception:  # a full disk must not break the app either
            logger.exception("event lost: the outbox refused it (hash: %s)", short_hash(event_hash))
            return EmitOutcome.DROPPED
        self._wake.set()
        return EmitOutcome.QUEUED

    def _row(self, event_type: str, user_id: str, payload: dict[str, Any], key: str | None) -> Row:
        event_hash = compute_event_hash(event_type, self.app_source, user_id, payload, key)
        return {
            "event_type": event_type,
            "app_source": self.app_source,
            "user_id": user_id,
            "payload": payload,
            "timestamp": datetime.now(UTC).isoformat(),
            "idempotency_key": key,
            "event_hash": event_hash,
        }

    def _outbox_empty(self) -> bool:
        """Events go straight out only when none wait before them, so order is kept."""
        try:
            return self.outbox.count() == 0
        except Exception:  # noqa: BLE001 - unreadable outbox: try the store directly
            return True

    # -- the outbox ------------------------------------------------------------------------

    def pending(self) -> int:
        """Events waiting in the outbox."""
        return self.outbox.count()

    def flush(self) -> int:
        """Sends what the outbox holds, oldest first; returns how many still wait."""
        with self._flush_lock:
            while True:
                batch = self.outbox.pending(self.config.batch_size)
                if not batch:
                    return 0
                seqs = [seq for seq, _ in batch]
                try:
                    duplicates = self.transport.deliver([row for _, row in batch])
                except TransportRejectedError as error:
                    self._deliver_one_by_one(batch, error)
                    continue
                except Exception as error:  # noqa: BLE001 - kept for the next attempt
                    self.outbox.note_failure(seqs, str(error))
                    left = self.outbox.count()
                    logger.warning("outbox flush paused, %d events kept: %s", left, error)
                    return left
                self.outbox.remove(seqs)
                logger.info(
                    "outbox flushed %d events (%d already in the store)", len(seqs), duplicates
                )

    def _deliver_one_by_one(
        self, batch: list[tuple[int, Row]], batch_error: TransportRejectedError
    ) -> None:
        """Finds the row the store refuses for good; the others are delivered."""
        if len(batch) == 1:
            seq, row = batch[0]
            logger.error(
                "event refused by the store and dropped from the outbox (hash: %s): %s; row: %s",
                short_hash(str(row["event_hash"])),
                batch_error,
                row,
            )
            self.outbox.remove([seq])
            return
        for seq, row in batch:
            try:
                self.transport.deliver([row])
            except TransportRejectedError as error:
                self._deliver_one_by_one([(seq, row)], error)
                continue
            self.outbox.remove([seq])

    def _flush_forever(self) -> None:
        interval = self.config.flush_interval_seconds
        delay = 0.0
        while not self._stop.is_set():
            next_attempt = time.monotonic() + delay
            # A wake-up (a new queued event) only hurries a healthy flusher; after a
            # failure the backoff holds, so a burst of emits does not hammer a dead store.
            while not self._stop.is_set():
                remaining = next_attempt - time.monotonic()
                if remaining <= 0 or (self._wake.is_set() and delay <= interval):
                    break
                self._wake.wait(remaining if not self._wake.is_set() else min(remaining, 0.05))
            self._wake.clear()
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
        try:
            return self.outbox.count() == 0
        except Exception:  # noqa: BLE001 - treated as quiet; the next round retries
            return True

    # -- nudges ----------------------------------------------------------------------------

    def get_nudges(
        self, user_id: str, app: str | None = None, *, access_token: str | None = None
    ) -> list[Nudge]:
        """The nudges to show now: the worker's, else the SQL view's, else none. Never raises.

        ``access_token``: the signed-in user's, so that row-level security lets them read
        their own nudges (the anon key reads none).
        """
        shown_in = app or self.app_source
        try:
            found = self.transport.active_nudges(
                user_id, shown_in, self.config.cooldown_hours, access_token=access_token
            )
        except Exception as error:  # noqa: BLE001 - degraded mode below
            logger.warning("worker nudges unavailable for %s: %s", user_id, error)
            found = []
        if found:
            found = self._not_shown_recently(found)
        if found:
            return found
        try:
            return self.transport.nudge_opportunities(user_id, shown_in, access_token=access_token)
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

    def mark_shown(
        self, nudge_id: str | None, app: str | None = None, *, access_token: str | None = None
    ) -> bool:
        """Records that the app displayed the nudge; False when it could not. Never raises.

        ``access_token``: the signed-in user's, who may record displays of their own nudges.
        """
        if not nudge_id:
            return False  # a view-computed opportunity has no id to record
        try:
            self.transport.mark_shown(nudge_id, app or self.app_source, access_token=access_token)
        except TransportError as error:
            logger.warning("nudge display not recorded (%s): %s", nudge_id, error)
            return False
        except Exception:  # never into the app
            logger.exception("nudge display not recorded (%s)", nudge_id)
            return False
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
