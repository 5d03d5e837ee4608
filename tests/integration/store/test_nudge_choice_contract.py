"""The choice among nudges competing for a user's slot, on each store's home for the
rules (``phoenix_active_nudges`` on PostgreSQL, ``nudge_policy`` on SQLite): the same
scenarios, the same answers.

The rank is drawn by the worker at detection from each type's conversions so far, and
recorded with the nudge; both homes show the highest ranks first under the daily cap.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from src.adapters.sql.tables import nudges
from src.domain.nudge_choice import TypeFigures, choice_seed, nudge_rank
from src.domain.user_journey import nudge_id
from tests.integration.nudge_store import CV, NudgeStore

# Each new user's letters at fixed moments: their ranks are then fixed by the figures.
MOMENT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
HISTORY = 12
NEWCOMERS = 20


@pytest.fixture
def store(store_url: str) -> Iterator[NudgeStore]:
    """A store whose worker reads the figures afresh for every batch, with a cap of one."""
    opened = NudgeStore.open(
        store_url,
        nudge_cooldown_hours=1,
        nudge_max_per_day=1,
        nudge_choice_refresh_seconds=0,
    )
    yield opened
    opened.close()


def ranks(store: NudgeStore, user: str) -> dict[str, float]:
    with store.container.engine().connect() as connection:
        rows = connection.execute(
            select(nudges.c.nudge_type, nudges.c.rank).where(nudges.c.user_id == user)
        ).all()
    return {str(t): float(r) for t, r in rows}


def set_rank(store: NudgeStore, user: str, nudge_type: str, rank: float) -> None:
    store.execute(
        update(nudges).where(nudges.c.nudge_id == nudge_id(user, nudge_type)).values(rank=rank)
    )


def letters(store: NudgeStore, user: str, n: int, **fields: Any) -> None:
    for i in range(n):
        store.emit(user, "letter.generated", idempotency_key=f"{user}-letter-{i}", **fields)


def test_the_higher_rank_wins_the_slot_whatever_was_detected_first(store: NudgeStore) -> None:
    letters(store, "u1", 5)
    store.process()
    set_rank(store, "u1", "letters_to_cv", 0.2)
    set_rank(store, "u1", "letters_to_rise", 0.9)
    assert [t for t, _ in store.shown("u1")] == ["letters_to_rise"]
    set_rank(store, "u1", "letters_to_rise", 0.1)
    assert [t for t, _ in store.shown("u1")] == ["letters_to_cv"]


def test_a_nudge_ranked_before_ranks_existed_comes_after_the_ranked_ones(
    store: NudgeStore,
) -> None:
    letters(store, "u1", 5)
    store.process()
    set_rank(store, "u1", "letters_to_cv", 0.0)
    set_rank(store, "u1", "letters_to_rise", 0.01)
    assert [t for t, _ in store.shown("u1")] == ["letters_to_rise"]
    # Both unranked: the order of detection, as before ranks existed.
    set_rank(store, "u1", "letters_to_rise", 0.0)
    assert [t for t, _ in store.shown("u1")] == ["letters_to_cv"]


def test_a_nudge_already_shown_today_keeps_its_slot_against_a_higher_rank(
    store: NudgeStore,
) -> None:
    letters(store, "u1", 5)
    store.process()
    set_rank(store, "u1", "letters_to_cv", 0.9)
    set_rank(store, "u1", "letters_to_rise", 0.1)
    [shown] = store.nudges("u1")
    store.show(shown.nudge_id)
    set_rank(store, "u1", "letters_to_rise", 1.5)
    store.time_passes(hours=2)  # past the cooldown, within the day
    assert [t for t, _ in store.shown("u1")] == ["letters_to_cv"]


def test_the_type_that_converts_wins_the_slots_of_newcomers(store: NudgeStore) -> None:
    """Twelve users shown letters_to_cv went on to Phoenix CV; twelve shown letters_to_rise
    never went to Phoenix Rise. Newcomers due both nudges are then shown letters_to_cv,
    but for the exploration floor's few; every nudge's rank is the sampler's draw on the
    figures the store held."""
    for n in range(HISTORY):
        letters(store, f"cv-{n}", 1)
        letters(store, f"rise-{n}", 5)
    store.process()
    for n in range(HISTORY):
        assert store.show(nudge_id(f"cv-{n}", "letters_to_cv")) is not None
        assert store.show(nudge_id(f"rise-{n}", "letters_to_rise")) is not None
        store.emit(f"cv-{n}", "cv.uploaded")
    store.process()
    slots = {s.nudge_type: s for s in store.container.queries().list_nudge_choice()}
    assert (slots["letters_to_cv"].won, slots["letters_to_cv"].converted) == (HISTORY, HISTORY)
    assert (slots["letters_to_rise"].won, slots["letters_to_rise"].converted) == (HISTORY, 0)

    for n in range(NEWCOMERS):
        letters(store, f"new-{n}", 5, timestamp=(MOMENT + timedelta(minutes=n)).isoformat())
    store.process()
    won: list[str] = []
    for n in range(NEWCOMERS):
        user, at = f"new-{n}", MOMENT + timedelta(minutes=n)
        recorded = ranks(store, user)
        for nudge_type, figures in (
            ("letters_to_cv", TypeFigures(HISTORY, HISTORY)),
            ("letters_to_rise", TypeFigures(HISTORY, 0)),
        ):
            # Due at the first letter and at the fifth: all five at the same moment.
            expected = nudge_rank(figures, choice_seed(user, nudge_type, at), 0.1)
            assert recorded[nudge_type] == pytest.approx(expected, abs=1e-12)
        [(shown, _)] = store.shown(user)
        assert shown == max(recorded, key=lambda t: recorded[t])
        won.append(shown)
    assert won.count("letters_to_cv") >= NEWCOMERS * 3 // 4


def test_reprocessing_keeps_every_rank(store: NudgeStore) -> None:
    letters(store, "u1", 5)
    store.emit("u2", "cv.uploaded")
    store.process()
    before = {user: ranks(store, user) for user in ("u1", "u2")}
    assert set(before["u1"]) == {"letters_to_cv", "letters_to_rise"}
    assert store.reprocess_everything() > 0
    assert {user: ranks(store, user) for user in ("u1", "u2")} == before
    assert [t for t, _ in store.shown("u2", CV)] == ["cv_to_letters"]
