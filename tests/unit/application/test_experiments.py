import asyncio
from dataclasses import replace
from datetime import timedelta

from src.application.experiments import VariantAssigner, experiment_reports
from src.application.ports.nudges import NudgeSettings
from src.application.queries import FlywheelQueries
from src.application.rule_book import rule_book
from src.domain.apps import discover_apps
from src.domain.catalogue import AppModule, Catalogue
from src.domain.experiments import Experiment, ExperimentBook, Variant, VariantCounts
from src.domain.nudges import CrossAppNudgeRule
from tests.fakes import FakeClock, FakeNudgeBoard, FakeReadModelStore
from tests.unit.application.conftest import World

BOOK = ExperimentBook(
    {
        "letters_to_cv": Experiment(
            "letters_to_cv",
            "bandit",
            (Variant("a", {"fr": "A"}), Variant("b", {"fr": "B"})),
        )
    }
)


def drain(world: World) -> None:
    asyncio.run(world.processor().drain())


def test_the_daily_cap_counts_nudges_of_every_type_shown_in_the_app(world: World) -> None:
    coach = AppModule(
        "phoenix-coach",
        "Coach",
        (),
        (CrossAppNudgeRule("letters_to_coach", "phoenix-letters", "phoenix-coach", {"fr": "C"}),),
    )
    catalogue = Catalogue([*discover_apps(), coach])
    world.journeys.catalogue = catalogue
    world.read_models.settings = NudgeSettings(cooldown_hours=1, max_per_day=1, attribution_days=7)
    rules = rule_book(catalogue, catalogue.experiments, world.read_models.settings).nudge_rules
    board = FakeNudgeBoard(world.read_models, world.inbox, world.clock, rules)
    queries = FlywheelQueries(world.inbox, world.read_models, catalogue, world.clock, board)
    world.emit("letter.generated", "phoenix-letters", "u1")
    drain(world)
    (first,) = queries.list_active_nudges("u1", "phoenix-letters")
    queries.record_nudge_shown(first.nudge_id)
    assert queries.list_active_nudges("u1", "phoenix-letters") == []  # cooldown and cap
    world.clock.advance(hours=2)
    # Past the cooldown, the nudge already shown today may come back; the other may not.
    assert [n.nudge_id for n in queries.list_active_nudges("u1", "phoenix-letters")] == [
        first.nudge_id
    ]
    world.clock.advance(hours=23)
    assert len(queries.list_active_nudges("u1", "phoenix-letters")) == 1
    world.read_models.settings = replace(world.read_models.settings, max_per_day=2)
    assert len(queries.list_active_nudges("u1", "phoenix-letters")) == 2


class CountingStore(FakeReadModelStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def experiment_counts(self) -> dict[str, dict[str, VariantCounts]]:
        self.reads += 1
        return super().experiment_counts()


def test_a_bandit_reads_the_figures_at_most_once_per_refresh() -> None:
    store, clock = CountingStore(), FakeClock()
    assigner = VariantAssigner(BOOK, store, clock, refresh=timedelta(seconds=5))
    for index in range(50):
        assert assigner.choose("letters_to_cv", f"u{index}") in ("a", "b")
    assert store.reads == 1
    clock.advance(seconds=6)
    assigner.choose("letters_to_cv", "u-next")
    assert store.reads == 2
    assert assigner.choose("no_experiment", "u1") == ""


def test_reports_give_rates_against_exposures_and_test_against_the_first() -> None:
    counts = {"letters_to_cv": {"a": VariantCounts(50, 40, 4), "b": VariantCounts(50, 40, 16)}}
    (report,) = experiment_reports(BOOK, counts, 7)
    first, second = report.variants
    assert (first.conversion_rate, second.conversion_rate) == (0.1, 0.4)
    assert first.p_value is None
    assert second.p_value is not None
    assert second.p_value < 0.01
    assert second.probability_best > 0.99
    assert first.ci_low < 0.1 < first.ci_high
