"""The API alone shows what workers elsewhere did: its figures come from the store.

The app runs without its worker (``serve --no-worker``); another flywheel, as a worker
process would, drains the queue. The dashboard's throughput and ``/metrics`` count that
work, and the scaling gauges say what the queue needs, on each real store.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from src.entrypoints.bootstrap import Container, close_flywheel, open_flywheel
from src.entrypoints.http import create_app
from tests.conftest import make_settings


@pytest.fixture
def worker_elsewhere(store_url: str) -> Iterator[Container]:
    """A flywheel of its own, as a `worker` process holds one; batches of two events."""
    container = open_flywheel(make_settings(store_url, event_batch_size=2), migrate=True)
    try:
        yield container
    finally:
        close_flywheel(container)


@pytest.fixture
def api_alone(store_url: str, worker_elsewhere: Container) -> Iterator[TestClient[Any]]:
    with TestClient(create_app(make_settings(store_url), run_worker=False)) as client:
        for _ in range(300):
            if client.get("/health").status_code == 200:
                break
            time.sleep(0.05)
        yield client


def gauges(client: TestClient[Any]) -> dict[str, float]:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
        if not sample.labels
    }


def publish(container: Container, users: int, per_user: int) -> None:
    container.ingestion().publish(
        [
            {
                "event_type": "cv.uploaded",
                "app_source": "phoenix-cv",
                "user_id": f"u{user}",
                "idempotency_key": f"{user}-{n}",
            }
            for user in range(users)
            for n in range(per_user)
        ]
    )


def test_the_api_alone_says_its_worker_is_external(api_alone: TestClient[Any]) -> None:
    health = api_alone.get("/health").json()
    assert (health["status"], health["worker"]) == ("ok", "external")


def test_scaling_gauges_say_what_the_queue_needs(
    api_alone: TestClient[Any], worker_elsewhere: Container
) -> None:
    publish(worker_elsewhere, users=3, per_user=3)
    found = gauges(api_alone)
    # Nine events in batches of two would keep five workers busy, but there are 3 users.
    assert found["flywheel_scaling_claimable"] == 9
    assert found["flywheel_scaling_useful_workers"] == 3
    assert found["flywheel_scaling_oldest_pending_age_seconds"] >= 0
    assert found["flywheel_worker_up"] == 0


def test_work_done_by_another_process_shows_in_the_metrics_and_the_dashboard(
    api_alone: TestClient[Any], worker_elsewhere: Container
) -> None:
    publish(worker_elsewhere, users=2, per_user=3)
    summary = asyncio.run(worker_elsewhere.processor().drain())
    assert (summary.processed, summary.batches) == (6, 3)

    found = gauges(api_alone)
    assert found["flywheel_events_processed_last_minute"] == 6
    assert found["flywheel_scaling_useful_workers"] == 0
    # This process's own counters saw nothing: it ran no batch.
    assert found["flywheel_events_processed_total"] == 0

    throughput = api_alone.get("/api/dashboard").json()["throughput"]
    assert sum(minute["processed"] for minute in throughput) == 6
    assert sum(minute["batches"] for minute in throughput) >= 3
    # Durations are measured by a worker in this process only: there is none.
    assert {minute["median_ms"] for minute in throughput} == {None}
