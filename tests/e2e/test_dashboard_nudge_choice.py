"""The dashboard's nudge choice: which nudge type won the users' slots, from a real
server's figures, in a real browser (skipped where Chromium is not installed)."""

from __future__ import annotations

from typing import Any

import pytest

from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from tests.conftest import make_settings
from tests.e2e.conftest import running_server
from tests.e2e.test_dashboard import browser  # noqa: F401 - the module's browser fixture

pytestmark = pytest.mark.e2e


def test_the_dashboard_shows_the_slots_each_nudge_type_won(sqlite_url: str, browser: Any) -> None:  # noqa: F811 - the fixture imported above
    close_flywheel(open_flywheel(make_settings(sqlite_url), migrate=True))
    with running_server(sqlite_url) as server:
        letters = [
            {"event_type": "letter.generated", "app_source": "phoenix-letters", "user_id": f"u{n}"}
            for n in range(3)
        ]
        assert server.client.post("/api/events", json={"events": letters}).status_code < 300
        # Before the worker has run, the nudges route already answers (the degraded
        # mode's offers): wait for the worker itself, whose detections are counted.
        server.wait_until(
            lambda: (server.queue().get("processed"), server.queue().get("pending")) == (3, 0),
            what="the worker to process the letters",
        )

        def detected() -> object:
            choice = server.client.get("/api/experiments/nudge-choice").json()
            return {s["nudge_type"]: s["detected"] for s in choice}.get("letters_to_cv")

        server.wait_until(lambda: detected() == 3, what="the worker to detect the nudges")
        for n in range(2):
            (nudge,) = server.client.get(
                f"/api/users/u{n}/nudges", params={"app": "phoenix-letters"}
            ).json()
            assert server.client.post(f"/api/nudges/{nudge['nudge_id']}/shown").status_code == 200
        expected = {
            s["nudge_type"]: s for s in server.client.get("/api/experiments/nudge-choice").json()
        }
        assert (expected["letters_to_cv"]["detected"], expected["letters_to_cv"]["won"]) == (3, 2)

        page = browser.new_page()
        page.goto(f"{str(server.client.base_url).rstrip('/')}/dashboard")
        page.locator("#nudge-choice").wait_for()
        rows = page.locator("#nudge-choice-table tbody tr")
        assert rows.count() == len(expected)
        cells = rows.filter(has_text="letters_to_cv").locator("td").all_inner_texts()
        assert cells[:5] == ["letters_to_cv", "3", "2", "100.0 %", "0"]
        page.close()
