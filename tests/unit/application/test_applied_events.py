"""A source event counts once in its user's journey: the application skips the events the
store says are applied, and a save of an event some other save applied first fails and
is folded again (the store's contract is held by tests/integration/store/test_applied_events.py)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta

from src.application.journeys import FoldResult, SourceEvent
from src.application.ports.journeys import AppliedEvent
from src.domain.apps import default_catalogue
from tests.fakes import FakeAppliedEvents, fake_journeys

AT = datetime(2026, 3, 1, tzinfo=UTC)


def cv(n: int, user: str = "u1") -> SourceEvent:
    return SourceEvent(n, f"hash-{n}", "cv.uploaded", "phoenix-cv", user, AT + timedelta(n))


def test_a_batch_folded_again_counts_nothing_twice() -> None:
    journeys = fake_journeys(default_catalogue())
    assert journeys.fold([cv(1), cv(2)]).recorded == 2
    assert journeys.fold([cv(2), cv(1), cv(3)]) == FoldResult(1, 2, 0)
    journey = journeys.get_journey("u1")
    assert journey is not None
    assert journey.activity_by_type == {"cv.uploaded": 3}


def test_twins_in_one_batch_count_once() -> None:
    journeys = fake_journeys(default_catalogue())
    assert journeys.fold([cv(1), cv(1)]) == FoldResult(1, 1, 1)


def test_the_same_hash_of_two_users_counts_for_each() -> None:
    journeys = fake_journeys(default_catalogue())
    assert journeys.fold([cv(1, "u1"), cv(1, "u2")]).recorded == 2


class BehindOnce(FakeAppliedEvents):
    """Answers the first question as the store stood before another worker's save."""

    def __init__(self) -> None:
        super().__init__()
        self.answers = 0

    def already_applied(self, events: Collection[AppliedEvent]) -> set[AppliedEvent]:
        self.answers += 1
        return set() if self.answers == 1 else super().already_applied(events)


def test_a_save_of_an_event_applied_meanwhile_fails_and_the_refold_skips_it() -> None:
    applied = BehindOnce()
    journeys = fake_journeys(default_catalogue(), applied_events=applied)
    # Another worker applied event 1 (its journey is elsewhere: only the pair is shared).
    applied.add([AppliedEvent("u1", "hash-1")])
    assert journeys.fold([cv(1), cv(2)]) == FoldResult(1, 1, 1)
    assert applied.answers == 2  # the first save failed, the second fold asked again
    journey = journeys.get_journey("u1")
    assert journey is not None
    assert journey.activity_by_type == {"cv.uploaded": 1}
    assert applied.pairs == {AppliedEvent("u1", "hash-1"), AppliedEvent("u1", "hash-2")}
