"""The flywheel's HTTP API (``phoenix-flywheel serve``), through the standard library.

urllib rather than an HTTP client library, so that an app talking to the API installs
nothing but the bridge. One short request per call, no connection pool: an app emits a
few events per user action, and a fresh connection is what survives a server restart.
Redirects are not followed: a POST silently turned into a GET would look delivered.

The server hashes each event the same way, so a twin is answered as a duplicate, never
stored twice. The nudges come from the API, which reads them from the store's own rules.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode

from phoenix_bridge.config import BridgeConfigError
from phoenix_bridge.transport import (
    Insight,
    Nudge,
    Row,
    TransportPermissionError,
    TransportRejectedError,
    TransportSchemaMissingError,
    TransportUnavailableError,
    insight_dict,
    nudge_dict,
)

_EVENT_FIELDS = ("event_type", "app_source", "user_id", "payload", "timestamp", "idempotency_key")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx then surfaces as an HTTPError, answered below


class HttpApiTransport:
    def __init__(
        self, api_url: str, token: str | None = None, timeout_seconds: float = 2.0
    ) -> None:
        if not api_url.startswith(("http://", "https://")):
            raise BridgeConfigError(f"FLYWHEEL_API_URL must be an http(s):// URL, not {api_url!r}")
        self._base_url = api_url.rstrip("/")
        self._token = token
        self._timeout = timeout_seconds
        self._opener = urllib.request.build_opener(_NoRedirect)

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        url = self._base_url + path + (f"?{urlencode(params)}" if params else "")
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        # S310: the scheme is http(s), checked in __init__.
        request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
        try:
            try:
                with self._opener.open(request, timeout=self._timeout) as response:
                    status, content = response.status, response.read()
            except urllib.error.HTTPError as error:  # a 4xx or 5xx (or a 3xx not followed)
                with error:
                    status, content = error.code, error.read()
        except (OSError, http.client.HTTPException) as error:  # URLError, timeouts, resets
            raise TransportUnavailableError(f"{type(error).__name__}: {error}") from error
        text = content.decode("utf-8", errors="replace")
        if status == 401:  # the token itself: every request would fail, so rows wait
            raise TransportPermissionError(f"HTTP 401: {text[:200]}")
        if status == 404 and path.startswith("/api/events"):  # wrong URL or an old server
            raise TransportSchemaMissingError(f"HTTP 404 on {path}")
        if 300 <= status < 400:  # a redirect: the configured URL is wrong
            raise TransportUnavailableError(f"HTTP {status} on {url}: set the API's own URL")
        if status in (408, 425, 429) or status >= 500:
            raise TransportUnavailableError(f"HTTP {status}: {text[:200]}")
        if status >= 400:  # this request is refused for good (validation, 403, 413)
            raise TransportRejectedError(f"HTTP {status}: {text[:300]}")
        if not content:
            return None
        try:
            return json.loads(content)
        except ValueError as error:  # not the flywheel's API answering
            raise TransportUnavailableError(f"HTTP {status}, not JSON: {text[:200]}") from error

    def deliver(self, rows: Sequence[Row], *, access_token: str | None = None) -> int:
        """The server counts as duplicates only the twins its ``event_hash`` refused."""
        events = [{k: row[k] for k in _EVENT_FIELDS if row.get(k) is not None} for row in rows]
        answer = self._request("POST", "/api/events", body={"events": events})
        return int(answer.get("duplicates", 0)) if isinstance(answer, dict) else 0

    def active_nudges(
        self, user_id: str, app: str, lang: str, *, access_token: str | None = None
    ) -> list[Nudge]:
        answer = self._request(
            "GET",
            f"/api/users/{quote(user_id, safe='')}/nudges",
            params={"app": app, "lang": lang},
        )
        return [nudge_dict(item) for item in answer or []]

    def user_insights(
        self, user_id: str, lang: str, *, access_token: str | None = None
    ) -> list[Insight]:
        answer = self._request(
            "GET", f"/api/users/{quote(user_id, safe='')}/insights", params={"lang": lang}
        )
        return [insight_dict(item) for item in answer or []]

    def mark_shown(self, nudge_id: str, app: str, *, access_token: str | None = None) -> bool:
        try:
            self._request("POST", f"/api/nudges/{quote(nudge_id, safe='')}/shown")
        except TransportRejectedError as error:
            if str(error).startswith("HTTP 404"):
                return False
            raise
        return True

    def close(self) -> None:
        """Nothing to release: each request closes its own connection."""
