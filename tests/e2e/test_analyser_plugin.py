"""An analyser loaded by ``EVENT_ANALYSERS`` into the real service, ``serve`` and a
``worker`` sharing the queue: its timeouts and failures go through the retry path and
end in the store as the operator reads them."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from tests.conftest import make_settings
from tests.e2e.conftest import running_server
from tests.integration.workers import start_worker, stop_worker, wait_until

PLUGINS = Path(__file__).resolve().parent / "plugins"


def rows(url: str) -> dict[str, tuple[str, int, str | None]]:
    """user_id -> (status, attempts, ai_processing_error)."""
    with psycopg.connect(url) as connection:
        return {
            user: (status, attempts, error)
            for user, status, attempts, error in connection.execute(
                "SELECT user_id, status, attempts, ai_processing_error FROM phoenix_events"
            )
        }


@pytest.mark.postgres
def test_a_plugged_in_analyser_times_out_and_is_retried_through_the_real_service(
    postgres_url: str, tmp_path: Path
) -> None:
    migrated_url = postgres_url
    close_flywheel(open_flywheel(make_settings(postgres_url), migrate=True))
    settings = {
        "PYTHONPATH": str(PLUGINS),
        "EVENT_ANALYSERS": "flaky_analyser:FlakyAnalyser",
        "FLAKY_ANALYSER_DIR": str(tmp_path),
        "EVENT_PROCESSING_TIMEOUT": "1",
        "EVENT_LEASE_SECONDS": "10",
        "EVENT_MAX_ATTEMPTS": "2",
        "EVENT_RETRY_BACKOFF_SECONDS": "0",
    }
    worker = start_worker(migrated_url, LOG_LEVEL="INFO", **settings)
    try:
        with running_server(migrated_url, **settings) as server:
            events = [
                *(
                    {"event_type": "cv.uploaded", "app_source": "phoenix-cv", "user_id": f"ok{n}"}
                    for n in range(4)
                ),
                *(
                    {
                        "event_type": "cv.uploaded",
                        "app_source": "phoenix-cv",
                        "user_id": f"slow{n}",
                        "payload": {"slow": True},
                    }
                    for n in range(2)
                ),
                *(
                    {
                        "event_type": "letter.generated",
                        "app_source": "phoenix-letters",
                        "user_id": f"flaky{n}",
                        "payload": {"fail_once": True},
                    }
                    for n in range(2)
                ),
            ]
            response = server.client.post("/api/events", json={"events": events})
            assert response.status_code == 202, response.text

            def settled() -> bool:
                return all(
                    status in ("processed", "dead") for status, _, _ in rows(migrated_url).values()
                )

            wait_until(settled, 60, "every event processed or dead")
            server_log = server.stop()
    finally:
        worker_log = stop_worker(worker)
    found = rows(migrated_url)
    for n in range(4):
        assert found[f"ok{n}"] == ("processed", 1, None)
    for n in range(2):
        status, attempts, error = found[f"slow{n}"]
        assert (status, attempts) == ("dead", 2)
        assert error is not None
        assert error.startswith("Processing timeout after 1s")
        # Failed once, retried, then processed: the retry path of a plugged-in analyser.
        assert found[f"flaky{n}"] == ("processed", 2, None)
    logs = server_log + worker_log
    assert "flaky analyser: first attempt at event" in logs
    assert "Traceback" not in logs
