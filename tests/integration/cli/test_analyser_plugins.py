"""Analysers plugged in without editing the core: by ``EVENT_ANALYSERS``, or installed as
an entry point of the group ``phoenix_flywheel.analysers``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from src.application.ports.inbox import StoredEvent
from src.entrypoints.analysers import ENTRY_POINT_GROUP, load_analysers
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from src.entrypoints.cli.commands import main
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[3]
PLUGIN = """
from src.application.ports.inbox import StoredEvent

SEEN: list[int] = []


class Recorder:
    async def analyse(self, event: StoredEvent) -> None:
        SEEN.append(event.id)


def refusing_analyser() -> object:
    class Refusing:
        async def analyse(self, event: StoredEvent) -> None:
            raise RuntimeError("refused by the plug-in")

    return Refusing()


not_an_analyser = 42
"""


@pytest.fixture
def plugin_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A module ``pf_plugin`` on the path, and a distribution declaring it as an entry point."""
    (tmp_path / "pf_plugin.py").write_text(PLUGIN)
    info = tmp_path / "pf_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pf-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nrecorder = pf_plugin:Recorder\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_an_installed_entry_point_is_loaded_and_run_on_every_event(
    plugin_path: Path, sqlite_url: str
) -> None:
    import pf_plugin  # type: ignore[import-not-found]  # written by the fixture

    pf_plugin.SEEN.clear()
    container = open_flywheel(make_settings(sqlite_url))
    try:
        # The built-in skills gap first, then the plug-ins.
        names = [type(a).__name__ for a in container.analysers()]
        assert names == ["SkillsGapAnalyser", "Recorder"]
        container.ingestion().publish(
            [{"event_type": "cv.uploaded", "app_source": "phoenix-cv", "user_id": "u1"}]
        )
        summary = asyncio.run(container.processor().drain())
    finally:
        close_flywheel(container)
    assert summary.processed == 1
    assert pf_plugin.SEEN == [1]


def test_event_analysers_names_them_in_order_after_the_installed_ones(plugin_path: Path) -> None:
    analysers = load_analysers(("pf_plugin:refusing_analyser", "pf_plugin:Recorder"))
    assert [type(a).__name__ for a in analysers] == ["Recorder", "Refusing", "Recorder"]


def test_a_failing_plugged_in_analyser_fails_its_event_with_its_error(
    plugin_path: Path, sqlite_url: str
) -> None:
    settings = make_settings(
        sqlite_url, event_analysers="pf_plugin:refusing_analyser", event_max_attempts=1
    )
    container = open_flywheel(settings)
    try:
        container.ingestion().publish(
            [{"event_type": "cv.uploaded", "app_source": "phoenix-cv", "user_id": "u1"}]
        )
        summary = asyncio.run(container.processor().drain())
    finally:
        close_flywheel(container)
    assert summary.dead == 1
    assert summary.errors == ["RuntimeError: refused by the plug-in"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("pf_plugin", "setting EVENT_ANALYSERS: Value error, 'pf_plugin' is not module:attribute"),
        ("no_such_module:X", "EVENT_ANALYSERS 'no_such_module:X': cannot import no_such_module"),
        ("pf_plugin:Missing", "EVENT_ANALYSERS 'pf_plugin:Missing': pf_plugin has no attribute"),
    ],
)
def test_an_analyser_that_cannot_be_loaded_stops_the_start_naming_it(
    plugin_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sqlite_url: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("EVENT_ANALYSERS", value)
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert message.removeprefix("setting EVENT_ANALYSERS: Value error, ") in err
    assert "Traceback" not in err


def test_the_example_analyser_refuses_a_bad_word_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "examples" / "analysers"))
    (analyser,) = load_analysers(("letter_length:LetterLengthAnalyser",), installed=False)
    event = StoredEvent(
        id=1,
        event_type="letter.generated",
        app_source="phoenix-letters",
        user_id="u1",
        payload={"word_count": "many"},
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        idempotency_key=None,
        event_hash=None,
        attempts=1,
    )
    with pytest.raises(ValueError, match="word_count must be a whole number"):
        asyncio.run(analyser.analyse(event))
