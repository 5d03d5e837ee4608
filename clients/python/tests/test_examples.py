"""The example Streamlit pages, run as the two pages of one multipage app.

Streamlit is not a dependency (it is heavy), so a stand-in module plays its part. Its
``cache_resource`` keys a function as Streamlit does, by module, qualified name and
source code, and the pages run as ``__main__`` as Streamlit runs them: two pages with
the same factory code share one cache entry, which is how the CV page once got the
Letters bridge. Both pages now take their bridge from one helper (``phoenix_page``),
keyed by the app.
"""

from __future__ import annotations

import asyncio
import inspect
import runpy
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from bridge_support import closed_port

from src.adapters.toml_experiments import load_experiments
from src.domain.apps import default_catalogue
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from tests.conftest import make_settings

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


class FakeStreamlit(types.ModuleType):
    def __init__(self) -> None:
        super().__init__("streamlit")
        self.cache: dict[tuple[Any, ...], Any] = {}
        self.session_state: dict[str, Any] = {}
        self.pressed: set[str] = set()
        self.shown: list[tuple[str, str]] = []

    def cache_resource(self, func: Callable[..., Any]) -> Callable[..., Any]:
        code = (func.__module__, func.__qualname__, inspect.getsource(func))

        def cached(*args: Any) -> Any:
            if (code, args) not in self.cache:
                self.cache[(code, args)] = func(*args)
            return self.cache[(code, args)]

        return cached

    def button(self, label: str) -> bool:
        return label in self.pressed

    def text_input(self, label: str, value: str = "") -> str:
        return value

    def text_area(self, label: str) -> str:
        return "A job offer"

    def file_uploader(self, label: str, type: list[str]) -> None:
        return None

    def __getattr__(self, name: str) -> Callable[[str], None]:
        if name in ("title", "info", "success", "warning"):
            return lambda text: self.shown.append((name, text))
        raise AttributeError(name)


@pytest.fixture
def streamlit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeStreamlit]:
    fake = FakeStreamlit()
    monkeypatch.setitem(sys.modules, "streamlit", fake)
    # As `streamlit run` does: the page's folder on the path, for the helper the pages
    # share; imported afresh in each test, so it caches in this test's stand-in.
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.delitem(sys.modules, "phoenix_page", raising=False)
    # A store nobody answers: every event is kept in the outbox, where it can be read.
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{closed_port()}/x")
    monkeypatch.setenv("PHOENIX_BRIDGE_TRANSPORT", "sql")
    monkeypatch.setenv("PHOENIX_OUTBOX_PATH", str(tmp_path / "outbox.db"))
    yield fake
    for bridge in fake.cache.values():
        bridge.close()


def run_page(streamlit: FakeStreamlit, page: str, *pressed: str) -> None:
    streamlit.pressed = set(pressed)
    runpy.run_path(str(EXAMPLES / page), run_name="__main__")


def test_each_page_of_one_multipage_app_publishes_as_its_own_app(
    streamlit: FakeStreamlit,
) -> None:
    run_page(streamlit, "phoenix_letters_app.py", "Generate the letter")
    run_page(streamlit, "phoenix_cv_app.py", "Generate a new CV")
    bridges = list(streamlit.cache.values())
    assert sorted(bridge.app_source for bridge in bridges) == ["phoenix-cv", "phoenix-letters"]
    [letters] = [b for b in bridges if b.app_source == "phoenix-letters"]
    events = {(row["event_type"], row["app_source"]) for _, row in letters.outbox.pending(10)}
    assert events == {("letter.generated", "phoenix-letters"), ("cv.generated", "phoenix-cv")}
    assert ("title", "Phoenix CV") in streamlit.shown


def test_a_second_generate_is_a_second_event_not_a_duplicate(streamlit: FakeStreamlit) -> None:
    for _ in range(2):
        run_page(streamlit, "phoenix_cv_app.py", "Generate a new CV")
        run_page(streamlit, "phoenix_letters_app.py", "Analyse the offer (Mirror Match)")
    [bridge, *_] = streamlit.cache.values()
    kinds = [row["event_type"] for _, row in bridge.outbox.pending(10)]
    assert sorted(kinds) == ["cv.generated"] * 2 + ["job_offer.analyzed"] * 2
    assert [kind for kind, _ in streamlit.shown].count("success") == 4


@pytest.mark.postgres
def test_a_nudge_names_the_target_app_by_its_title(
    streamlit: FakeStreamlit, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    close_flywheel(open_flywheel(make_settings(postgres_url), migrate=True))
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    run_page(streamlit, "phoenix_letters_app.py", "Generate the letter")
    container = open_flywheel(make_settings(postgres_url))
    try:
        asyncio.run(container.processor().drain())
    finally:
        close_flywheel(container)
    run_page(streamlit, "phoenix_letters_app.py")
    infos = [text for kind, text in streamlit.shown if kind == "info"]
    # The wording is the user's variant of the shipped experiment; the app's title follows.
    experiment = load_experiments(None, default_catalogue()).get("letters_to_cv")
    assert experiment is not None
    wordings = {f"{variant.message('fr')} (Phoenix CV)" for variant in experiment.variants}
    assert len(infos) == 1
    assert infos[0] in wordings


@pytest.mark.postgres
def test_a_nudge_shown_is_not_shown_again_on_a_rerun_or_a_reload(
    streamlit: FakeStreamlit, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No worker has run: the store offers the nudge from the events; once the page has
    shown it, the reruns (any click) and a reload (a new session) no longer do."""
    close_flywheel(open_flywheel(make_settings(postgres_url), migrate=True))
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    run_page(streamlit, "phoenix_cv_app.py", "Generate a new CV")
    for _ in range(3):
        run_page(streamlit, "phoenix_cv_app.py")
    streamlit.session_state.clear()
    run_page(streamlit, "phoenix_cv_app.py")
    infos = [text for kind, text in streamlit.shown if kind == "info"]
    assert infos == [
        "Complétez votre candidature avec une lettre Phoenix Letters ! (Phoenix Letters)"
    ]
