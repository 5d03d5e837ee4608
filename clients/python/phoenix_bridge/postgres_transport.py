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
    Insight,
    Nudge,
    Row,
    TransportError,
    TransportRejectedError,
    TransportSchemaMissingError,
    TransportUnavailableError,
    insight_dict,
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
# The store's own rules (cooldown, daily cap, wording, degraded mode): the functions the
# HTTP API calls too, so both answer alike.
_INSIGHTS = """
SELECT insight_id, kind, data, message, created_at FROM phoenix_user_insights(%s, %s)
"""
_ACTIVE = """
SELECT nudge_id, nudge_type, target_app, message, variant
FROM phoenix_active_nudges(%s, %s, %s)
"""
_SHOWN = "SELECT phoenix_mark_nudge_shown(%s, %s)"


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
        except (
            psycopg.errors.UndefinedTable,
            psycopg.errors.UndefinedColumn,
            psycopg.errors.UndefinedFunction,
        ) as error:
            raise TransportSchemaMissingError(str(error).strip()) from error
        except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as error:
            # A value or a constraint the store refuses (IntegrityError excludes the twin,
            # which ON CONFLICT already absorbs), the catalogue's check among them:
            # permanent, with the store's words (the field, as the HTTP API names it).
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
        self, user_id: str, app: str, lang: str, *, access_token: str | None = None
    ) -> list[Nudge]:
        # Committed on leaving: the function records the offers it returns.
        with self._connection() as connection:
            cursor = connection.execute(_ACTIVE, (user_id, app, lang))
            names = [column.name for column in cursor.description or ()]
            found = cursor.fetchall()
        return [nudge_dict(dict(zip(names, row, strict=True))) for row in found]

    def user_insights(
        self, user_id: str, lang: str, *, access_token: str | None = None
    ) -> list[Insight]:
        with self._connection() as connection:
            cursor = connection.execute(_INSIGHTS, (user_id, lang))
            names = [column.name for column in cursor.description or ()]
            found = cursor.fetchall()
        return [insight_dict(dict(zip(names, row, strict=True))) for row in found]

    def mark_shown(self, nudge_id: str, app: str, *, access_token: str | None = None) -> bool:
        with self._connection() as connection:
            row = connection.execute(_SHOWN, (nudge_id, app)).fetchone()
        return bool(row and row[0])

    def close(self) -> None:
        """Nothing held between calls."""


__all__ = ["PostgresTransport", "TransportError"]
