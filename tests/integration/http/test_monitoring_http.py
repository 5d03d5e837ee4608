"""``/api/dashboard`` and ``/metrics`` in process (Litestar's TestClient) on each real store."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from src.entrypoints.http import create_app
from tests.conftest import make_settings

TOKEN = "monitoring-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(store_url: str) -> Iterator[TestClient[Any]]:
    settings = make_settings(store_url, flywheel_api_token=TOKEN)
    close_flywheel(open_flywheel(settings, migrate=True))
    with TestClient(create_app(settings, run_worker=False)) as test_client:
        yield test_client


def families(text: str) -> dict[str, list[Any]]:
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def wait_open(client: TestClient[Any]) -> None:
    for _ in range(300):
        if client.get("/api/dashboard", headers=AUTH).status_code == 200:
            return
        time.sleep(0.05)
    pytest.fail("the store did not open")


def test_the_dashboard_data_needs_the_token_and_a_valid_period(client: TestClient[Any]) -> None:
    wait_open(client)
    assert client.get("/api/dashboard").status_code == 401
    assert client.get("/api/dashboard", headers={"Authorization": "Bearer no"}).status_code == 401
    for days in ("0", "3651", "abc"):
        refused = client.get("/api/dashboard", params={"days": days}, headers=AUTH)
        assert refused.status_code == 400, refused.text
        assert refused.json()["field"] == "days"
    data = client.get("/api/dashboard", params={"days": 30}, headers=AUTH).json()
    assert data["ecosystem"]["period_days"] == 30
    assert data["queue"]["pending"] == 0
    assert len(data["queue_history"]) >= 1  # each refresh is a sample
    assert (data["throughput"], data["nudges"], data["errors"]) == ([], [], [])


def test_the_page_and_its_assets_are_public_and_local(client: TestClient[Any]) -> None:
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert 'data-token-required="true"' in page.text
    for asset in ("/static/dashboard.js", "/static/vendor/chartjs/chart.umd.min.js"):
        assert client.get(asset).status_code == 200, asset
    docs = client.get("/schema")
    assert docs.status_code == 200
    assert "/static/vendor/redoc/redoc.standalone.js" in docs.text
    assert "https://" not in docs.text.split("Redoc.init(")[0]


def test_metrics_while_the_store_is_not_open_report_it_down(sqlite_url: str) -> None:
    """Not migrated: the server waits for the schema, and a scrape still answers."""
    settings = make_settings(sqlite_url, poll_interval_seconds=30)
    with TestClient(create_app(settings, run_worker=False)) as client:
        answer = client.get("/metrics")
        assert answer.status_code == 200
        found = families(answer.text)
    assert [sample.value for sample in found["flywheel_store_up"]] == [0]
    assert "flywheel_queue_events" not in found
    assert [sample.value for sample in found["flywheel_worker_up"]] == [0]
