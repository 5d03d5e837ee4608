"""The experiments as SQL readers see them: the published variants, the results view and
the stats function, equal to what the API reports."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, inspect, select

from src.adapters.sql.tables import nudge_variants
from src.application.ports.nudges import NudgeSettings
from src.application.rule_book import rule_book
from src.domain.experiments import Experiment, ExperimentBook, Variant
from src.entrypoints.bootstrap import Container, close_flywheel, open_flywheel
from tests.conftest import make_settings


def published(container: Container) -> list[tuple[Any, ...]]:
    with container.engine().connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                select(
                    nudge_variants.c.nudge_type,
                    nudge_variants.c.variant,
                    nudge_variants.c.position,
                    nudge_variants.c.mode,
                ).order_by(nudge_variants.c.nudge_type, nudge_variants.c.position)
            )
        ]


def test_the_worker_publishes_its_experiments_and_settings_at_start(
    flywheel: Container,
) -> None:
    v1 = ("cv_to_letters", "letters_to_cv")
    assert [row for row in published(flywheel) if row[0] in v1] == [
        ("cv_to_letters", "complete", 0, "ab"),
        ("cv_to_letters", "stand_out", 1, "ab"),
        ("letters_to_cv", "chances", 0, "ab"),
        ("letters_to_cv", "difference", 1, "ab"),
    ]
    assert flywheel.read_models().nudge_settings() == NudgeSettings(24, 1, 7)


def test_publishing_other_experiments_replaces_the_earlier_ones(flywheel: Container) -> None:
    three = tuple(Variant(name, {"fr": name.upper()}) for name in ("a", "b", "c"))
    book = ExperimentBook({"cv_to_letters": Experiment("cv_to_letters", "bandit", three)})
    settings = NudgeSettings(cooldown_hours=2, max_per_day=3, attribution_days=3)
    published_book = rule_book(flywheel.catalogue(), book, settings)
    flywheel.rule_book().publish(published_book)
    flywheel.rule_book().publish(published_book)  # a second worker starting
    assert published(flywheel) == [
        ("cv_to_letters", "a", 0, "bandit"),
        ("cv_to_letters", "b", 1, "bandit"),
        ("cv_to_letters", "c", 2, "bandit"),
    ]
    assert flywheel.read_models().nudge_settings() == settings


def publish(container: Container, *events: tuple[str, str, str, datetime | None]) -> None:
    container.ingestion().publish(
        [
            {
                "event_type": event_type,
                "app_source": app,
                "user_id": user,
                **({"timestamp": at.isoformat()} if at else {}),
            }
            for event_type, app, user, at in events
        ]
    )
    asyncio.run(container.processor().drain())


@pytest.mark.postgres
def test_the_results_view_and_the_stats_equal_the_api(postgres_url: str) -> None:
    container = open_flywheel(make_settings(postgres_url), migrate=True)
    try:
        users = [f"u{i}" for i in range(12)]
        publish(container, *(("letter.generated", "phoenix-letters", u, None) for u in users))
        queries = container.queries()
        for user in users[:8]:
            (nudge,) = queries.list_active_nudges(user, "phoenix-letters")
            queries.record_nudge_shown(nudge.nudge_id)
        late = datetime.now(UTC) + timedelta(days=9)
        publish(
            container,
            *(("cv.uploaded", "phoenix-cv", u, None) for u in users[:4]),  # converted
            ("cv.uploaded", "phoenix-cv", users[4], late),  # after the window: organic
            *(("cv.uploaded", "phoenix-cv", u, None) for u in users[8:10]),  # organic
        )
        (api,) = [r for r in queries.list_experiments() if r.nudge_type == "letters_to_cv"]
        with psycopg.connect(postgres_url) as connection:
            rows = connection.execute(
                "SELECT variant, message, assigned, exposed, converted, conversion_rate,"
                " ci_low, ci_high FROM phoenix_nudge_experiment_results"
                " WHERE nudge_type = 'letters_to_cv'"
            ).fetchall()
            (stats,) = connection.execute(  # type: ignore[misc]
                "SELECT get_phoenix_ecosystem_stats(30)"
            ).fetchone()
        assert [
            (r[0], r[1], r[2], r[3], r[4], r[5], round(r[6], 6), round(r[7], 6)) for r in rows
        ] == [
            (
                v.variant,
                v.message,
                v.assigned,
                v.exposed,
                v.converted,
                v.conversion_rate,
                v.ci_low,
                v.ci_high,
            )
            for v in api.variants
        ]
        assert sum(v.exposed for v in api.variants) == 8
        assert sum(v.converted for v in api.variants) == 4
        assert stats["nudges"] == {"detected": 12, "shown": 8, "converted": 4, "organic": 3}
        figures = queries.get_ecosystem(30)
        assert (figures.nudges_converted, figures.nudges_organic) == (4, 3)
    finally:
        close_flywheel(container)


def test_a_store_made_before_experiments_gets_the_variant_column(store_url: str) -> None:
    settings = make_settings(store_url)
    container = open_flywheel(settings, migrate=True)
    publish(container, ("letter.generated", "phoenix-letters", "old", None))
    with container.engine().begin() as connection:
        cascade = " CASCADE" if connection.dialect.name == "postgresql" else ""
        connection.exec_driver_sql(f"ALTER TABLE phoenix_nudges DROP COLUMN variant{cascade}")
    close_flywheel(container)
    container = open_flywheel(settings, migrate=True)
    try:
        (nudge,) = container.queries().list_active_nudges("old", "phoenix-letters")
        # Detected before experiments: shown with the experiment's first wording.
        assert (nudge.variant, nudge.message) == (
            "chances",
            "Optimisez vos chances avec Phoenix CV !",
        )
    finally:
        close_flywheel(container)


def test_a_store_that_kept_the_window_with_each_variant_is_brought_up_to_date(
    sqlite_url: str,
) -> None:
    """An older version kept the attribution window in phoenix_nudge_variants (NOT NULL):
    the column goes, and the start publishes the window with the other settings."""
    settings = make_settings(sqlite_url, nudge_attribution_days=3)
    close_flywheel(open_flywheel(settings, migrate=True))
    engine = create_engine(sqlite_url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "ALTER TABLE phoenix_nudge_variants "
                "ADD COLUMN attribution_days INTEGER NOT NULL DEFAULT 7"
            )
        container = open_flywheel(settings)
        try:
            assert container.read_models().nudge_settings().attribution_days == 3
            # Two variants for each shipped nudge type's experiment.
            assert len(published(container)) == 2 * len(container.experiments().experiments)
        finally:
            close_flywheel(container)
        columns = {c["name"] for c in inspect(engine).get_columns("phoenix_nudge_variants")}
    finally:
        engine.dispose()
    assert "attribution_days" not in columns
