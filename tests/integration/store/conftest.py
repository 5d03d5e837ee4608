"""Port adapters under one contract: the fake, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from src.adapters.sql.tables import nudges_sent
from src.application.ports.inbox import EventInbox
from src.application.ports.read_models import ReadModelStore
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from tests.conftest import make_settings
from tests.fakes import FakeClock, FakeEventInbox, FakeReadModelStore

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


Show = Callable[[str, datetime], None]
"""Records a display of a nudge (in Phoenix Letters) at a given moment, as a client would."""


@pytest.fixture(
    params=[
        "fake",
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
    ]
)
def adapters(request: pytest.FixtureRequest) -> Iterator[tuple[EventInbox, ReadModelStore, Show]]:
    if request.param == "fake":
        store = FakeReadModelStore()
        yield (
            FakeEventInbox(FakeClock(T0)),
            store,
            lambda nudge_id, at: store.shown.append((nudge_id, "phoenix-letters", at)),
        )
        return
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    container = open_flywheel(make_settings(url), migrate=True)

    def show(nudge_id: str, at: datetime) -> None:
        with container.engine().begin() as connection:
            connection.execute(
                nudges_sent.insert().values(
                    nudge_id=nudge_id, user_id="someone", app="phoenix-letters", shown_at=at
                )
            )

    try:
        yield container.inbox(), container.read_models(), show
    finally:
        close_flywheel(container)


@pytest.fixture
def inbox(adapters: tuple[EventInbox, ReadModelStore, Show]) -> EventInbox:
    return adapters[0]


@pytest.fixture
def read_models(adapters: tuple[EventInbox, ReadModelStore, Show]) -> ReadModelStore:
    return adapters[1]


@pytest.fixture
def show(adapters: tuple[EventInbox, ReadModelStore, Show]) -> Show:
    return adapters[2]
