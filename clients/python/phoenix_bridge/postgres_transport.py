"""Direct SQL on a PostgreSQL URL (a local store, or Supabase's direct / pooler connection).

psycopg is imported on first use. Each call opens a short connection with a connect
timeout and a statement timeout, so a dead store costs the app at most a few seconds, and
no prepared statements, so Supabase's transaction pooler works too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from phoenix_bridge.transport import (
    Nudge,
    Row,
    TransportError,
    TransportRejectedError,
    TransportSchemaMissingError,
    TransportUnavailableError,
    nudge_dict,
    refused_by_rights,
)

if TYPE_CHECKING:
    import psycopg

_INSERT = """
INSERT INTO phoenix_events
    (event_type, app_source, user_id, payload, "timestamp", idempotency_key, event_hash)
VALUES (%s, %s, %s, %s::jsonb, coalesce(%s::timestamptz, now()), %s, %s)
ON CONFLICT (event_hash) DO NOTHING
"""
_ACTIVE = """
SELECT n.nudge_id, n.nudge_type, n.target_app, v.variant, v.messages ->> 'fr'
FROM phoenix_nudges AS n
LEFT JOIN LATERAL (
    -- The nudge's variant as the worker published it; a nudge from before experiments
    -- (or of a variant since removed) gets the first one, as the API answers.
    SELECT variant, messages FROM phoenix_nudge_variants AS v
    WHERE v.nudge_type = n.nudge_type
    ORDER BY v.variant = n.variant DESC, v.position LIMIT 1
) AS v ON true
WHERE n.user_id = %s AND n.shown_in = %s AND n.status = 'active'
  AND NOT EXISTS (
      SELECT 1 FROM phoenix_nudges_sent AS s
      WHERE s.nudge_id = n.nudge_id AND s.shown_at > now() - make_interval(secs => %s))
ORDER BY n.detected_at
"""
_OPPORTUNITIES = """
SELECT nudge_type, target_app, message FROM phoenix_nudge_opportunities
WHERE user_id = %s AND shown_in = %s ORDER BY nudge_type
"""
_SHOWN = """
INSERT INTO phoenix_nudges_sent (nudge_id, user_id, app)
SELECT nudge_id, user_id, %s FROM phoenix_nudges WHERE nudge_id = %s
"""


def _as_postgres_url(url: str) -> str:
    """``postgresql+psycopg://`` (the worker's SQLAlchemy spelling) is plain libpq here."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+')[0]}{sep}{rest}"


class PostgresTransport:
    def __init__(self, database_url: str, timeout_seconds: float = 2.0) -> None:
        self._url = _as_postgres_url(database_url)
        self._timeout = timeout_seconds

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        import psycopg

        try:
            with psycopg.connect(
                self._url,
                connect_timeout=max(1, round(self._timeout)),
                prepare_threshold=None,
                options=f"-c statement_timeout={int(self._timeout * 1000)}",
            ) as connection:
                yield connection
        except psycopg.errors.InsufficientPrivilege as error:
            # A grant or a row-level policy refuses these rows: sending them again cannot
            # help. A wrong password or an unknown role fails at connect, as transient.
            raise refused_by_rights(str(error).strip()) from error
        except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn) as error:
            raise TransportSchemaMissingError(str(error).strip()) from error
        except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as error:
            # A value or a constraint the store refuses (IntegrityError excludes the twin,
            # which ON CONFLICT already absorbs): permanent.
            raise TransportRejectedError(str(error).strip()) from error
        except psycopg.Error as error:
            # OperationalError (down, timeout, connection lost) and anything unforeseen:
            # worth retrying, the outbox keeps the rows.
            raise TransportUnavailableError(str(error).strip() or type(error).__name__) from error

    def deliver(self, rows: Sequence[Row], *, access_token: str | None = None) -> int:
        """One transaction for the batch: all rows land, or none and the outbox keeps them.

        ``ON CONFLICT (event_hash)`` skips twins only: a conflict on any other constraint
        raises, and the batch is not counted as delivered.
        """
        inserted = 0
        with self._connection() as connection, connection.cursor() as cursor:
            for row in rows:
                cursor.execute(
                    _INSERT,
                    (
                        row["event_type"],
                        row["app_source"],
                        row["user_id"],
                        json.dumps(row.get("payload") or {}),
                        row.get("timestamp"),
                        row.get("idempotency_key"),
                        row["event_hash"],
                    ),
                )
                inserted += cursor.rowcount
        return len(rows) - inserted

    def active_nudges(
        self, user_id: str, app: str, cooldown_hours: float, *, access_token: str | None = None
    ) -> list[Nudge]:
        with self._connection() as connection:
            found = connection.execute(_ACTIVE, (user_id, app, cooldown_hours * 3600)).fetchall()
        return [
            nudge_dict(str(nid), str(kind), str(target), message, variant)
            for nid, kind, target, variant, message in found
        ]

    def nudge_opportunities(
        self, user_id: str, app: str, *, access_token: str | None = None
    ) -> list[Nudge]:
        with self._connection() as connection:
            found = connection.execute(_OPPORTUNITIES, (user_id, app)).fetchall()
        return [
            nudge_dict(None, str(kind), str(target), message) for kind, target, message in found
        ]

    def mark_shown(self, nudge_id: str, app: str, *, access_token: str | None = None) -> None:
        with self._connection() as connection:
            if connection.execute(_SHOWN, (app, nudge_id)).rowcount == 0:
                raise TransportRejectedError(f"no nudge {nudge_id}")

    def close(self) -> None:
        """Nothing held between calls."""


__all__ = ["PostgresTransport", "TransportError"]
