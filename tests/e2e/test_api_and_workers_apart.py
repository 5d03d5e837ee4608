"""``serve --no-worker`` beside a ``worker`` process, as the Kubernetes manifests run them.

The API alone neither drains at start nor processes what it accepts; a worker of its
own does, and the API's figures (queue, throughput, ``/metrics``) show that work, read
from the store.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Server, running_server
from tests.integration.workers import start_worker, stop_worker

pytestmark = pytest.mark.e2e


def events(count: int) -> dict[str, Any]:
    return {
        "events": [
            {
                "event_type": "cv.uploaded",
                "app_source": "phoenix-cv",
                "user_id": f"u{n % 4}",
                "idempotency_key": f"k{n}",
            }
            for n in range(count)
        ]
    }


def gauges(server: Server) -> dict[str, float]:
    text = server.client.get("/metrics").text
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels
    }


def test_the_api_alone_accepts_and_a_worker_process_drains(migrated_url: str) -> None:
    # Plain `serve` would drain this at start (AUTO_PROCESS_ON_STARTUP), and anything it
    # accepts within a poll (0.3 s here).
    with running_server(
        migrated_url, serve_args=["--no-worker"], AUTO_PROCESS_ON_STARTUP="true"
    ) as server:
        health = server.client.get("/health").json()
        assert (health["status"], health["worker"]) == ("ok", "external")
        answer = server.client.post("/api/events", json=events(12))
        assert answer.json() == {"accepted": 12, "duplicates": 0}
        time.sleep(1.5)  # five polls of a worker that would have run
        assert server.queue()["pending"] == 12
        found = gauges(server)
        assert found["flywheel_scaling_claimable"] == 12
        assert found["flywheel_scaling_useful_workers"] == 1  # 12 events, batches of 100

        worker = start_worker(migrated_url)
        try:
            server.wait_until(lambda: server.queue().get("processed") == 12, what="the worker")
        finally:
            log = stop_worker(worker)
        assert "Traceback" not in log, log
        found = gauges(server)
        assert found["flywheel_events_processed_last_minute"] == 12
        assert found["flywheel_scaling_useful_workers"] == 0
        assert found["flywheel_events_processed_total"] == 0  # none by the API's process
        throughput = server.client.get("/api/dashboard").json()["throughput"]
        assert sum(minute["processed"] for minute in throughput) == 12
