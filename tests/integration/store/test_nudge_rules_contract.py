"""One contract for the nudges' rules, run against each store's home for them: the SQL
functions and view of PostgreSQL, the Python module (``nudge_policy``) of SQLite.

The same scenarios, the same expected answers: cooldown, daily cap, language, variants
(recorded, removed, none), the degraded mode before the worker runs, displays made then
(the worker keeping the wording seen, the display counting as the exposure), attribution
in and out of the window, organic use, a second display, a re-processing. Time passes by
back-dating the stored rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from src.adapters.sql.tables import events, nudges
from src.domain.apps import default_catalogue
from src.domain.user_journey import nudge_id
from tests.integration.nudge_store import CV, RISE, NudgeStore

BOOK = default_catalogue().experiments
CHANCES_EN = "Boost your chances with Phoenix CV!"
WORDING = {v.variant: v.messages for v in BOOK.experiments["letters_to_cv"].variants}

Opener = Callable[..., NudgeStore]


@pytest.fixture
def open_store(store_url: str) -> Iterator[Opener]:
    """Opens the store (each test's own) with the settings given; closed at the end."""
    opened: list[NudgeStore] = []

    def opener(**settings: Any) -> NudgeStore:
        store = NudgeStore.open(store_url, **settings)
        opened.append(store)
        return store

    yield opener
    for store in opened:
        store.close()


def user_whose_variant_is_not_the_first(prefix: str) -> str:
    experiment = BOOK.experiments["letters_to_cv"]
    return next(
        user
        for user in (f"{prefix}-{i}" for i in count())
        if experiment.sticky(user) != experiment.variants[0].variant
    )


# --- Cooldown and daily cap ------------------------------------------------------------


def test_a_nudge_shown_is_hidden_for_the_cooldown(open_store: Opener) -> None:
    store = open_store()
    store.emit("u1", "letter.generated")
    store.process()
    [nudge] = store.nudges("u1")
    assert nudge.nudge_id == nudge_id("u1", "letters_to_cv")
    assert store.show(nudge.nudge_id) is not None
    assert store.nudges("u1") == []
    store.time_passes(hours=23)
    assert store.nudges("u1") == []
    store.time_passes(hours=2)
    assert [n.nudge_id for n in store.nudges("u1")] == [nudge.nudge_id]


def test_the_daily_cap_counts_distinct_nudges_per_user_and_app(open_store: Opener) -> None:
    store = open_store(nudge_cooldown_hours=1, nudge_max_per_day=1)
    for n in range(5):
        store.emit("u1", "letter.generated", idempotency_key=f"letter-{n}")
    store.process()
    # Two nudges shown in Letters; the cap lets the one ranked higher at detection through.
    winner, _ = store.by_rank("u1")
    assert [t for t, _ in store.shown("u1")] == [winner]
    [first] = store.nudges("u1")
    store.show(first.nudge_id)
    assert store.nudges("u1") == []  # the cooldown hides it, the cap the other
    store.time_passes(hours=2)
    # Past the cooldown the nudge already shown today may come back; the other may not.
    assert [t for t, _ in store.shown("u1")] == [winner]
    assert store.shown("u1", CV) == []  # another app: no nudge there for this user
    store.time_passes(hours=23)
    assert [t for t, _ in store.shown("u1")] == [winner]


def test_a_cap_of_two_shows_both_and_hides_both_once_shown(open_store: Opener) -> None:
    store = open_store(nudge_cooldown_hours=1, nudge_max_per_day=2)
    for n in range(5):
        store.emit("u1", "letter.generated", idempotency_key=f"letter-{n}")
    store.process()
    found = store.nudges("u1")
    ranked = store.by_rank("u1")
    assert sorted(ranked) == ["letters_to_cv", "letters_to_rise"]
    assert [n.nudge_type for n in found] == ranked
    for nudge in found:
        store.show(nudge.nudge_id)
    assert store.nudges("u1") == []
    store.time_passes(hours=2)
    assert [n.nudge_type for n in store.nudges("u1")] == ranked


# --- Language and variants ---------------------------------------------------------------


def test_the_wording_is_the_variants_in_the_language_asked_else_french(
    open_store: Opener,
) -> None:
    store = open_store()
    store.emit("u1", "letter.generated")
    store.process()
    [nudge] = store.nudges("u1")
    variant = BOOK.experiments["letters_to_cv"].sticky("u1")
    assert (nudge.variant, nudge.message) == (variant, WORDING[variant]["fr"])
    assert store.nudges("u1", lang="en")[0].message == WORDING[variant]["en"]
    assert store.nudges("u1", lang="de")[0].message == WORDING[variant]["fr"]


def test_a_variant_since_removed_shows_the_experiments_first(open_store: Opener) -> None:
    store = open_store()
    store.emit("u1", "letter.generated")
    store.process()
    store.execute(update(nudges).values(variant="retired"))
    [nudge] = store.nudges("u1", lang="en")
    assert (nudge.variant, nudge.message) == ("chances", CHANCES_EN)


def test_without_an_experiment_the_rules_own_wording_shows(
    open_store: Opener, tmp_path: Path
) -> None:
    only_cv = tmp_path / "experiments.toml"
    only_cv.write_text(
        '[cv_to_letters]\n[[cv_to_letters.variants]]\nid = "a"\nmessages = { fr = "A" }\n'
        '[[cv_to_letters.variants]]\nid = "b"\nmessages = { fr = "B" }\n',
        encoding="utf-8",
    )
    store = open_store(nudge_experiments_file=only_cv)
    store.emit("u1", "letter.generated")
    store.emit("u2", "cv.uploaded")
    store.process()
    assert [(n.variant, n.message) for n in store.nudges("u1", lang="en")] == [
        ("default", CHANCES_EN)
    ]
    assert store.shown("u2", CV) == [("cv_to_letters", "a")]


# --- The degraded mode, before the worker runs -------------------------------------------


def test_before_the_worker_the_events_give_the_nudges_it_will_detect(open_store: Opener) -> None:
    store = open_store()
    store.emit("writer", "letter.generated")
    store.emit("both", "letter.generated", "cv.uploaded")
    store.emit("cv-only", "cv.generated")
    store.emit("dead", "job_offer.analyzed")
    store.execute(update(events).where(events.c.user_id == "dead").values(status="dead"))
    [offer] = store.nudges("writer", lang="en")
    assert (offer.nudge_id, offer.nudge_type, offer.target_app) == (
        nudge_id("writer", "letters_to_cv"),
        "letters_to_cv",
        CV,
    )
    assert (offer.variant, offer.message) == ("chances", CHANCES_EN)
    assert store.nudges("writer", CV) == []
    assert store.nudges("both") == []
    assert store.nudges("both", CV) == []
    assert store.shown("cv-only", CV) == [("cv_to_letters", "complete")]
    assert store.nudges("dead") == []
    # Rules only the worker can decide (windows, payloads) wait for it.
    store.emit("stressed", "rise.journal_entry", payload={"stress_level": 9})
    assert store.nudges("stressed", RISE) == []
    # Each offer returned is recorded, under the worker's id and the wording shown.
    assert store.offers("writer") == [(offer.nudge_id, "letters_to_cv", "chances")]
    # The worker detects those very nudges; the offers give way to them.
    store.process()
    assert [n.nudge_id for n in store.nudges("writer")] == [offer.nudge_id]
    assert store.nudges("both") == []


def test_an_offer_obeys_the_cooldown_and_the_cap(open_store: Opener) -> None:
    store = open_store(nudge_cooldown_hours=1, nudge_max_per_day=1)
    store.emit("writer", "letter.generated")
    [offer] = store.nudges("writer")
    assert store.show(offer.nudge_id) is not None
    assert store.nudges("writer") == []
    store.time_passes(hours=2)
    assert [n.nudge_id for n in store.nudges("writer")] == [offer.nudge_id]


def test_a_display_before_the_worker_is_kept_with_its_wording_and_counts_as_exposure(
    open_store: Opener,
) -> None:
    store = open_store()
    seen = user_whose_variant_is_not_the_first("seen")
    unseen = user_whose_variant_is_not_the_first("unseen")
    store.emit(seen, "letter.generated")
    store.emit(unseen, "letter.generated")
    [offer] = store.nudges(seen)
    assert offer.variant == "chances"
    store.show(offer.nudge_id)
    assert store.nudges(unseen)[0].variant == "chances"  # offered, never displayed
    store.process()
    # The user saw "chances": the worker keeps it. The other gets the experiment's own.
    assert store.variant_of(seen, "letters_to_cv") == "chances"
    assert store.variant_of(unseen, "letters_to_cv") == BOOK.experiments["letters_to_cv"].sticky(
        unseen
    )
    assert store.nudges(seen) == []  # displayed: the cooldown runs from that display
    counts = store.container.read_models().experiment_counts()["letters_to_cv"]
    assert counts["chances"].exposed == 1
    # Acting on it converts it: the display before the worker was the exposure.
    store.emit(seen, "cv.uploaded")
    store.process()
    assert (
        store.container.read_models().experiment_counts()["letters_to_cv"]["chances"].converted == 1
    )


# --- Displays and what they achieve ------------------------------------------------------


def test_a_second_display_within_the_cooldown_is_not_written(open_store: Opener) -> None:
    store = open_store()
    store.emit("u1", "letter.generated")
    store.process()
    [nudge] = store.nudges("u1")
    first = store.show(nudge.nudge_id)
    assert store.show(nudge.nudge_id) == first
    assert store.displays(nudge.nudge_id) == 1
    store.time_passes(hours=25)
    assert store.show(nudge.nudge_id) is not None
    assert store.displays(nudge.nudge_id) == 2
    assert store.show("no-such-nudge") is None
    counts = store.container.read_models().experiment_counts()["letters_to_cv"]
    assert sum(c.exposed for c in counts.values()) == 1  # the first display only


def test_conversions_in_and_out_of_the_window_and_organic_use(open_store: Opener) -> None:
    store = open_store(nudge_attribution_days=7)
    for user in ("quick", "late", "organic", "unshown"):
        store.emit(user, "letter.generated")
    store.process()
    for user in ("quick", "late"):
        [nudge] = store.nudges(user)
        store.show(nudge.nudge_id)
    store.time_passes(days=2)
    store.emit("quick", "cv.uploaded")  # two days after seeing it: converted
    store.emit("organic", "cv.uploaded")  # never saw it: organic
    store.time_passes(days=7)
    store.emit("late", "cv.uploaded")  # nine days after: organic
    store.process()
    figures = store.container.read_models().ecosystem(datetime(2000, 1, 1, tzinfo=UTC), 30)
    assert (figures.nudges_detected, figures.nudges_shown) == (4, 2)
    assert (figures.nudges_converted, figures.nudges_organic) == (1, 2)
    counts = store.container.read_models().experiment_counts()["letters_to_cv"]
    assert sum(c.converted for c in counts.values()) == 1
    assert [n.nudge_type for n in store.nudges("unshown")] == ["letters_to_cv"]
    for user in ("quick", "late", "organic"):
        assert store.nudges(user) == []  # converted or organic: no longer active


def test_a_reprocessing_changes_no_answer(open_store: Opener) -> None:
    store = open_store()
    for user in ("a", "b"):
        store.emit(user, "letter.generated")
    store.emit("c", "cv.uploaded")
    store.process()
    [shown] = store.nudges("a")
    store.show(shown.nudge_id)
    store.emit("a", "cv.uploaded")
    store.process()
    before = (
        store.nudges("b"),
        store.nudges("c", CV),
        store.container.read_models().experiment_counts(),
    )
    assert store.reprocess_everything() == 4
    after = (
        store.nudges("b"),
        store.nudges("c", CV),
        store.container.read_models().experiment_counts(),
    )
    assert after == before
    assert store.displays(shown.nudge_id) == 1
