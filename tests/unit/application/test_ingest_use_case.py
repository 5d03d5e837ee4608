"""Ingest as one call: every event checked before any is written, the events written by
the group commit, and the worker woken only when one of them is new."""

from __future__ import annotations

import asyncio

import pytest

from src.application.group_commit import GroupCommit
from src.application.ingest import EventIngestion
from src.domain.apps import default_catalogue
from src.domain.errors import EventRejectedError
from tests.fakes import FakeClock, FakeEventInbox

CV = {"event_type": "cv.uploaded", "app_source": "phoenix-cv", "user_id": "u1"}


class Waker:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


def test_new_events_are_written_and_wake_the_worker_twins_do_not() -> None:
    inbox = FakeEventInbox(FakeClock())
    ingestion = EventIngestion(inbox, default_catalogue())
    waker = Waker()

    async def twice() -> list[tuple[int, int]]:
        commit = GroupCommit(inbox.append_groups)
        answers = []
        for body in ([CV, {**CV, "user_id": "u2"}], [CV]):
            result = await ingestion.ingest(
                body, batch=len(body) > 1, commit=commit.append, wake=waker
            )
            answers.append((result.accepted, result.duplicates))
        return answers

    assert asyncio.run(twice()) == [(2, 0), (0, 1)]
    assert waker.calls == 1
    assert len(inbox.rows) == 2


def test_a_bad_event_in_a_batch_is_refused_by_its_index_and_nothing_is_written() -> None:
    inbox = FakeEventInbox(FakeClock())
    ingestion = EventIngestion(inbox, default_catalogue())
    waker = Waker()
    commit = GroupCommit(inbox.append_groups)
    body = [CV, {**CV, "app_source": "phoenix-nowhere"}]

    with pytest.raises(EventRejectedError) as refused:
        asyncio.run(ingestion.ingest(body, batch=True, commit=commit.append, wake=waker))

    assert refused.value.field == "events.1.app_source"
    assert (len(inbox.rows), waker.calls) == (0, 0)
