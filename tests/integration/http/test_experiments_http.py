"""Experiments through the HTTP API on each real store: exposure, attribution, results."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from src.entrypoints.http import create_app
from tests.conftest import make_settings
from tests.integration.http.test_http_api import AUTH, cv, letter, process, wait_open


@pytest.fixture
def client(store_url: str) -> Iterator[TestClient[Any]]:
    settings = make_settings(store_url, flywheel_api_token="test-token")
    close_flywheel(open_flywheel(settings, migrate=True))
    with TestClient(create_app(settings, run_worker=False)) as test_client:
        test_client.headers.update(AUTH)  # every endpoint but /health needs the token
        wait_open(test_client)
        yield test_client


def nudges_of(client: TestClient[Any], user: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/users/{user}/nudges", params={"app": "phoenix-letters"})
    assert response.status_code == 200
    found: list[dict[str, Any]] = response.json()
    return found


def show(client: TestClient[Any], nudge_id: str) -> None:
    assert client.post(f"/api/nudges/{nudge_id}/shown", headers=AUTH).status_code == 200


def experiment(client: TestClient[Any], nudge_type: str) -> dict[str, Any]:
    response = client.get("/api/experiments")
    assert response.status_code == 200
    found: dict[str, Any] = next(e for e in response.json() if e["nudge_type"] == nudge_type)
    return found


def test_sixty_users_forty_shown_thirty_acting_gives_twenty_conversions_ten_organic(
    client: TestClient[Any],
) -> None:
    users = [f"letters-only-{i:02d}" for i in range(60)]
    client.post("/api/events", json={"events": [letter(u) for u in users]}, headers=AUTH)
    process(client)

    served: dict[str, dict[str, Any]] = {}
    for user in users:
        (nudge,) = nudges_of(client, user)
        served[user] = nudge
    shown_users = random.Random(13).sample(users, 40)
    for user in shown_users:
        show(client, served[user]["nudge_id"])
    others = [u for u in users if u not in shown_users]
    acting = shown_users[:20] + others[:10]
    client.post("/api/events", json={"events": [cv(u) for u in acting]}, headers=AUTH)
    process(client)

    result = experiment(client, "letters_to_cv")
    by_variant = {v["variant"]: v for v in result["variants"]}
    assigned = Counter(n["variant"] for n in served.values())
    exposed = Counter(served[u]["variant"] for u in shown_users)
    converted = Counter(served[u]["variant"] for u in shown_users[:20])
    assert {name: v["assigned"] for name, v in by_variant.items()} == {
        name: assigned[name] for name in by_variant
    }
    assert {name: v["exposed"] for name, v in by_variant.items()} == {
        name: exposed[name] for name in by_variant
    }
    assert {name: v["converted"] for name, v in by_variant.items()} == {
        name: converted[name] for name in by_variant
    }
    assert sum(v["exposed"] for v in by_variant.values()) == 40
    assert sum(v["converted"] for v in by_variant.values()) == 20
    for user in users:  # every message served is its variant's
        assert served[user]["message"] == by_variant[served[user]["variant"]]["message"]
    nudges = client.get("/api/analytics/ecosystem").json()["nudges"]
    assert nudges["detected"] == 60
    assert nudges["shown"] == 40
    assert nudges["converted"] == 20
    assert nudges["organic"] >= 10

    # A second display of an exposed nudge is a display, not another exposure.
    show(client, served[shown_users[30]]["nudge_id"])
    show(client, served[shown_users[0]]["nudge_id"])  # after its conversion, too
    again = experiment(client, "letters_to_cv")
    assert [v["exposed"] for v in again["variants"]] == [v["exposed"] for v in result["variants"]]
    assert [v["converted"] for v in again["variants"]] == [
        v["converted"] for v in result["variants"]
    ]
    assert client.get("/api/analytics/ecosystem").json()["nudges"] == nudges

    # Everything processed again (a replay): the same variants, the same figures.
    requeued = client.post(
        "/api/events/force-reprocess", json={"since": "2000-01-01T00:00:00Z"}, headers=AUTH
    )
    assert requeued.json() == {"requeued": 90}
    process(client)
    assert experiment(client, "letters_to_cv") == again
    assert client.get("/api/analytics/ecosystem").json()["nudges"] == nudges


def test_the_results_carry_rates_intervals_and_the_chance_of_being_best(
    client: TestClient[Any],
) -> None:
    result = experiment(client, "cv_to_letters")
    assert result["mode"] == "ab"
    assert result["attribution_days"] == 7
    assert [v["variant"] for v in result["variants"]] == ["complete", "stand_out"]
    first, second = result["variants"]
    assert set(first) == {
        "variant",
        "message",
        "assigned",
        "exposed",
        "converted",
        "conversion_rate",
        "ci_low",
        "ci_high",
        "probability_best",
        "p_value",
    }
    assert first["message"] == "Complétez votre candidature avec une lettre Phoenix Letters !"
    assert (first["conversion_rate"], first["ci_low"], first["ci_high"]) == (None, 0.0, 1.0)
    assert first["p_value"] is None
    assert second["p_value"] is None
    assert first["probability_best"] + second["probability_best"] == pytest.approx(1.0, abs=1e-3)


def test_a_nudge_acted_on_after_the_window_is_organic(store_url: str) -> None:
    settings = make_settings(store_url, flywheel_api_token="test-token", nudge_attribution_days=1)
    close_flywheel(open_flywheel(settings, migrate=True))
    with TestClient(create_app(settings, run_worker=False)) as client:
        client.headers.update(AUTH)
        wait_open(client)
        client.post("/api/events", json=letter("late"))
        process(client)
        (nudge,) = nudges_of(client, "late")
        show(client, nudge["nudge_id"])
        # The CV comes with its own time: days after the display.
        shown_at = client.get("/api/users/late/journey").json()["events"][0]["timestamp"]
        later = (datetime.fromisoformat(shown_at) + timedelta(days=3)).isoformat()
        client.post("/api/events", json=cv("late", timestamp=later), headers=AUTH)
        process(client)
        nudges = client.get("/api/analytics/ecosystem").json()["nudges"]
        assert (nudges["shown"], nudges["converted"], nudges["organic"]) == (1, 0, 1)


def test_a_wrong_experiments_file_stops_the_command_line_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from src.entrypoints.cli.commands import main

    bad = tmp_path / "experiments.toml"
    bad.write_text(
        '[letters_to_cv]\nmode = "ab"\n\n[[letters_to_cv.variants]]\nid = "a"\n'
        'messages = { fr = "A" }\n\n[[letters_to_cv.variants]]\nid = "b"\n'
        'messages = { en = "B" }\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("NUDGE_EXPERIMENTS_FILE", str(bad))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'never.db'}")
    assert main(["status"]) == 2
    error = capsys.readouterr().err
    assert "line 10" in error
    assert "no French message" in error
    assert not (tmp_path / "never.db").exists()


def test_the_experiments_command_prints_a_table_and_json(
    store_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from src.entrypoints.cli.commands import main

    monkeypatch.setenv("DATABASE_URL", store_url)
    assert main(["migrate"]) == 0
    assert main(["emit", "letter.generated", "--app", "phoenix-letters", "--user", "u1"]) == 0
    assert main(["process"]) == 0
    capsys.readouterr()
    assert main(["experiments"]) == 0
    table = capsys.readouterr().out
    assert "letters_to_cv (ab, conversions within 7 days of exposure)" in table
    assert "P(best)" in table
    assert "Optimisez vos chances avec Phoenix CV !" in table
    assert main(["experiments", "--json"]) == 0
    reports = json.loads(capsys.readouterr().out)
    (letters,) = [r for r in reports if r["nudge_type"] == "letters_to_cv"]
    assert sum(v["assigned"] for v in letters["variants"]) == 1
    assert {"ci_low", "ci_high", "probability_best", "p_value"} <= set(letters["variants"][0])


def test_a_missing_experiments_file_stops_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from src.entrypoints.cli.commands import main

    monkeypatch.setenv("NUDGE_EXPERIMENTS_FILE", str(tmp_path / "nowhere.toml"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'never.db'}")
    assert main(["serve"]) == 2
    assert "NUDGE_EXPERIMENTS_FILE" in capsys.readouterr().err
    assert not (tmp_path / "never.db").exists()
