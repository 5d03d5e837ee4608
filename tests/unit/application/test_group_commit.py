"""Group commit: concurrent requests share a transaction, each still told its own fate."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, datetime

from src.application.errors import RequestInvalidError, StoreUnavailableError
from src.application.group_commit import GroupCommit
from src.application.ports.inbox import AppendResult
from src.domain.apps import default_catalogue
from src.domain.events import NewEvent, new_event
from tests.fakes import FakeClock, FakeEventInbox

CATALOGUE = default_catalogue()
REFUSED_KEY = "refused-by-the-store"


def event(key: str) -> NewEvent:
    return new_event(
        CATALOGUE,
        event_type="letter.generated",
        app_source="phoenix-letters",
        user_id="u1",
        payload={"company": "Airbus"},
        idempotency_key=key,
    )


class RecordingStore:
    """A fake inbox whose first transaction is slow, so that requests pile up behind it."""

    def __init__(self) -> None:
        self.inbox = FakeEventInbox(FakeClock(datetime(2026, 1, 1, tzinfo=UTC)))
        self.transactions: list[int] = []
        self.first_started = threading.Event()
        self.release_first = threading.Event()
        self.down = False

    def append_groups(self, groups: Sequence[Sequence[NewEvent]]) -> list[AppendResult]:
        if not self.transactions:
            self.first_started.set()
            self.release_first.wait(5)
        self.transactions.append(len(groups))
        if self.down:
            raise StoreUnavailableError("the store is down")
        if any(e.idempotency_key == REFUSED_KEY for group in groups for e in group):
            raise RequestInvalidError("events", "the store refused them")
        return self.inbox.append_groups(groups)


async def requests_behind_a_slow_first(
    store: RecordingStore, bodies: list[list[NewEvent]]
) -> list[AppendResult | BaseException]:
    commit = GroupCommit(store.append_groups)
    first = asyncio.ensure_future(commit.append(bodies[0]))
    await asyncio.to_thread(store.first_started.wait, 5)
    rest = [asyncio.ensure_future(commit.append(body)) for body in bodies[1:]]
    await asyncio.sleep(0)
    store.release_first.set()
    return list(await asyncio.gather(first, *rest, return_exceptions=True))


def test_requests_arriving_during_a_commit_share_the_next_one() -> None:
    store = RecordingStore()
    bodies = [[event("a")], [event("b")], [event("c"), event("d")], [event("e")]]
    results = asyncio.run(requests_behind_a_slow_first(store, bodies))
    assert store.transactions == [1, 3]
    assert results == [
        AppendResult(1, 0),
        AppendResult(1, 0),
        AppendResult(2, 0),
        AppendResult(1, 0),
    ]
    assert len(store.inbox.rows) == 5


def test_a_hash_shared_by_two_requests_of_one_commit_is_the_first_ones() -> None:
    store = RecordingStore()
    bodies = [[event("a")], [event("b")], [event("b"), event("c")], [event("a")]]
    results = asyncio.run(requests_behind_a_slow_first(store, bodies))
    assert results == [
        AppendResult(1, 0),
        AppendResult(1, 0),
        AppendResult(1, 1),
        AppendResult(0, 1),
    ]


def test_a_request_the_store_refuses_fails_alone() -> None:
    store = RecordingStore()
    bodies = [[event("a")], [event("b")], [event(REFUSED_KEY)], [event("c")]]
    results = asyncio.run(requests_behind_a_slow_first(store, bodies))
    assert results[:2] == [AppendResult(1, 0), AppendResult(1, 0)]
    assert isinstance(results[2], RequestInvalidError)
    assert results[3] == AppendResult(1, 0)
    # the shared commit failed, then each of its requests was written alone
    assert store.transactions == [1, 3, 1, 1, 1]
    assert len(store.inbox.rows) == 3


def test_a_store_that_is_down_fails_every_request_of_the_commit() -> None:
    store = RecordingStore()
    store.down = True
    bodies = [[event("a")], [event("b")], [event("c")]]
    results = asyncio.run(requests_behind_a_slow_first(store, bodies))
    assert all(isinstance(result, StoreUnavailableError) for result in results)
    assert store.transactions == [1, 2]
    assert not store.inbox.rows


def test_a_request_alone_is_written_at_once() -> None:
    store = RecordingStore()
    store.release_first.set()
    commit = GroupCommit(store.append_groups)

    async def one_after_another() -> list[AppendResult]:
        return [await commit.append([event(key)]) for key in ("a", "b", "a")]

    assert asyncio.run(one_after_another()) == [
        AppendResult(1, 0),
        AppendResult(1, 0),
        AppendResult(0, 1),
    ]
    assert store.transactions == [1, 1, 1]


def test_one_commit_holds_at_most_5000_events_and_never_splits_a_request() -> None:
    store = RecordingStore()
    bodies = [[event("first")]] + [[event(f"{n}-{i}") for i in range(1000)] for n in range(7)]
    results = asyncio.run(requests_behind_a_slow_first(store, bodies))
    assert store.transactions == [1, 5, 2]
    assert results[1:] == [AppendResult(1000, 0)] * 7
