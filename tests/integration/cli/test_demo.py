"""``demo`` fills an empty store with its sample, and refuses a store that already holds
events (it may be production) unless told ``--yes``."""

from __future__ import annotations

import json

import pytest

from src.entrypoints.cli.commands import main
from src.entrypoints.cli.demo import EVENTS_WRITTEN


def stored(capsys: pytest.CaptureFixture[str]) -> int:
    capsys.readouterr()
    assert main(["status"]) == 0
    status = json.loads(capsys.readouterr().out)
    return sum(value for key, value in status.items() if key != "oldest_pending_age_seconds")


def test_demo_refuses_a_store_holding_events_unless_told_yes(
    store_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", store_url)
    assert main(["migrate"]) == 0
    assert main(["demo"]) == 0
    assert stored(capsys) == EVENTS_WRITTEN == 51

    assert main(["demo"]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: the store at {store_url.split('://')[0]}")
    assert f"already holds {EVENTS_WRITTEN} events" in error
    assert "--yes" in error
    assert stored(capsys) == EVENTS_WRITTEN, "nothing written"

    assert main(["demo", "--yes"]) == 0
    assert stored(capsys) == 2 * EVENTS_WRITTEN


def test_demo_refuses_a_store_holding_a_single_event(
    store_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", store_url)
    assert main(["migrate"]) == 0
    assert main(["emit", "cv.uploaded", "--app", "phoenix-cv", "--user", "real-user"]) == 0
    assert main(["demo"]) == 2
    assert stored(capsys) == 1
