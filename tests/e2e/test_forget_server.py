"""Forgetting a user over real HTTP while the server's own worker runs (and caches journeys)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Server, running_server

pytestmark = pytest.mark.e2e
TOKEN = "e2e-forget-token"


def event(event_type: str, app: str, user: str) -> dict[str, Any]:
    return {"event_type": event_type, "app_source": app, "user_id": user}


def processed(server: Server, count: int) -> bool:
    status = server.queue()
    return (status.get("processed"), status.get("pending"), status.get("processing")) == (
        count,
        0,
        0,
    )


def journey(server: Server, user: str) -> Any:
    response = server.client.get(f"/api/users/{user}/journey")
    return response.json() if response.status_code == 200 else response.status_code


def test_a_forgotten_user_comes_back_only_with_new_events(migrated_url: str) -> None:
    with running_server(migrated_url, FLYWHEEL_API_TOKEN=TOKEN) as server:
        http = server.client
        server.wait_until(lambda: http.get("/health").json()["worker"] == "running", what="worker")
        batch = [
            event("letter.generated", "phoenix-letters", "alice"),
            event("cv.uploaded", "phoenix-cv", "bob"),
        ]
        assert http.post("/api/events", json={"events": batch}).status_code == 202
        server.wait_until(lambda: processed(server, 2), what="both events processed")
        server.wait_until(lambda: journey(server, "alice") != 404, what="alice's journey")
        bob = journey(server, "bob")

        assert server.anonymous.delete("/api/users/alice").status_code == 401
        forgotten = http.delete("/api/users/alice")
        assert forgotten.status_code == 200, forgotten.text
        removed = forgotten.json()["removed"]
        assert (removed["events"], removed["journey_entries"], removed["nudges"]) == (1, 1, 1)
        assert journey(server, "alice") == 404
        assert http.delete("/api/users/alice").json()["removed"]["events"] == 0

        # The worker folded alice's letter and holds her journey: her next event must
        # start a new one, not bring the letter back.
        cv = event("cv.uploaded", "phoenix-cv", "alice")
        assert http.post("/api/events", json=cv).status_code == 202
        server.wait_until(lambda: processed(server, 2), what="alice's new event")
        server.wait_until(lambda: journey(server, "alice") != 404, what="her new journey")
        again = journey(server, "alice")
        assert [e["event_type"] for e in again["events"]] == ["cv.uploaded"]
        assert [n["nudge_type"] for n in again["nudges"]] == ["cv_to_letters"]
        assert journey(server, "bob") == bob
        figures = http.get("/api/analytics/ecosystem").json()
        assert (figures["total_events"], figures["unique_users"]) == (2, 2)
        assert figures["events_by_app"] == {"phoenix-cv": 2}
        server.stop()
