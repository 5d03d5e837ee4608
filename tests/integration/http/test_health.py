"""``/health`` tells an operator what is wrong: a store not migrated, a worker whose every
drain fails (why, and for how long)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from litestar.testing import TestClient

from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from src.entrypoints.http import create_app
from tests.conftest import make_settings


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.postgres
def test_an_unmigrated_store_is_a_503_that_says_to_migrate(postgres_url: str) -> None:
    settings = make_settings(postgres_url, poll_interval_seconds=0.2)
    with TestClient(create_app(settings, run_worker=False)) as client:
        first = client.get("/health")
        assert first.status_code == 503
        assert first.json()["database"] in (
            "starting",
            "not migrated: run `phoenix-flywheel migrate`",
        )
        wait_for(lambda: client.get("/health").json()["database"] != "starting", "a first try")
        answer = client.get("/health").json()
        assert answer["status"] == "degraded"
        assert "run `phoenix-flywheel migrate`" in answer["database"]
        assert client.head("/health").status_code == 503
        event = {"event_type": "cv.uploaded", "app_source": "phoenix-cv", "user_id": "u1"}
        for method, path, body in (
            ("GET", "/api/events/queue-status", None),
            ("POST", "/api/events", event),
            ("POST", "/api/events/process-queue", None),
            ("POST", "/api/events/force-reprocess", {"status": "dead"}),
            ("GET", "/api/analytics/ecosystem", None),
            ("GET", "/api/users/u1/journey", None),
            ("GET", "/api/users/u1/nudges?app=phoenix-cv", None),
            ("DELETE", "/api/users/u1", None),
            ("POST", "/api/nudges/n1/shown", None),
            ("GET", "/api/experiments", None),
            ("GET", "/api/rules/letters_to_cv/dry-run", None),
            ("GET", "/api/dashboard", None),
        ):
            response = client.request(method, path, json=body)
            assert response.status_code == 503, (path, response.text)
            assert response.json() == {
                "error": "not migrated: run `phoenix-flywheel migrate`",
                "field": None,
            }, path


BREAK_CLAIMS = """
CREATE FUNCTION refuse_claims() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'claims refused by a test trigger'; END $$;
CREATE TRIGGER refuse_claims BEFORE UPDATE ON phoenix_events
FOR EACH ROW EXECUTE FUNCTION refuse_claims();
"""


@pytest.mark.postgres
def test_a_worker_whose_drains_fail_shows_why_and_since_when(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(postgres_url, poll_interval_seconds=0.2)
    close_flywheel(open_flywheel(settings, migrate=True))
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(BREAK_CLAIMS)
    with TestClient(create_app(settings)) as client:
        event = {"event_type": "cv.uploaded", "app_source": "phoenix-cv", "user_id": "u1"}
        wait_for(lambda: client.post("/api/events", json=event).status_code == 202, "ingest")

        def failing() -> dict[str, Any]:
            answer: dict[str, Any] = client.get("/health").json()
            return answer

        wait_for(lambda: (failing()["failing_for_seconds"] or 0) >= 1, "the worker to fail")
        answer = failing()
        response = client.get("/health")
        # The store answers: the API still serves, the status says the worker does not.
        assert response.status_code == 200
        assert answer["status"] == "degraded"
        assert answer["database"] == "ok"
        assert answer["worker"] == "running"
        # What kind of error, not its text (public: it could quote rows or name hosts);
        # the text is in the log.
        assert answer["last_error"] == "ProgrammingError; the reason is in the server log"
        logged = [str(getattr(record, "error", "")) for record in caplog.records]
        assert any("claims refused by a test trigger" in error for error in logged)
        assert answer["failing_since"] is not None
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            connection.execute("DROP TRIGGER refuse_claims ON phoenix_events")
        wait_for(lambda: failing()["status"] == "ok", "the worker to recover", timeout=60)
        answer = failing()
        assert answer["last_error"] is None
        assert answer["failing_for_seconds"] is None
        assert client.get("/api/events/queue-status").json()["processed"] == 1
