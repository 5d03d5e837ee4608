"""The flywheel's HTTP API (``phoenix-flywheel serve``), through httpx, imported on first use.

The server hashes each event the same way, so a twin is answered as a duplicate, never
stored twice. The API has no endpoint for the degraded-mode view: when it answers, it
answers with the worker's nudges.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from phoenix_bridge.transport import (
    Nudge,
    Row,
    TransportPermissionError,
    TransportRejectedError,
    TransportSchemaMissingError,
    TransportUnavailableError,
    nudge_dict,
)

if TYPE_CHECKING:
    import httpx

_EVENT_FIELDS = ("event_type", "app_source", "user_id", "payload", "timestamp", "idempotency_key")


class HttpApiTransport:
    def __init__(
        self, api_url: str, token: str | None = None, timeout_seconds: float = 2.0
    ) -> None:
        self._base_url = api_url.rstrip("/")
        self._token = token
        self._timeout = timeout_seconds
        self._client: httpx.Client | None = None

    def _http(self) -> httpx.Client:
        if self._client is None:
            import httpx

            headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
            self._client = httpx.Client(
                base_url=self._base_url, timeout=self._timeout, headers=headers
            )
        return self._client

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = self._http().request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise TransportUnavailableError(f"{type(error).__name__}: {error}") from error
        status = response.status_code
        if status == 401:  # the token itself: every request would fail, so rows wait
            raise TransportPermissionError(f"HTTP 401: {response.text[:200]}")
        if status == 404 and path.startswith("/api/events"):  # wrong URL or an old server
            raise TransportSchemaMissingError(f"HTTP 404 on {path}")
        if status in (408, 425, 429) or status >= 500:
            raise TransportUnavailableError(f"HTTP {status}: {response.text[:200]}")
        if status >= 400:  # this request is refused for good (validation, 403, 413)
            raise TransportRejectedError(f"HTTP {status}: {response.text[:300]}")
        return response.json() if response.content else None

    def deliver(self, rows: Sequence[Row], *, access_token: str | None = None) -> int:
        """The server counts as duplicates only the twins its ``event_hash`` refused."""
        events = [{k: row[k] for k in _EVENT_FIELDS if row.get(k) is not None} for row in rows]
        answer = self._request("POST", "/api/events", json={"events": events})
        return int(answer.get("duplicates", 0)) if isinstance(answer, dict) else 0

    def active_nudges(
        self, user_id: str, app: str, cooldown_hours: float, *, access_token: str | None = None
    ) -> list[Nudge]:
        from urllib.parse import quote

        answer = self._request(
            "GET", f"/api/users/{quote(user_id, safe='')}/nudges", params={"app": app}
        )
        return [
            {
                **nudge_dict(item["nudge_id"], item["nudge_type"], item["target_app"]),
                **item,
            }
            for item in answer or []
        ]

    def nudge_opportunities(
        self, user_id: str, app: str, *, access_token: str | None = None
    ) -> list[Nudge]:
        return []

    def mark_shown(self, nudge_id: str, app: str, *, access_token: str | None = None) -> None:
        from urllib.parse import quote

        self._request("POST", f"/api/nudges/{quote(nudge_id, safe='')}/shown")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
