"""The dashboard, ``/schema`` and ``/metrics`` of a real server, the pages in a real browser.

Chromium is Debian's (``.ci/run`` installs it); Playwright drives it. Every request the
pages make is recorded: one to another host would mean the page breaks offline.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from src.adapters.sql.tables import events
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from src.entrypoints.cli.demo import SAMPLE
from tests.conftest import as_stored_before_the_check, make_settings
from tests.e2e.conftest import ROOT, Server, running_server

playwright_api = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.e2e
TOKEN = "dashboard-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
DOCS_SCREENSHOT = ROOT / "docs" / "dashboard.png"
UPDATE_SCREENSHOT = "PHOENIX_UPDATE_DASHBOARD_PNG"
"""Set to 1 to write the screenshot over the tracked ``docs/dashboard.png``."""


def screenshot_path(tmp_path: Path, environ: Mapping[str, str] = os.environ) -> Path:
    """Where the test saves its screenshot: the run's own folder, unless asked for the
    docs' copy, so a normal run never changes a tracked file."""
    return DOCS_SCREENSHOT if environ.get(UPDATE_SCREENSHOT) == "1" else tmp_path / "dashboard.png"


def test_a_normal_run_never_writes_the_tracked_screenshot(tmp_path: Path) -> None:
    assert screenshot_path(tmp_path, {}) == tmp_path / "dashboard.png"
    assert screenshot_path(tmp_path, {UPDATE_SCREENSHOT: "0"}) == tmp_path / "dashboard.png"
    assert screenshot_path(tmp_path, {UPDATE_SCREENSHOT: "1"}) == DOCS_SCREENSHOT


# For each chart of the page: does any of its series hold a value other than 0?
CHARTS_WITH_DATA = """() => Object.fromEntries(
  Object.entries(window.flywheelDashboard.charts)
    .filter(([id, chart]) => !chart.canvas.closest("[hidden]"))
    .map(([id, chart]) => [id, chart.data.datasets.some(
      (set) => set.data.some((v) => Array.isArray(v) ? v.some((x) => x) : Boolean(v)))]))"""

QUEUE_SAMPLES = "() => window.flywheelDashboard.charts['chart-queue'].data.labels.length"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is required in CI (.ci/run installs Debian's chromium)")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class Recorder:
    """Every request and every console error of a page."""

    def __init__(self, page: Any) -> None:
        self.urls: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda request: self.urls.append(request.url))
        page.on(
            "console",
            lambda message: self.errors.append(message.text) if message.type == "error" else None,
        )
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def elsewhere(self, base_url: str) -> list[str]:
        return [
            url
            for url in self.urls
            if not url.startswith((f"{base_url}/", "blob:", "data:", "about:"))
        ]


def queue(server: Server) -> dict[str, Any]:
    answer = server.client.get("/api/events/queue-status", headers=AUTH)
    result: dict[str, Any] = answer.json() if answer.status_code == 200 else {}
    return result


def settled(server: Server, processed: int, dead: int) -> bool:
    status = queue(server)
    return (status.get("processed"), status.get("dead"), status.get("pending")) == (
        processed,
        dead,
        0,
    ) and status.get("failed") == 0


def publish_demo_sample(server: Server, database_url: str) -> None:
    """The demo's sample over HTTP (so this server's worker processes it), a nudge shown
    then followed, and one event that dies: a row of a type the catalogue no longer knows,
    stored long ago (the store's own check refuses such a row today)."""
    now = datetime.now(UTC)
    sample = [
        {
            "event_type": kind,
            "app_source": app,
            "user_id": user,
            "payload": payload,
            "timestamp": (now - timedelta(hours=hours)).isoformat(),
        }
        for user, app, kind, payload, hours in SAMPLE
    ]
    answer = server.client.post("/api/events", json={"events": sample}, headers=AUTH)
    assert answer.status_code == 202, answer.text
    container = open_flywheel(make_settings(database_url))
    try:
        with container.engine().begin() as connection:
            as_stored_before_the_check(connection)
            connection.execute(
                events.insert().values(
                    event_type="letter.sent", app_source="phoenix-letters", user_id="zoe"
                )
            )
    finally:
        close_flywheel(container)
    server.wait_until(lambda: settled(server, len(SAMPLE), 1), what="the sample processed")
    server.wait_until(lambda: nudges(server, "emma"), what="emma's nudge")
    (nudge,) = nudges(server, "emma")
    assert server.client.post(f"/api/nudges/{nudge['nudge_id']}/shown", headers=AUTH).is_success
    cv = {"event_type": "cv.uploaded", "app_source": "phoenix-cv", "user_id": "emma"}
    assert server.client.post("/api/events", json=cv, headers=AUTH).status_code == 202
    server.wait_until(lambda: settled(server, len(SAMPLE) + 1, 1), what="emma's CV processed")


def nudges(server: Server, user: str) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = server.client.get(
        f"/api/users/{user}/nudges", params={"app": "phoenix-letters"}, headers=AUTH
    ).json()
    return answer


def dead_total(server: Server) -> float:
    """How many times this server's worker found an event dead."""
    return metrics(server)["flywheel_events_dead_total"][()]


def test_the_dashboard_charts_a_processed_sample_offline_and_requeues_dead_events(
    migrated_url: str, browser: Any, tmp_path: Path
) -> None:
    with running_server(migrated_url, FLYWHEEL_API_TOKEN=TOKEN) as server:
        base_url = str(server.client.base_url).rstrip("/")
        publish_demo_sample(server, migrated_url)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        recorder = Recorder(page)

        page.goto(f"{base_url}/dashboard")
        page.locator("#token").fill(TOKEN)  # behind the token: the sign-in form first
        page.locator("#login-form button[type=submit]").click()
        page.locator("#refreshed").filter(has_text="updated").wait_for()
        server.wait_until(
            lambda: all(page.evaluate(CHARTS_WITH_DATA).values()),
            timeout=30,
            what="every chart to show data",
        )
        charted = set(page.evaluate(CHARTS_WITH_DATA))
        assert charted >= {
            "chart-queue",
            "chart-throughput",
            "chart-duration",
            "chart-apps",
            "chart-types",
            "chart-users",
            "chart-nudges",
        }
        assert page.locator("#errors tbody tr").filter(has_text="letter.sent").count() == 1
        page.locator("#q-dead").filter(has_text="1").wait_for()
        # The experiments panel shows only where the server has experiments.
        has_experiments = server.client.get("/api/experiments", headers=AUTH).status_code == 200
        assert page.locator("#experiments").is_visible() == has_experiments
        # A few refreshes, so the queue's history has more than one sample to draw.
        server.wait_until(
            lambda: page.evaluate(QUEUE_SAMPLES) >= 3, timeout=30, what="three queue samples"
        )
        screenshot = screenshot_path(tmp_path)
        page.screenshot(path=str(screenshot), full_page=True)
        assert screenshot.read_bytes().startswith(b"\x89PNG")

        dialogs: list[str] = []

        def answer(dialog: Any, accept: bool) -> None:
            dialogs.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()

        page.once("dialog", lambda dialog: answer(dialog, accept=False))
        page.locator("#requeue").click()
        assert dialogs == ["Requeue 1 dead event(s)? They will be processed again."]
        assert not any("force-reprocess" in url for url in recorder.urls)
        assert dead_total(server) == 1

        page.once("dialog", lambda dialog: answer(dialog, accept=True))
        page.locator("#requeue").click()
        page.locator("#requeue-result").filter(has_text="Requeued 1 event(s).").wait_for()
        # Processed again, and dead again: its type is still unknown.
        server.wait_until(lambda: dead_total(server) == 2, what="the dead event requeued")

        assert recorder.elsewhere(base_url) == []
        assert recorder.errors == []
        page.close()


def test_the_api_docs_render_with_the_apps_own_assets(sqlite_url: str, browser: Any) -> None:
    close_flywheel(open_flywheel(make_settings(sqlite_url), migrate=True))
    with running_server(sqlite_url) as server:
        base_url = str(server.client.base_url).rstrip("/")
        page = browser.new_page()
        recorder = Recorder(page)
        page.goto(f"{base_url}/schema")
        page.get_by_role("heading", name="Phoenix Flywheel — Smart Router").wait_for()
        page.get_by_role("heading", name="DashboardData").wait_for()
        assert f"{base_url}/static/vendor/redoc/redoc.standalone.js" in recorder.urls
        assert recorder.elsewhere(base_url) == []
        assert recorder.errors == []
        page.close()


def test_a_wrong_token_keeps_the_dashboard_closed(sqlite_url: str, browser: Any) -> None:
    close_flywheel(open_flywheel(make_settings(sqlite_url), migrate=True))
    with running_server(sqlite_url, FLYWHEEL_API_TOKEN=TOKEN) as server:
        assert server.anonymous.get("/api/dashboard").status_code == 401
        page = browser.new_page()
        page.goto(f"{str(server.client.base_url).rstrip('/')}/dashboard")
        page.locator("#token").fill("not-the-token")
        page.locator("#login-form button[type=submit]").click()
        page.locator("#login-error").filter(has_text="The token was refused.").wait_for()
        assert page.locator("#main").is_hidden()
        page.close()


def metrics(server: Server) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Samples by name, then by labels, as Prometheus would parse them."""
    answer = server.client.get("/metrics", headers=AUTH)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=")
    parsed: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            parsed.setdefault(sample.name, {})[labels] = sample.value
    return parsed


def test_metrics_in_the_prometheus_text_format(migrated_url: str) -> None:
    with running_server(migrated_url, FLYWHEEL_API_TOKEN=TOKEN) as server:
        assert server.anonymous.get("/metrics").status_code == 401
        publish_demo_sample(server, migrated_url)
        found = metrics(server)

        processed = len(SAMPLE) + 1
        assert found["flywheel_queue_events"][(("status", "processed"),)] == processed
        assert found["flywheel_queue_events"][(("status", "dead"),)] == 1
        assert found["flywheel_queue_events"][(("status", "pending"),)] == 0
        assert found["flywheel_queue_oldest_pending_age_seconds"][()] == 0
        assert found["flywheel_events_processed_total"][()] == processed
        assert found["flywheel_events_dead_total"][()] == 1
        batches = found["flywheel_batch_duration_seconds_count"][()]
        assert batches >= 2  # the sample, then emma's CV
        assert found["flywheel_batch_duration_seconds_bucket"][(("le", "+Inf"),)] == batches
        assert found["flywheel_batch_duration_seconds_sum"][()] > 0
        assert found["flywheel_worker_up"][()] == 1
        last_success = found["flywheel_worker_last_success_timestamp_seconds"][()]
        assert abs(last_success - datetime.now(UTC).timestamp()) < 600
        ingest = (("method", "POST"), ("path", "/api/events"), ("status", "202"))
        assert found["flywheel_http_requests_total"][ingest] == 2
        latency = (("method", "POST"), ("path", "/api/events"))
        assert found["flywheel_http_request_duration_seconds_count"][latency] == 2
        user_path = (("method", "GET"), ("path", "/api/users/{user_id}/nudges"), ("status", "200"))
        assert found["flywheel_http_requests_total"][user_path] >= 1


EXPERIMENTS = [
    {
        "nudge_type": "letters_to_cv",
        "mode": "ab",
        "variants": [
            {
                "variant": "fr-a",
                "message": "Optimisez vos chances avec Phoenix CV !",
                "assigned": 40,
                "exposed": 32,
                "converted": 4,
                "conversion_rate": 0.125,
                "ci_low": 0.05,
                "ci_high": 0.28,
            },
            {
                "variant": "fr-b",
                "message": "Un CV Phoenix pour aller avec vos lettres ?",
                "assigned": 38,
                "exposed": 30,
                "converted": 6,
                "conversion_rate": 0.2,
                "ci_low": 0.1,
                "ci_high": 0.37,
            },
        ],
    }
]


def test_the_experiments_panel_follows_the_servers_experiments(
    sqlite_url: str, browser: Any
) -> None:
    """The experiments endpoint belongs to another part of the API: its answer is played
    here with the shape docs/http-api.md gives, whether or not this server has it yet."""
    close_flywheel(open_flywheel(make_settings(sqlite_url), migrate=True))
    with running_server(sqlite_url) as server:
        base_url = str(server.client.base_url).rstrip("/")

        def with_experiments(route: Any) -> None:
            response = route.fetch()
            document = response.json()
            document["paths"].setdefault("/api/experiments", {"get": {}})
            route.fulfill(response=response, json=document)

        page = browser.new_page()
        page.route("**/schema/openapi.json", with_experiments)
        page.route("**/api/experiments", lambda route: route.fulfill(json=EXPERIMENTS))
        page.goto(f"{base_url}/dashboard")
        page.locator("#experiments").wait_for()
        rows = page.locator("#experiments-table tbody tr")
        assert rows.count() == 2
        assert "12.5 %" in rows.nth(0).inner_text()
        assert "10.0 – 37.0 %" in rows.nth(1).inner_text()
        assert page.evaluate(CHARTS_WITH_DATA)["chart-experiments"]
        page.close()

        gone = browser.new_page()
        gone.route("**/schema/openapi.json", with_experiments)
        gone.route("**/api/experiments", lambda route: route.fulfill(status=404, json={}))
        gone.goto(f"{base_url}/dashboard")
        gone.locator("#refreshed").filter(has_text="updated").wait_for()
        assert gone.locator("#experiments").is_hidden()
        gone.close()
