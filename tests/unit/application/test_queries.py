import asyncio

import pytest

from src.application.errors import NudgeNotFoundError, RequestInvalidError, UserNotFoundError
from src.application.ports.inbox import RequeueSelection
from tests.unit.application.conftest import World


def drain(world: World) -> None:
    asyncio.run(world.processor().drain())


def test_active_nudges_carry_the_message_of_their_variant(world: World) -> None:
    world.emit("letter.generated", "phoenix-letters", "u1")
    drain(world)
    (nudge,) = world.queries.list_active_nudges("u1", "phoenix-letters")
    assert (nudge.nudge_type, nudge.target_app) == ("letters_to_cv", "phoenix-cv")
    messages = {
        "chances": (
            "Optimisez vos chances avec Phoenix CV !",
            "Boost your chances with Phoenix CV!",
        ),
        "difference": (
            "Un CV soigné fait la différence : créez le vôtre avec Phoenix CV !",
            "A polished CV makes the difference: build yours with Phoenix CV!",
        ),
    }
    assert nudge.message == messages[nudge.variant][0]
    assert (
        world.queries.list_active_nudges("u1", "phoenix-letters", "en")[0].message
        == (messages[nudge.variant][1])
    )
    assert world.queries.list_active_nudges("u1", "phoenix-cv") == []


def test_a_shown_nudge_is_hidden_for_the_cooldown(world: World) -> None:
    world.emit("letter.generated", "phoenix-letters", "u1")
    drain(world)
    (nudge,) = world.queries.list_active_nudges("u1", "phoenix-letters")
    world.queries.record_nudge_shown(nudge.nudge_id)
    world.clock.advance(hours=23)
    assert world.queries.list_active_nudges("u1", "phoenix-letters") == []
    world.clock.advance(hours=2)
    assert len(world.queries.list_active_nudges("u1", "phoenix-letters")) == 1


def test_a_shown_nudge_the_user_acts_on_is_no_longer_shown_and_counts_as_converted(
    world: World,
) -> None:
    world.emit("letter.generated", "phoenix-letters", "u1")
    drain(world)
    (nudge,) = world.queries.list_active_nudges("u1", "phoenix-letters")
    world.queries.record_nudge_shown(nudge.nudge_id)
    world.clock.advance(minutes=5)
    world.emit("cv.uploaded", "phoenix-cv", "u1", timestamp=world.clock.now().isoformat())
    drain(world)
    assert world.queries.list_active_nudges("u1", "phoenix-letters") == []
    figures = world.queries.get_ecosystem(30)
    assert (figures.nudges_detected, figures.nudges_shown) == (1, 1)
    assert (figures.nudges_converted, figures.nudges_organic) == (1, 0)
    assert figures.cross_app_users == 1


def test_acting_on_the_target_without_seeing_the_nudge_is_organic(world: World) -> None:
    world.emit("letter.generated", "phoenix-letters", "u1")
    drain(world)
    world.emit("cv.uploaded", "phoenix-cv", "u1")
    drain(world)
    assert world.queries.list_active_nudges("u1", "phoenix-letters") == []
    figures = world.queries.get_ecosystem(30)
    assert (figures.nudges_detected, figures.nudges_shown) == (1, 0)
    assert (figures.nudges_converted, figures.nudges_organic) == (0, 1)


def test_an_unknown_user_or_nudge_is_reported(world: World) -> None:
    with pytest.raises(UserNotFoundError):
        world.queries.get_journey("nobody")
    with pytest.raises(NudgeNotFoundError):
        world.queries.record_nudge_shown("no-such-nudge")


@pytest.mark.parametrize("days", [0, -1, 10_000])
def test_a_bad_period_is_refused(world: World, days: int) -> None:
    with pytest.raises(RequestInvalidError, match="days"):
        world.queries.get_ecosystem(days)


def test_ingest_refuses_a_batch_over_1000_and_writes_nothing_on_any_bad_event(
    world: World,
) -> None:
    good = {"event_type": "cv.uploaded", "app_source": "phoenix-cv", "user_id": "u1"}
    with pytest.raises(RequestInvalidError, match="at most 1000"):
        world.ingestion.publish([good] * 1001)
    with pytest.raises(Exception, match="user_id"):
        world.ingestion.publish([good, {**good, "user_id": ""}])
    assert world.inbox.rows == {}


def test_force_reprocess_needs_exactly_one_selector(world: World) -> None:
    with pytest.raises(RequestInvalidError, match="exactly one"):
        world.admin.force_reprocess(RequeueSelection())
    with pytest.raises(RequestInvalidError, match="'failed' or 'dead'"):
        world.admin.force_reprocess(RequeueSelection(status="processed"))


def test_every_combination_of_two_or_more_apps_counts_the_users_active_in_all_of_them() -> None:
    from src.application.ecosystem import app_combinations

    by_set = {
        frozenset({"a", "b"}): 2,
        frozenset({"a", "b", "c"}): 1,
        frozenset({"c"}): 4,
        frozenset({"b", "c"}): 3,
    }
    assert app_combinations(by_set) == {"a+b": 3, "a+c": 1, "b+c": 4, "a+b+c": 1}
    assert app_combinations({frozenset({"a"}): 5}) == {}
