"""The catalogue's check, in its two homes: the flywheel's own (``src/domain/catalogue.py``,
which decides on SQLite) and the store's insert check (PostgreSQL, which every client's
inserts meet). Over the catalogue's cases, both refuse with the same field and the same
words, and accept the same events; and the nudge ids the store gives before the worker
runs are the worker's own."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from src.adapters.sql.database import create_postgres_engine
from src.adapters.sqlalchemy_rule_book import SqlAlchemyRuleBookStore
from src.application.errors import EventRefusedError
from src.application.ports.nudges import NudgeSettings
from src.application.rule_book import rule_book
from src.domain.apps import default_catalogue, discover_apps
from src.domain.catalogue import AppModule, Catalogue, EventType
from src.domain.errors import EventRejectedError
from src.domain.events import new_event
from src.domain.user_journey import UserJourney, nudge_id
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from tests.conftest import make_settings

INSERT = (
    "INSERT INTO phoenix_events (event_type, app_source, user_id, payload, event_hash) "
    "VALUES (%s, %s, %s, %s::jsonb, %s)"
)

# (event_type, app_source, payload): every way the catalogue refuses an event, and the
# bounds it accepts.
CASES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "unknown type": ("cv.burned", "phoenix-cv", {}),
    "unknown app": ("cv.uploaded", "phoenix-coach", {}),
    "unknown app and type": ("coach.session", "phoenix-coach", {}),
    "another app's type": ("cv.uploaded", "phoenix-letters", {}),
    "a quoted name": ('it\'s "odd"\n', "phoenix-cv", {}),
    "missing field": ("rise.journal_entry", "phoenix-rise", {}),
    "null field": ("rise.journal_entry", "phoenix-rise", {"stress_level": None}),
    "text for an integer": ("rise.journal_entry", "phoenix-rise", {"stress_level": "7"}),
    "a fraction": ("rise.journal_entry", "phoenix-rise", {"stress_level": 6.5}),
    "a boolean": ("rise.journal_entry", "phoenix-rise", {"stress_level": True}),
    "a list": ("rise.journal_entry", "phoenix-rise", {"stress_level": [7]}),
    "above the range": ("rise.journal_entry", "phoenix-rise", {"stress_level": 11}),
    "below the range": ("rise.journal_entry", "phoenix-rise", {"stress_level": -1}),
    "the lowest": ("rise.journal_entry", "phoenix-rise", {"stress_level": 0}),
    "the highest": ("rise.journal_entry", "phoenix-rise", {"stress_level": 10}),
    "a whole number written 7.0": ("rise.journal_entry", "phoenix-rise", {"stress_level": 7.0}),
    "an undeclared field": ("cv.uploaded", "phoenix-cv", {"anything": [1, "two"]}),
    "skills as one text": ("job_offer.analyzed", "phoenix-letters", {"skills": "SQL"}),
    "skills with a number": ("cv.generated", "phoenix-cv", {"skills": ["SQL", 3]}),
    "skills as texts": ("job_offer.analyzed", "phoenix-letters", {"skills": ["SQL", "Go"]}),
    "no skill": ("cv.uploaded", "phoenix-cv", {"skills": []}),
    "an offer id as a number": ("job_offer.analyzed", "phoenix-letters", {"offer_id": 42}),
}


def python_check(event_type: str, app_source: str, payload: dict[str, Any]) -> str | None:
    """The flywheel's own answer: the refusal as ``field: message``, or None."""
    try:
        new_event(
            default_catalogue(),
            event_type=event_type,
            app_source=app_source,
            user_id="u1",
            payload=payload,
        )
    except EventRejectedError as error:
        return str(error)
    return None


@pytest.fixture
def migrated(postgres_url: str) -> str:
    close_flywheel(open_flywheel(make_settings(postgres_url), migrate=True))
    return postgres_url


@pytest.mark.postgres
@pytest.mark.parametrize(("event_type", "app_source", "payload"), CASES.values(), ids=CASES)
def test_the_store_refuses_what_the_flywheel_refuses_in_the_same_words(
    migrated: str, event_type: str, app_source: str, payload: dict[str, Any]
) -> None:
    expected = python_check(event_type, app_source, payload)
    refused: psycopg.errors.Diagnostic | None = None
    with psycopg.connect(migrated) as connection:
        try:
            connection.execute(
                INSERT, (event_type, app_source, "u1", psycopg.types.json.Json(payload), "h1")
            )
        except psycopg.errors.CheckViolation as error:
            refused = error.diag
    if expected is None:
        assert refused is None
        return
    assert refused is not None
    assert refused.message_primary == expected
    assert expected.startswith(f"{refused.column_name}: ")
    assert refused.message_detail == "event_hash: h1"


@pytest.mark.parametrize(
    ("event_type", "app_source", "payload"),
    [c for name, c in CASES.items() if name != "a quoted name"],
    ids=[name for name in CASES if name != "a quoted name"],
)
def test_the_api_answers_the_same_on_both_stores(
    store_url: str, event_type: str, app_source: str, payload: dict[str, Any]
) -> None:
    """Through the service's ingest: the Python check on SQLite, the store's on
    PostgreSQL; in a batch the field carries the event's index either way."""
    container = open_flywheel(make_settings(store_url), migrate=True)
    good = {"event_type": "cv.uploaded", "app_source": "phoenix-cv", "user_id": "u0"}
    event = {"event_type": event_type, "app_source": app_source, "user_id": "u1"}
    expected = python_check(event_type, app_source, payload)
    refusal: EventRejectedError | None = None
    try:
        try:
            container.ingestion().publish([good, {**event, "payload": payload}], batch=True)
        except EventRejectedError as error:
            refusal = error
        status = container.queries().get_queue_status()
    finally:
        close_flywheel(container)
    assert not isinstance(refusal, EventRefusedError)  # told as the flywheel tells it
    assert (None if refusal is None else str(refusal)) == (
        None if expected is None else f"events.1.{expected}"
    )
    assert status.pending == (2 if expected is None else 0)  # nothing written when refused


USERS = ["u1", "Zoë Ünïcode", "o'brien", 'say "hi"', "  spaced  ", "emoji-🦊", "a\\b"]


@pytest.mark.postgres
def test_the_store_gives_a_nudge_the_id_the_worker_gives_it(migrated: str) -> None:
    with psycopg.connect(migrated) as connection:
        for user in USERS:
            for nudge_type in ("letters_to_cv", "cv_to_letters", "stress_relief"):
                (found,) = connection.execute(  # type: ignore[misc]
                    "SELECT phoenix_private.phoenix_nudge_id(%s, %s)", (user, nudge_type)
                ).fetchone()
                assert found == nudge_id(user, nudge_type), (user, nudge_type)


class SessionHeld(UserJourney.ActivityRecorded):
    """A coaching app's session: an app these tests add."""


COACH = AppModule(
    "phoenix-coach",
    "Phoenix Coach",
    (EventType("coach.session", SessionHeld, "a session was held"),),
)


@pytest.mark.postgres
def test_a_new_apps_module_reaches_the_store_and_a_removed_one_leaves_it(migrated: str) -> None:
    """What ``migrate`` and every start publish is the store's catalogue: the new app's
    events are let in; once it is gone, new ones are refused and the stored ones stay."""
    engine = create_postgres_engine(migrated)
    store = SqlAlchemyRuleBookStore(engine)
    settings = NudgeSettings(cooldown_hours=24, max_per_day=1, attribution_days=7)
    try:
        with_coach = Catalogue([*discover_apps(), COACH])
        store.publish(rule_book(with_coach, with_coach.experiments, settings))
        with psycopg.connect(migrated) as connection:
            connection.execute(INSERT, ("coach.session", "phoenix-coach", "u1", "{}", "h1"))
        catalogue = default_catalogue()
        store.publish(rule_book(catalogue, catalogue.experiments, settings))
        with (
            psycopg.connect(migrated) as connection,
            pytest.raises(psycopg.errors.CheckViolation, match="unknown app 'phoenix-coach'"),
        ):
            connection.execute(INSERT, ("coach.session", "phoenix-coach", "u1", "{}", "h2"))
        with psycopg.connect(migrated) as connection:
            stored = connection.execute("SELECT event_hash FROM phoenix_events").fetchall()
    finally:
        engine.dispose()
    assert stored == [("h1",)]
