"""``UserErasure`` on fakes: validation, the wait for a batch in hand, and the cache."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from src.application.erasure import UserErasure
from src.application.errors import RequestInvalidError, UserBusyError
from src.application.journeys import JourneyApplication
from src.application.ports.inbox import BatchOutcome
from src.domain.apps import default_catalogue
from tests.fake_erasure import FORGETTABLE, FakeUserEraser
from tests.fakes import FakeClock, FakeEventInbox, FakeReadModelStore, fake_journeys


@pytest.fixture
def parts() -> tuple[FakeClock, FakeEventInbox, JourneyApplication, FakeUserEraser]:
    clock = FakeClock()
    inbox = FakeEventInbox(clock)
    read_models = FakeReadModelStore()
    journeys = fake_journeys(
        default_catalogue(), env=FORGETTABLE, inbox=inbox, read_models=read_models
    )
    return clock, inbox, journeys, FakeUserEraser(inbox, read_models, journeys)


@pytest.mark.parametrize("user_id", ["", "   "])
def test_a_blank_user_id_is_refused(parts: tuple[object, ...], user_id: str) -> None:
    clock, _inbox, journeys, eraser = parts
    erasure = UserErasure(eraser, journeys, clock)  # type: ignore[arg-type]
    with pytest.raises(RequestInvalidError) as refused:
        erasure.forget(user_id)
    assert refused.value.field == "user_id"


def test_waits_for_the_batch_in_hand_then_forgets(
    parts: tuple[FakeClock, FakeEventInbox, JourneyApplication, FakeUserEraser],
) -> None:
    clock, inbox, journeys, eraser = parts
    inbox.insert_raw(event_type="cv.uploaded", app_source="phoenix-cv", user_id="alice")
    (claimed,) = inbox.claim(10, clock.now(), clock.now() + timedelta(minutes=5))
    with pytest.raises(UserBusyError):
        UserErasure(eraser, journeys, clock, busy_wait_seconds=0).forget("alice")

    def worker_finishes() -> None:
        inbox.complete(BatchOutcome([claimed.id], [], [], clock.now()))

    timer = threading.Timer(0.2, worker_finishes)
    timer.start()
    try:
        report = UserErasure(eraser, journeys, clock, busy_wait_seconds=30).forget("alice")
    finally:
        timer.join()
    assert report.events == 1
    assert inbox.rows == {}
