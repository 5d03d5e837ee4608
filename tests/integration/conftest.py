"""Port adapters under one contract: the fake, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from src.application.ports import EventInbox, ReadModelStore
from src.entrypoints.runtime import close_flywheel, open_flywheel
from tests.conftest import make_settings
from tests.fakes import FakeClock, FakeEventInbox, FakeReadModelStore

T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(
    params=[
        "fake",
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
    ]
)
def adapters(request: pytest.FixtureRequest) -> Iterator[tuple[EventInbox, ReadModelStore]]:
    if request.param == "fake":
        yield FakeEventInbox(FakeClock(T0)), FakeReadModelStore()
        return
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    container = open_flywheel(make_settings(url), migrate=True)
    try:
        yield container.inbox(), container.read_models()
    finally:
        close_flywheel(container)


@pytest.fixture
def inbox(adapters: tuple[EventInbox, ReadModelStore]) -> EventInbox:
    return adapters[0]


@pytest.fixture
def read_models(adapters: tuple[EventInbox, ReadModelStore]) -> ReadModelStore:
    return adapters[1]
