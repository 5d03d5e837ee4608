"""The choice of nudge under the daily cap, as a product owner reads it: which nudge type
won the users' slots and how it converts, through the HTTP API and the command line, on
each real store."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from src.domain.experiment_stats import probability_best
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from src.entrypoints.http import create_app
from tests.conftest import make_settings
from tests.integration.http.test_http_api import AUTH, cv, letter, process, wait_open

SOLO = 10
"""Users due letters_to_cv alone (one letter)."""
BUSY = 8
"""Users due both Letters nudges (five letters): they compete for the one slot."""
ACTING = 6


@pytest.fixture
def client(store_url: str) -> Iterator[TestClient[Any]]:
    settings = make_settings(store_url, flywheel_api_token="test-token")
    close_flywheel(open_flywheel(settings, migrate=True))
    with TestClient(create_app(settings, run_worker=False)) as test_client:
        test_client.headers.update(AUTH)
        wait_open(test_client)
        yield test_client


def served(client: TestClient[Any], user: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/users/{user}/nudges", params={"app": "phoenix-letters"})
    assert response.status_code == 200
    found: list[dict[str, Any]] = response.json()
    return found


def test_the_experiments_show_the_slots_each_type_won_and_its_conversions(
    client: TestClient[Any],
) -> None:
    solo = [f"solo-{i}" for i in range(SOLO)]
    busy = [f"busy-{i}" for i in range(BUSY)]
    events = [letter(u) for u in solo] + [
        letter(u, idempotency_key=f"{u}-{n}") for u in busy for n in range(5)
    ]
    assert client.post("/api/events", json={"events": events}).status_code in (200, 201, 202)
    process(client)

    winners: Counter[str] = Counter()
    for user in solo + busy:
        (nudge,) = served(client, user)  # the cap of one: a single nudge each
        winners[nudge["nudge_type"]] += 1
        shown = client.post(f"/api/nudges/{nudge['nudge_id']}/shown")
        assert shown.status_code == 200
    assert winners["letters_to_cv"] >= SOLO
    acting = solo[:ACTING]
    client.post("/api/events", json={"events": [cv(u) for u in acting]})
    process(client)

    response = client.get("/api/experiments")
    assert response.status_code == 200
    slots = {e["nudge_type"]: e["slots"] for e in response.json()}
    to_cv, to_rise = slots["letters_to_cv"], slots["letters_to_rise"]
    assert (to_cv["detected"], to_cv["won"], to_cv["converted"]) == (
        SOLO + BUSY,
        winners["letters_to_cv"],
        ACTING,
    )
    assert (to_rise["detected"], to_rise["won"], to_rise["converted"]) == (
        BUSY,
        winners["letters_to_rise"],
        0,
    )
    total = SOLO + BUSY
    assert to_cv["share"] == pytest.approx(winners["letters_to_cv"] / total, abs=1e-6)
    assert to_cv["conversion_rate"] == pytest.approx(ACTING / winners["letters_to_cv"])
    assert to_cv["ci_low"] < to_cv["conversion_rate"] < to_cv["ci_high"]

    # Every type of the rules, experiment or not, with the same figures.
    response = client.get("/api/experiments/nudge-choice")
    assert response.status_code == 200
    every = {s["nudge_type"]: s for s in response.json()}
    assert set(every) == {
        "cv_to_letters",
        "letters_to_cv",
        "letters_to_rise",
        "skills_gap_to_cv",
        "stress_relief",
    }
    assert every["letters_to_cv"] == to_cv
    assert every["letters_to_rise"] == to_rise
    assert every["stress_relief"]["won"] == 0
    assert sum(s["share"] for s in every.values()) == pytest.approx(1.0)
    # The chance each converts best, over all the types' posteriors at once.
    best = probability_best([(s["converted"], s["won"]) for s in every.values()])
    assert [s["probability_best"] for s in every.values()] == [round(b, 4) for b in best]


def test_the_experiments_command_shows_the_nudge_choice(
    store_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from src.entrypoints.cli.commands import main

    monkeypatch.setenv("DATABASE_URL", store_url)
    assert main(["migrate"]) == 0
    for n in range(5):
        emit = ["emit", "letter.generated", "--app", "phoenix-letters", "--user", "u1"]
        assert main([*emit, "--key", f"letter-{n}"]) == 0
    assert main(["process"]) == 0
    capsys.readouterr()
    assert main(["experiments"]) == 0
    table = capsys.readouterr().out
    assert "nudge choice under the daily cap" in table
    rows = {line.split()[0]: line.split() for line in table.splitlines() if line.startswith("  ")}
    assert rows["letters_to_rise"][1:3] == ["1", "0"]  # detected, won
    assert main(["experiments", "--json"]) == 0
    reports = json.loads(capsys.readouterr().out)
    (letters,) = [r for r in reports if r["nudge_type"] == "letters_to_cv"]
    assert (letters["slots"]["detected"], letters["slots"]["won"]) == (1, 0)
