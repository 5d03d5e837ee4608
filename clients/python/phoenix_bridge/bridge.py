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
import time
from typing import Any

from phoenix_bridge.config import BridgeConfig
from phoenix_bridge.event_hash import short_hash
from phoenix_bridge.factory import make_transport
from phoenix_bridge.flusher import OutboxFlusher
from phoenix_bridge.outbox import SqliteOutbox
from phoenix_bridge.outbox_guard import OutboxGuard, OutboxUnavailableError
from phoenix_bridge.rows import UnstorableEventError, build_row
from phoenix_bridge.transport import (
    BridgeTransport,
    EmitOutcome,
    Insight,
    Nudge,
    Row,
    TransportError,
    TransportRejectedError,
)

logger = logging.getLogger("phoenix_flywheel.bridge")

EMIT_FIELDS = ("event_type", "user_id", "payload", "idempotency_key")
"""What an app gives ``emit`` of an event (the bridge adds its app, hash and time)."""

__all__ = ["OutboxUnavailableError", "PhoenixEventBridge"]


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
        self._guard = OutboxGuard(self.outbox)
        self._flusher = OutboxFlusher(self.transport, self._guard, self.config)
        # Opened now, so an unusable outbox is said at start; never raises.
        self._guard.read(self.outbox.count, default=0)
        if background_flush:
            self._flusher.start(f"phoenix-outbox-{app_source}")

    # -- publishing ------------------------------------------------------------------------

    def emit(
        self,
        event_type: str,
        user_id: str,
        payload: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        *,
        access_token: str | None = None,
        **unknown: object,
    ) -> EmitOutcome:
        """Publishes one event; never raises. Falsy when the event will not reach the store:
        ``rejected`` (refused for good) or ``dropped`` (neither store nor outbox took it),
        each with its ``reason``.

        ``access_token``: the signed-in user's (Supabase Auth), sent with this delivery
        only. It is never written to the outbox (a secret, and short-lived): an event
        queued there is delivered later with the bridge's own key.

        A keyword that is none of these (``payolad=``, ``idempotency_kye=``) is refused,
        naming it, rather than raised into the app or its value silently lost.
        """
        if unknown:
            field = sorted(unknown)[0]
            reason = f"{field}: unknown field; an event has {', '.join(EMIT_FIELDS)}"
            logger.error("event rejected: %s (%s)", event_type, reason)
            return EmitOutcome.rejected(reason)
        try:
            row = build_row(self.app_source, event_type, user_id, payload or {}, idempotency_key)
        except UnstorableEventError as error:
            logger.error("event rejected, it cannot be stored: %s (%s)", event_type, error)
            return EmitOutcome.rejected(str(error))
        event_hash = str(row["event_hash"])
        # Events go straight out only when none wait before them, so order is kept; when
        # the outbox cannot take this one, straight out is still better than lost.
        if self._guard.read(self.outbox.count, default=0) and self._queue(event_hash, row):
            return EmitOutcome.QUEUED
        outcome, failure = self._send(row, access_token)
        if outcome is not None:
            return outcome
        if self._queue(event_hash, row):
            logger.warning(
                "event kept in the outbox (hash: %s): %s", short_hash(event_hash), failure
            )
            return EmitOutcome.QUEUED
        reason = f"store unreachable ({failure}) and outbox unusable ({self._guard.problem})"
        logger.error("event lost (hash: %s): %s", short_hash(event_hash), reason)
        return EmitOutcome.dropped(reason)

    def _send(self, row: Row, access_token: str | None) -> tuple[EmitOutcome | None, str]:
        """One direct attempt: the outcome, or None and why it failed (worth retrying)."""
        event_hash = str(row["event_hash"])
        started = time.monotonic()
        try:
            duplicates = self.transport.deliver([row], access_token=access_token)
        except TransportRejectedError as error:
            logger.error(
                "event rejected by the store (hash: %s, %s): %s",
                short_hash(event_hash),
                row["event_type"],
                error,
            )
            # Kept for inspection when the outbox can; the app has the outcome anyway.
            with contextlib.suppress(OutboxUnavailableError):
                self._guard.write(self.outbox.keep_rejected, event_hash, row, str(error))
            return EmitOutcome.rejected(str(error)), ""
        except Exception as error:  # noqa: BLE001 - the app must never see a transport error
            return None, str(error) or type(error).__name__
        self._flusher.store_answered()
        logger.debug(
            "event delivered (hash: %s) in %.0f ms",
            short_hash(event_hash),
            (time.monotonic() - started) * 1000,
        )
        return (EmitOutcome.DUPLICATE if duplicates else EmitOutcome.DELIVERED), ""

    def _queue(self, event_hash: str, row: Row) -> bool:
        try:
            self._guard.write(self.outbox.add, event_hash, row)
        except OutboxUnavailableError:
            return False
        self._flusher.wake()
        return True

    # -- the outbox ------------------------------------------------------------------------

    def outbox_problem(self) -> str | None:
        """Why the outbox cannot keep events now (unwritable folder, full disk), else None.

        While it says something, events still go straight to a healthy store; only an
        event the store could not take either is lost (``dropped``)."""
        return self._guard.problem

    def pending(self) -> int:
        """Events waiting in the outbox (0 when it cannot be read: see ``outbox_problem``)."""
        return self._guard.read(self.outbox.count, default=0)

    def quarantined(self) -> int:
        """Events the store refused for good, set aside in the outbox for inspection."""
        return self._guard.read(self.outbox.rejected_count, default=0)

    def rejected_events(self, limit: int = 100) -> list[dict[str, Any]]:
        """The set-aside events, oldest first: ``{"event", "reason", "rejected_at"}``."""
        return self._guard.read(self.outbox.rejected, limit, default=[])

    def requeue_rejected(self) -> int:
        """Sends the set-aside events again (once their cause is fixed, e.g. a grant);
        how many went back to the outbox. Raises ``OutboxUnavailableError``."""
        moved = self._guard.write(self.outbox.requeue_rejected)
        self._flusher.wake()
        return moved

    def flush(self) -> int:
        """Sends what the outbox holds, oldest first; returns how many still wait. Never
        raises; rows the store refuses for good are set aside (``quarantined``)."""
        return self._flusher.flush()

    # -- nudges ----------------------------------------------------------------------------

    def get_nudges(
        self,
        user_id: str,
        app: str | None = None,
        *,
        lang: str = "fr",
        access_token: str | None = None,
    ) -> list[Nudge]:
        """The nudges to show now in ``app`` (the bridge's own by default), worded in
        ``lang`` (French where a wording has none); none when the store cannot be read.
        Never raises.

        What to show is the store's decision (cooldown, daily cap, wording, and before the
        worker has caught up, the opportunities the events alone give), the same on every
        transport and as the HTTP API: the bridge applies no rule of its own.
        ``access_token``: the signed-in user's, who may read their own nudges (the anon
        key reads none).
        """
        try:
            found = self.transport.active_nudges(
                user_id, app or self.app_source, lang, access_token=access_token
            )
        except Exception as error:  # noqa: BLE001 - no nudge is better than a broken page
            logger.warning("nudges unavailable for %s: %s", user_id, error)
            return []
        self._flusher.store_answered()
        return found

    def get_insights(
        self, user_id: str, *, lang: str = "fr", access_token: str | None = None
    ) -> list[Insight]:
        """What the flywheel's analysers learnt about the user (the skills an analysed
        offer asks for that the latest CV lacks ...), newest first, worded in ``lang``
        (French where a message has none): ``insight_id``, ``kind``, ``data``,
        ``message``, ``created_at``. None when the store cannot be read. Never raises.

        The store's own answer (its function ``phoenix_user_insights``, or the API's), the
        same on every transport. ``access_token``: the signed-in user's, who may read their
        own insights (the anon key reads none).
        """
        try:
            found = self.transport.user_insights(user_id, lang, access_token=access_token)
        except Exception as error:  # noqa: BLE001 - no insight is better than a broken page
            logger.warning("insights unavailable for %s: %s", user_id, error)
            return []
        self._flusher.store_answered()
        return found

    def mark_shown(
        self, nudge_id: str | None, app: str | None = None, *, access_token: str | None = None
    ) -> bool:
        """Records that the app displayed the nudge (``app``: the bridge's own by default);
        True once the store has it (a second display within the cooldown is not written
        again, and still answers True). False when it could not. Never raises.

        ``access_token``: the signed-in user's, who may record displays of their own nudges.
        """
        if not nudge_id:
            return False
        try:
            recorded = self.transport.mark_shown(
                nudge_id, app or self.app_source, access_token=access_token
            )
        except TransportError as error:
            logger.warning("nudge display not recorded (%s): %s", nudge_id, error)
            return False
        except Exception:  # never into the app
            logger.exception("nudge display not recorded (%s)", nudge_id)
            return False
        self._flusher.store_answered()
        if not recorded:
            logger.warning("nudge display not recorded (%s): no such nudge", nudge_id)
        return recorded

    # -- lifetime --------------------------------------------------------------------------

    def close(self, timeout: float = 5.0) -> None:
        """Stops the flusher; what is still pending stays on disk for the next start."""
        self._flusher.stop(timeout)
        self.transport.close()
        self.outbox.close()

    def __enter__(self) -> PhoenixEventBridge:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
