"""The schema file users paste carries the app modules' catalogue, experiments and default
settings, generated from them: it must say what the modules say, and only there."""

from __future__ import annotations

from src.adapters.sql.catalogue import block_of
from src.adapters.sql.database import postgres_schema_sql
from src.domain.apps import default_catalogue
from src.entrypoints.shipped_catalogue import main, shipped_block


def test_the_schema_files_shipped_catalogue_is_the_modules() -> None:
    assert block_of(postgres_schema_sql()) == shipped_block(), (
        "run `python -m src.entrypoints.shipped_catalogue --write`"
    )
    assert main([]) == 0


def test_no_message_or_rule_is_written_in_the_file_outside_that_block() -> None:
    text = postgres_schema_sql()
    outside = text.replace(block_of(text), "")
    catalogue = default_catalogue()
    for experiment in catalogue.experiments:
        for variant in experiment.variants:
            for message in variant.messages.values():
                assert message.replace("'", "''") not in outside, message
    for rule in catalogue.nudge_rules:
        assert f"'{rule.nudge_type}'" not in outside, rule.nudge_type
    for app in catalogue.app_sources:
        assert f"'{app}'" not in outside, app
