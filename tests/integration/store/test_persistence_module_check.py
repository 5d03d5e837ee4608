"""A store whose recorder would drop a batch's unit of work is refused at start.

eventsourcing lets the process environment choose the journeys' persistence
(``PHOENIXJOURNEYS_PERSISTENCE_MODULE`` outranks the one the flywheel sets); its stock
recorders accept ``save(..., batch=...)`` and ignore it, so batches would be saved
without their outcome or their applied events.
"""

from __future__ import annotations

import pytest

from src.adapters.sql.eventsourcing_env import eventsourcing_env, require_batch_recorder
from src.application.errors import PersistenceModuleInvalidError, StoreUnavailableError
from src.application.journeys import JourneyApplication
from src.domain.apps import default_catalogue
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from src.entrypoints.cli.commands import main
from src.entrypoints.http.server_runtime import ServerRuntime
from tests.conftest import make_settings
from tests.fakes import FakeAppliedEvents

STOCK_SQLITE = "eventsourcing.sqlite"


def test_the_flywheels_own_recorders_pass(store_url: str) -> None:
    container = open_flywheel(make_settings(store_url), migrate=True)
    try:
        require_batch_recorder(container.journeys())  # raises nothing
    finally:
        close_flywheel(container)


def test_a_stock_recorder_is_refused_naming_the_setting(sqlite_url: str) -> None:
    env = {**eventsourcing_env(sqlite_url), "PERSISTENCE_MODULE": STOCK_SQLITE}
    journeys = JourneyApplication(default_catalogue(), env=env, applied_events=FakeAppliedEvents())
    try:
        with pytest.raises(PersistenceModuleInvalidError, match="PERSISTENCE_MODULE") as refused:
            require_batch_recorder(journeys)
    finally:
        journeys.close()
    assert STOCK_SQLITE in str(refused.value)
    assert "SQLiteApplicationRecorder" in str(refused.value)


@pytest.mark.parametrize("command", [["migrate"], ["status"], ["worker"]])
def test_the_command_line_stops_with_exit_2_and_one_line(
    sqlite_url: str,
    command: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("PHOENIXJOURNEYS_PERSISTENCE_MODULE", STOCK_SQLITE)
    assert main(command) == 2  # the worker too: no retry makes a setting right
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: PERSISTENCE_MODULE 'eventsourcing.sqlite'")


def test_without_the_setting_the_same_store_opens(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    assert main(["migrate"]) == 0


def test_the_server_does_not_open_the_store_and_says_why(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHOENIXJOURNEYS_PERSISTENCE_MODULE", STOCK_SQLITE)
    runtime = ServerRuntime(make_settings(sqlite_url))
    runtime.start()
    try:
        assert not runtime.wait_open(5)
        with pytest.raises(StoreUnavailableError, match="PERSISTENCE_MODULE"):
            runtime.require_open()
    finally:
        runtime.stop()
