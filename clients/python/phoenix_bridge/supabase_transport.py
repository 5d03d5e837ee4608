"""Supabase REST (PostgREST) through supabase-py, for apps that hold only the anon key.

Inserts ask for ``returning="minimal"``: the default ``representation`` needs SELECT
rights the anon key must not have. Every row carries its ``event_hash``, so a twin is
refused by that unique constraint (409, SQLSTATE 23505) and counted as delivered; a
uniqueness violation naming another constraint is an error like any other. The client's
own GET retries are switched off: the bridge's outbox is the retry.

A signed-in user's calls go as Supabase documents: ``apikey`` the project's key,
``Authorization: Bearer`` the user's access token, on a client made for that call, so
users served by one process at once never see each other's token.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from phoenix_bridge.rows import EVENT_COLUMNS
from phoenix_bridge.transport import (
    EVENT_HASH_CONSTRAINT,
    Nudge,
    Row,
    TransportError,
    TransportPermissionError,
    TransportRejectedError,
    TransportSchemaMissingError,
    TransportUnavailableError,
    nudge_dict,
    refused_by_rights,
)

# A key or JWT the gateway or PostgREST refuses (forged, expired): every row would be,
# so they wait.
_PERMISSION_CODES = {"PGRST301", "PGRST302", "PGRST303", "401", "403"}
# PostgREST answers a row the grants or RLS refuse with 401/403 and SQLSTATE 42501:
# that row is refused for good (a user emitting for someone else), not the key.
_ROW_REFUSED_CODES = {"42501"}
_MISSING_CODES = {"42P01", "42703", "PGRST205", "PGRST204", "PGRST200", "404"}


class _DuplicateError(Exception):
    """The row's twin is in the store already."""


def _is_twin(code: str, message: str, details: str) -> bool:
    """A uniqueness violation of the ``event_hash`` constraint, and of no other."""
    return code == "23505" and (EVENT_HASH_CONSTRAINT in message or "Key (event_hash)=" in details)


def _classify(error: Exception) -> Exception:
    """A supabase-py / httpx failure as the bridge's error, or ``_DuplicateError``."""
    code = str(getattr(error, "code", "") or "")
    message = str(getattr(error, "message", "") or error)
    details = str(getattr(error, "details", "") or "")
    text = f"{code} {message}".strip()
    lowered = message.lower()
    if _is_twin(code, message, details):
        return _DuplicateError(text)
    if code in _ROW_REFUSED_CODES:
        return refused_by_rights(text)
    if code in _PERMISSION_CODES or "permission denied" in lowered or "api key" in lowered:
        return TransportPermissionError(text)
    if code in _MISSING_CODES or "does not exist" in lowered or "schema cache" in lowered:
        return TransportSchemaMissingError(text)
    if code.startswith(("22", "23")) or code in {"400", "413", "422"}:
        return TransportRejectedError(text)
    return TransportUnavailableError(text or type(error).__name__)


class SupabaseRestTransport:
    def __init__(self, url: str, key: str, timeout_seconds: float = 2.0) -> None:
        self._url = url
        self._key = key
        self._timeout = timeout_seconds
        self._client: Any = None
        self._http: Any = None

    def _table(self, name: str, access_token: str | None = None) -> Any:
        if self._client is None:
            import httpx

            # Our own httpx client carries the timeout (supabase-py deprecates its own).
            self._http = httpx.Client(timeout=self._timeout)
            self._client = self._create_client({})
        if not access_token:
            return self._client.table(name)
        # The user's own client for this call, as supabase-py documents it (the token in
        # the Authorization header, the project's key as apikey), on the shared HTTP
        # session: cheap, and no other call ever sees this token.
        return self._create_client({"Authorization": f"Bearer {access_token}"}).table(name)

    def _create_client(self, headers: dict[str, str]) -> Any:
        from supabase import ClientOptions, create_client

        options = ClientOptions(httpx_client=self._http, postgrest_client_retry=False)
        if headers:  # a new mapping: the options' own may be shared with the defaults
            options = options.replace(headers={**options.headers, **headers})
        try:
            return create_client(self._url, self._key, options)
        except Exception as error:  # a bad URL or key, told as such
            raise TransportPermissionError(str(error)) from error

    def _run(self, query: Any) -> Any:
        try:
            return query.execute()
        except Exception as error:  # APIError, httpx errors: all classified
            raise _classify(error) from error

    def _insert(self, rows: list[Row], access_token: str | None) -> None:
        self._run(
            self._table("phoenix_events", access_token).insert(
                rows if len(rows) > 1 else rows[0], returning="minimal", default_to_null=False
            )
        )

    def deliver(self, rows: Sequence[Row], *, access_token: str | None = None) -> int:
        """One request for the batch; when a twin makes PostgREST refuse it, row by row."""
        prepared = [{k: row[k] for k in EVENT_COLUMNS if k in row} for row in rows]
        try:
            self._insert(prepared, access_token)
            return 0
        except _DuplicateError:
            pass
        duplicates = 0
        for row in prepared:
            try:
                self._insert([row], access_token)
            except _DuplicateError:
                duplicates += 1
        return duplicates

    def _select(
        self, name: str, access_token: str | None = None, **equal: str
    ) -> list[dict[str, Any]]:
        query = self._table(name, access_token).select("*")
        for column, value in equal.items():
            query = query.eq(column, value)
        try:
            answer = self._run(query)
        except _DuplicateError as error:  # cannot happen on a read; told as unavailable
            raise TransportUnavailableError(str(error)) from error
        return list(answer.data or [])

    def active_nudges(
        self, user_id: str, app: str, cooldown_hours: float, *, access_token: str | None = None
    ) -> list[Nudge]:
        found = self._select(
            "phoenix_nudges", access_token, user_id=user_id, shown_in=app, status="active"
        )
        if not found:
            return []
        since = datetime.now(UTC) - timedelta(hours=cooldown_hours)
        try:
            sent = self._select("phoenix_nudges_sent", access_token, user_id=user_id)
        except (TransportPermissionError, TransportRejectedError):  # 42501 on the read
            sent = []  # a user key may record displays, not read them: the bridge's own record
        recent = {
            row["nudge_id"] for row in sent if datetime.fromisoformat(str(row["shown_at"])) > since
        }
        found.sort(key=lambda row: str(row.get("detected_at", "")))
        wordings = self._wordings(access_token)
        return [
            nudge_dict(
                row["nudge_id"],
                row["nudge_type"],
                row["target_app"],
                *_wording(wordings, row["nudge_type"], str(row.get("variant") or "")),
            )
            for row in found
            if row["nudge_id"] not in recent
        ]

    def _wordings(self, access_token: str | None) -> list[dict[str, Any]]:
        """The experiments' variants the worker published; none when this key may not read
        them (the anon key), and the v1 messages are shown instead. A signed-in user's
        token reads them."""
        try:
            rows = self._select("phoenix_nudge_variants", access_token)
        except (TransportPermissionError, TransportRejectedError, TransportSchemaMissingError):
            return []
        return sorted(rows, key=lambda row: int(row.get("position", 0)))

    def nudge_opportunities(
        self, user_id: str, app: str, *, access_token: str | None = None
    ) -> list[Nudge]:
        found = self._select(
            "phoenix_nudge_opportunities", access_token, user_id=user_id, shown_in=app
        )
        return [
            nudge_dict(None, row["nudge_type"], row["target_app"], row.get("message"))
            for row in found
        ]

    def mark_shown(self, nudge_id: str, app: str, *, access_token: str | None = None) -> None:
        found = self._select("phoenix_nudges", access_token, nudge_id=nudge_id)
        if not found:
            raise TransportRejectedError(f"no nudge {nudge_id}")
        row = {"nudge_id": nudge_id, "user_id": found[0]["user_id"], "app": app}
        try:
            self._run(
                self._table("phoenix_nudges_sent", access_token).insert(row, returning="minimal")
            )
        except _DuplicateError as error:
            raise TransportRejectedError(str(error)) from error

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
        self._client = self._http = None


def _wording(
    wordings: list[dict[str, Any]], nudge_type: str, variant: str
) -> tuple[str | None, str | None]:
    """(message, variant) of the nudge's variant, or of its experiment's first one."""
    of_type = [row for row in wordings if row.get("nudge_type") == nudge_type]
    chosen = next((row for row in of_type if row.get("variant") == variant), None)
    chosen = chosen or (of_type[0] if of_type else None)
    if chosen is None:  # the variants cannot be read: the v1 message, as "default"
        return None, None
    messages = chosen.get("messages") or {}
    return messages.get("fr"), str(chosen["variant"])


__all__ = ["SupabaseRestTransport", "TransportError"]
