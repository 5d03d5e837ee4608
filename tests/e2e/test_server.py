"""Whole journeys over real HTTP against a real server process, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from src.entrypoints.runtime import close_flywheel, open_flywheel
from tests.conftest import make_settings
from tests.e2e.conftest import Server, running_server
from tests.pgbouncer import free_port, pgbouncer

pytestmark = pytest.mark.e2e
TOKEN = "e2e-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def event(event_type: str, app: str, user: str, **extra: Any) -> dict[str, Any]:
    return {"event_type": event_type, "app_source": app, "user_id": user, **extra}


def processed(server: Server, count: int) -> bool:
    status = server.queue()
    return (status.get("processed"), status.get("pending"), status.get("processing")) == (
        count,
        0,
        0,
    )


def test_a_user_journey_over_http(migrated_url: str) -> None:
    with running_server(migrated_url, FLYWHEEL_API_TOKEN=TOKEN) as server:
        http = server.client
        server.wait_until(lambda: http.get("/health").json()["worker"] == "running", what="worker")
        letter = event(
            "letter.generated", "phoenix-letters", "alice", payload={"company": "Airbus"}
        )
        assert http.post("/api/events", json=letter).status_code == 401
        first = http.post("/api/events", json=letter, headers=AUTH)
        again = http.post("/api/events", json=letter, headers=AUTH)
        assert (first.status_code, first.json()) == (202, {"accepted": 1, "duplicates": 0})
        assert again.json() == {"accepted": 0, "duplicates": 1}
        # No POST to process: the background worker picks the event up by itself.
        server.wait_until(lambda: processed(server, 1), what="the event processed")
        server.wait_until(
            lambda: http.get("/api/users/alice/nudges", params={"app": "phoenix-letters"}).json(),
            what="the nudge",
        )
        (nudge,) = http.get("/api/users/alice/nudges", params={"app": "phoenix-letters"}).json()
        assert nudge["message"] == "Optimisez vos chances avec Phoenix CV !"
        assert http.post(f"/api/nudges/{nudge['nudge_id']}/shown", headers=AUTH).status_code == 200
        assert http.get("/api/users/alice/nudges", params={"app": "phoenix-letters"}).json() == []
        cv = event("cv.uploaded", "phoenix-cv", "alice")
        assert http.post("/api/events", json={"events": [cv]}, headers=AUTH).status_code == 202
        server.wait_until(lambda: processed(server, 2), what="the CV processed")
        server.wait_until(
            lambda: http.get("/api/analytics/ecosystem").json()["nudges"]["converted"] == 1,
            what="the conversion",
        )
        figures = http.get("/api/analytics/ecosystem", params={"days": 30}).json()
        assert figures["nudges"] == {"detected": 1, "shown": 1, "converted": 1}
        assert figures["cross_app_users"] == 1
        journey = http.get("/api/users/alice/journey").json()
        requeued = http.post(
            "/api/events/force-reprocess", json={"since": "2000-01-01T00:00:00Z"}, headers=AUTH
        ).json()
        assert requeued == {"requeued": 2}
        server.wait_until(lambda: processed(server, 2), what="the replay")
        assert http.get("/api/analytics/ecosystem", params={"days": 30}).json() == figures
        assert http.get("/api/users/alice/journey").json() == journey
        manual = http.post("/api/events/process-queue", headers=AUTH)
        assert manual.status_code == 200
        assert set(manual.json()) == {"processed", "duplicates", "failed", "dead", "duration_ms"}
        server.stop()


def test_events_written_while_the_server_is_down_are_processed_when_it_starts(
    migrated_url: str,
) -> None:
    container = open_flywheel(make_settings(migrated_url))
    try:
        kinds = [("letter.generated", "phoenix-letters"), ("cv.generated", "phoenix-cv")]
        container.ingestion().publish(
            [
                event(t, a, f"user-{n % 7}", idempotency_key=str(n))
                for n, (t, a) in enumerate(kinds * 20)
            ]
        )
    finally:
        close_flywheel(container)
    with running_server(migrated_url) as server:
        server.wait_until(lambda: processed(server, 40), what="the backlog drained")
        # Read models follow the queue within a projection step.
        server.wait_until(
            lambda: server.client.get("/api/analytics/ecosystem").json()["total_events"] == 40,
            what="the figures",
        )


def test_bad_input_never_stops_the_server(migrated_url: str) -> None:
    with running_server(migrated_url) as server:
        http = server.client
        assert http.post("/api/events", content=b"{not json").status_code == 400
        assert http.post("/api/events", json={"events": [{}] * 1001}).status_code == 400
        big = http.post("/api/events", content=b"x" * (8 * 1024 * 1024))
        assert big.status_code == 413
        unknown = http.post("/api/events", json=event("cv.burned", "phoenix-cv", "u"))
        assert unknown.json()["field"] == "event_type"
        assert http.get("/api/users/nobody/journey").status_code == 404
        assert http.get("/api/analytics/ecosystem", params={"days": "-3"}).status_code == 400
        assert http.get("/health").status_code == 200
        assert server.queue()["pending"] == 0


@pytest.mark.postgres
def test_health_is_degraded_while_the_store_is_down_and_recovers_by_itself(
    postgres_url: str,
) -> None:
    close_flywheel(open_flywheel(make_settings(postgres_url), migrate=True))
    port = free_port()  # nothing listens here yet: the store is "down"
    pooled = f"postgresql://postgres@127.0.0.1:{port}/{postgres_url.rpartition('/')[2]}?pooler=transaction"
    with running_server(pooled, wait_open=False) as server:
        down = server.client.get("/health")
        assert down.status_code == 503
        assert down.json()["status"] == "degraded"
        assert server.client.get("/api/events/queue-status").status_code == 503
        with pgbouncer(postgres_url, port):
            server.wait_until(
                lambda: server.client.get("/health").status_code == 200, what="recovery"
            )
            server.wait_until(lambda: server.queue() != {}, what="the store opened")
            letter = event("letter.generated", "phoenix-letters", "bob")
            assert server.client.post("/api/events", json=letter).status_code == 202
            server.wait_until(lambda: processed(server, 1), what="the event processed")
        # The store goes away again while the server runs: a 503 that says so, never a 500.
        lost = server.client.get("/api/events/queue-status")
        assert lost.status_code == 503, lost.text
        assert lost.json() == {"error": "the store is unreachable; retry later", "field": None}
        assert server.client.get("/health").json()["status"] == "degraded"
        with pgbouncer(postgres_url, port):
            server.wait_until(lambda: server.queue() != {}, what="the store back")
            assert server.client.get("/health").status_code == 200
            server.stop()


@pytest.mark.postgres
def test_an_event_written_straight_to_postgres_wakes_the_worker(postgres_url: str) -> None:
    close_flywheel(open_flywheel(make_settings(postgres_url), migrate=True))
    # Polling every 10 minutes: only LISTEN/NOTIFY can get this event processed in time.
    with running_server(postgres_url, POLL_INTERVAL_SECONDS="600") as server:
        server.wait_until(
            lambda: server.client.get("/health").json()["worker"] == "running", what="worker"
        )
        container = open_flywheel(make_settings(postgres_url))
        try:
            container.ingestion().publish([event("cv.uploaded", "phoenix-cv", "carla")])
        finally:
            close_flywheel(container)
        server.wait_until(lambda: processed(server, 1), timeout=60, what="the notified event")
