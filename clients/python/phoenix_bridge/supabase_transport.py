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
from typing import Any

from phoenix_bridge.rows import EVENT_COLUMNS
from phoenix_bridge.transport import (
    EVENT_HASH_CONSTRAINT,
    Insight,
    Nudge,
    Row,
    TransportError,
    TransportPermissionError,
    TransportRejectedError,
    TransportSchemaMissingError,
    TransportUnavailableError,
    insight_dict,
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

    def _client_for(self, access_token: str | None) -> Any:
        if self._client is None:
            import httpx

            # Our own httpx client carries the timeout (supabase-py deprecates its own).
            self._http = httpx.Client(timeout=self._timeout)
            self._client = self._create_client({})
        if not access_token:
            return self._client
        # The user's own client for this call, as supabase-py documents it (the token in
        # the Authorization header, the project's key as apikey), on the shared HTTP
        # session: cheap, and no other call ever sees this token.
        return self._create_client({"Authorization": f"Bearer {access_token}"})

    def _table(self, name: str, access_token: str | None = None) -> Any:
        return self._client_for(access_token).table(name)

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

    def _rpc(self, function: str, params: dict[str, Any], access_token: str | None) -> Any:
        """A call of the store's own function, as supabase-py makes it (POST /rpc/...)."""
        try:
            answer = self._run(self._client_for(access_token).rpc(function, params))
        except _DuplicateError as error:  # cannot happen on a call; told as unavailable
            raise TransportUnavailableError(str(error)) from error
        return answer.data

    def active_nudges(
        self, user_id: str, app: str, lang: str, *, access_token: str | None = None
    ) -> list[Nudge]:
        found = self._rpc(
            "phoenix_active_nudges",
            {"p_user_id": user_id, "p_app": app, "p_lang": lang},
            access_token,
        )
        return [nudge_dict(row) for row in found or []]

    def user_insights(
        self, user_id: str, lang: str, *, access_token: str | None = None
    ) -> list[Insight]:
        found = self._rpc(
            "phoenix_user_insights", {"p_user_id": user_id, "p_lang": lang}, access_token
        )
        return [insight_dict(row) for row in found or []]

    def mark_shown(self, nudge_id: str, app: str, *, access_token: str | None = None) -> bool:
        recorded = self._rpc(
            "phoenix_mark_nudge_shown", {"p_nudge_id": nudge_id, "p_app": app}, access_token
        )
        return recorded is True

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
        self._client = self._http = None


__all__ = ["SupabaseRestTransport", "TransportError"]
