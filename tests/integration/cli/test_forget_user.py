"""Forgetting a user through what people run: the command line, the HTTP API, and a
worker of another process that still holds the user's journey in memory."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select, text

from src.adapters.sql.database import create_postgres_engine
from src.adapters.sql.eventsourcing_env import eventsourcing_env
from src.adapters.sql.tables import events, journey_entries, nudges, nudges_sent
from src.adapters.sqlalchemy_applied_events import SqlAlchemyAppliedEvents
from src.adapters.sqlalchemy_user_eraser import SqlAlchemyUserEraser, stored_events_tables
from src.application.errors import UserNotFoundError
from src.application.journeys import JourneyApplication, SourceEvent
from src.domain.apps import default_catalogue
from src.domain.user_journey import journey_id
from src.entrypoints.bootstrap import Container, close_flywheel, open_flywheel
from src.entrypoints.cli.commands import main
from src.entrypoints.http import create_app
from tests.conftest import make_settings

TOKEN = "forget-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ZERO = {
    "events": 0,
    "journey_events": 0,
    "journey_snapshots": 0,
    "journey_entries": 0,
    "nudges": 0,
    "nudges_sent": 0,
    "applied_events": 0,
    "nudge_offers": 0,
    "skills_extractions": 0,
    "insights": 0,
    "skill_profiles": 0,
}


def emit(container: Container, event_type: str, app: str, user: str, key: str = "") -> None:
    event = {"event_type": event_type, "app_source": app, "user_id": user}
    container.ingestion().publish([{**event, "idempotency_key": key or None}])


def drain(container: Container) -> None:
    asyncio.run(container.processor().drain())


@pytest.fixture
def opened(store_url: str) -> Iterator[Any]:
    """Opens flywheels on the store (each one as a process of its own would), closes them."""
    containers: list[Container] = []

    def open_one(**settings: Any) -> Container:
        containers.append(open_flywheel(make_settings(store_url, **settings), migrate=True))
        return containers[-1]

    yield open_one
    for container in containers:
        close_flywheel(container)


def test_a_journey_another_worker_cached_does_not_come_back(opened: Any) -> None:
    worker, operator = opened(), opened()
    emit(worker, "letter.generated", "phoenix-letters", "alice", "l1")
    emit(worker, "letter.generated", "phoenix-letters", "alice", "l2")
    emit(worker, "cv.uploaded", "phoenix-cv", "bob")
    drain(worker)
    assert worker.journeys().get_journey("alice") is not None  # in the worker's cache
    bob = worker.queries().get_journey("bob")

    removed = operator.erasure().forget("alice")  # another process: the worker is not told
    assert removed.journey_events > 0

    emit(worker, "cv.uploaded", "phoenix-cv", "alice")
    drain(worker)
    journey = worker.queries().get_journey("alice")
    assert [e.event_type for e in journey.events] == ["cv.uploaded"]
    assert [(n.nudge_type, n.status) for n in journey.nudges] == [("cv_to_letters", "active")]
    # The stored stream is a new one, from its first version: a fresh process agrees.
    fresh = opened()
    (loaded,) = fresh.journeys().load_journeys(["alice"]).values()
    assert loaded is not None
    assert loaded.activity_by_app == {"phoenix-cv": 1}
    stored = fresh.journeys().recorder.select_events(journey_id("alice"))
    assert [s.originator_version for s in stored] == list(range(1, len(stored) + 1))
    assert fresh.queries().get_journey("bob") == bob


def test_a_new_stream_past_the_cached_version_is_told_apart(opened: Any) -> None:
    """alice comes back and another worker gives her a longer new stream: the version
    the first worker has cached exists again, but it is another event."""
    worker, other = opened(), opened()
    emit(worker, "letter.generated", "phoenix-letters", "alice", "l1")
    drain(worker)
    cached = worker.journeys().get_journey("alice")
    assert cached is not None
    other.erasure().forget("alice")
    emit(other, "cv.uploaded", "phoenix-cv", "alice", "c1")
    emit(other, "cv.generated", "phoenix-cv", "alice", "c2")
    emit(other, "letter.generated", "phoenix-letters", "alice", "l3")
    drain(other)
    assert len(other.journeys().recorder.select_events(journey_id("alice"))) > cached.version
    emit(worker, "cv.uploaded", "phoenix-cv", "alice", "c4")
    drain(worker)
    (held,) = worker.journeys().load_journeys(["alice"]).values()
    (stored,) = opened().journeys().load_journeys(["alice"]).values()
    assert held is not None
    assert stored is not None
    assert held.activity_by_app == stored.activity_by_app == {"phoenix-cv": 3, "phoenix-letters": 1}
    assert held.version == stored.version


def test_a_snapshot_written_from_a_stale_journey_is_not_trusted(opened: Any) -> None:
    worker, operator = opened(), opened()
    emit(worker, "letter.generated", "phoenix-letters", "alice", "l1")
    emit(worker, "letter.generated", "phoenix-letters", "alice", "l2")
    drain(worker)
    operator.erasure().forget("alice")
    # The worker, unaware, snapshots the journey it holds: the forgotten state, stored.
    worker.journeys().take_snapshot(journey_id("alice"))
    later = opened()  # a worker started afterwards: nothing cached, only the stored rows
    emit(later, "cv.uploaded", "phoenix-cv", "alice")
    drain(later)
    (loaded,) = later.journeys().load_journeys(["alice"]).values()
    assert loaded is not None
    assert loaded.activity_by_app == {"phoenix-cv": 1}
    assert [e.event_type for e in later.queries().get_journey("alice").events] == ["cv.uploaded"]
    # Forgetting again removes the stray snapshot with the rest.
    assert operator.erasure().forget("alice").journey_snapshots == 1


@pytest.fixture
def cli_store(store_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", store_url)
    monkeypatch.setenv("EVENT_RETRY_BACKOFF_SECONDS", "0")
    assert main(["migrate"]) == 0
    return store_url


def test_forget_on_the_command_line(cli_store: str, capsys: pytest.CaptureFixture[str]) -> None:
    for user, event_type, app in (
        ("alice", "letter.generated", "phoenix-letters"),
        ("alice", "cv.uploaded", "phoenix-cv"),
        ("bob", "cv.uploaded", "phoenix-cv"),
    ):
        assert main(["emit", event_type, "--app", app, "--user", user]) == 0
    assert main(["process"]) == 0
    assert main(["emit", "cv.generated", "--app", "phoenix-cv", "--user", "alice"]) == 0
    capsys.readouterr()

    assert main(["forget", "alice"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["user_id"] == "alice"
    removed = first["removed"]
    assert (removed["events"], removed["journey_entries"]) == (3, 2)
    assert removed["journey_events"] >= 3  # started, two activities (and its nudges)
    assert removed["nudges"] == 1  # detected on the letter, converted by the CV

    assert main(["forget", "alice"]) == 0
    assert json.loads(capsys.readouterr().out) == {"user_id": "alice", "removed": ZERO}
    assert main(["forget", "never-seen"]) == 0
    assert json.loads(capsys.readouterr().out)["removed"] == ZERO
    assert main(["status"]) == 0
    assert json.loads(capsys.readouterr().out)["processed"] == 1  # bob's


def test_forget_needs_a_user_id(cli_store: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emit", "cv.uploaded", "--app", "phoenix-cv", "--user", " "]) == 2
    capsys.readouterr()
    assert main(["forget", "  "]) == 2
    err = capsys.readouterr().err
    assert err == "error: user_id: a non-empty user id is required\n"
    with pytest.raises(SystemExit) as exited:
        main(["forget"])
    assert exited.value.code == 2


def test_forget_with_the_store_down_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:9/nowhere")
    assert main(["forget", "alice"]) == 1
    assert capsys.readouterr().err.startswith("error: cannot reach the store")


@pytest.fixture
def client(store_url: str) -> Iterator[TestClient[Any]]:
    settings = make_settings(store_url, flywheel_api_token=TOKEN)
    close_flywheel(open_flywheel(settings, migrate=True))
    with TestClient(create_app(settings, run_worker=False)) as test_client:
        test_client.headers.update(AUTH)
        yield test_client


def test_delete_a_user_over_http(client: TestClient[Any]) -> None:
    events = [
        {"event_type": "letter.generated", "app_source": "phoenix-letters", "user_id": "alice"},
        {"event_type": "cv.uploaded", "app_source": "phoenix-cv", "user_id": "bob"},
    ]
    deadline = time.monotonic() + 30
    while client.post("/api/events", json={"events": events}).status_code != 202:
        assert time.monotonic() < deadline, "the store never opened"
        time.sleep(0.05)
    assert client.post("/api/events/process-queue").status_code == 200
    (nudge,) = client.get("/api/users/alice/nudges", params={"app": "phoenix-letters"}).json()
    assert client.post(f"/api/nudges/{nudge['nudge_id']}/shown").status_code == 200
    bob = client.get("/api/users/bob/journey").json()
    figures = client.get("/api/analytics/ecosystem").json()

    refused = client.delete("/api/users/alice", headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 401
    first = client.delete("/api/users/alice")
    assert first.status_code == 200
    body = first.json()
    assert body["user_id"] == "alice"
    assert {k: v for k, v in body["removed"].items() if k != "journey_events"} == {
        "events": 1,
        "journey_snapshots": 0,
        "journey_entries": 1,
        "nudges": 1,
        "nudges_sent": 1,
        "applied_events": 1,
        "nudge_offers": 0,
        "skills_extractions": 0,
        "insights": 0,
        "skill_profiles": 0,
    }
    assert body["removed"]["journey_events"] >= 2
    again = client.delete("/api/users/alice")
    assert (again.status_code, again.json()) == (200, {"user_id": "alice", "removed": ZERO})
    unknown = client.delete("/api/users/nobody")
    assert (unknown.status_code, unknown.json()["removed"]) == (200, ZERO)

    assert client.get("/api/users/alice/journey").status_code == 404
    assert client.post(f"/api/nudges/{nudge['nudge_id']}/shown").status_code == 404
    assert client.get("/api/users/bob/journey").json() == bob
    after = client.get("/api/analytics/ecosystem").json()
    assert after == {
        **figures,
        "total_events": figures["total_events"] - 1,
        "unique_users": figures["unique_users"] - 1,
        "events_by_app": {"phoenix-cv": 1},
        "events_by_type": {"cv.uploaded": 1},
        "app_combinations": {},  # one app seen now: no combination of two
        "nudges": {
            **figures["nudges"],
            "detected": figures["nudges"]["detected"] - 1,
            "shown": figures["nudges"]["shown"] - 1,
        },
    }


def test_a_blank_user_id_is_a_400(client: TestClient[Any]) -> None:
    deadline = time.monotonic() + 30
    while (response := client.delete("/api/users/%20")).status_code == 503:
        assert time.monotonic() < deadline, "the store never opened"
        time.sleep(0.05)
    assert response.status_code == 400
    assert response.json()["field"] == "user_id"


def test_forgotten_user_lookup_raises_not_found(opened: Any) -> None:
    flywheel = opened()
    emit(flywheel, "cv.uploaded", "phoenix-cv", "alice")
    drain(flywheel)
    flywheel.erasure().forget("alice")
    with pytest.raises(UserNotFoundError):
        flywheel.queries().get_journey("alice")


def rows_about(container: Container, user: str) -> dict[str, int]:
    """Every row that mentions the user, per table, read straight from the store."""
    engine = container.engine()
    stream, snapshots = stored_events_tables(engine, container.journeys())
    key = journey_id(user)
    ident: Any = key if engine.dialect.name == "postgresql" else key.hex
    counts = {}
    with engine.connect() as connection:
        for table in (events, journey_entries, nudges, nudges_sent):
            counts[table.name] = connection.execute(
                select(func.count()).where(table.c.user_id == user)
            ).scalar_one()
        for name in (stream, snapshots):
            counts[name] = connection.execute(
                text(f"SELECT count(*) FROM {name} WHERE originator_id = :id"),  # noqa: S608 - names from the recorders
                {"id": ident},
            ).scalar_one()
    return counts


def test_forgetting_while_a_worker_drains_leaves_nothing_behind(opened: Any) -> None:
    """A worker of another process drains a backlog in small batches, alice's events
    among them, while she is forgotten: whatever the interleaving, nothing of her
    remains, and every other event is processed."""
    worker, operator = opened(event_batch_size=10), opened()
    kinds = [("letter.generated", "phoenix-letters"), ("cv.uploaded", "phoenix-cv")]
    users = ["alice"] + [f"user-{n}" for n in range(19)]
    for n in range(200):
        event_type, app = kinds[n % 2]
        emit(worker, event_type, app, users[n % len(users)], key=str(n))
    done = threading.Event()

    def work() -> None:
        try:
            drain(worker)
        finally:
            done.set()

    thread = threading.Thread(target=work)
    thread.start()
    deadline = time.monotonic() + 60
    while operator.queries().get_queue_status().processed < 40 and not done.is_set():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    removed = operator.erasure().forget("alice")
    thread.join(timeout=120)
    assert not thread.is_alive()
    drain(worker)  # whatever is left, and the projection brought up to date
    assert removed.events == 10
    assert set(rows_about(worker, "alice").values()) == {0}
    status = worker.queries().get_queue_status()
    assert (status.processed, status.pending, status.processing) == (190, 0, 0)
    assert worker.queries().get_ecosystem(30).total_events == 190


@pytest.mark.postgres
def test_the_journeys_tables_are_found_in_whatever_schema_eventsourcing_uses(
    postgres_url: str,
) -> None:
    """``POSTGRES_SCHEMA`` moves eventsourcing's tables: the eraser follows, nothing is
    written out as ``public``."""
    close_flywheel(open_flywheel(make_settings(postgres_url), migrate=True))
    engine = create_postgres_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE SCHEMA flywheel_private"))
    env = {**eventsourcing_env(postgres_url), "POSTGRES_SCHEMA": "flywheel_private"}
    journeys = JourneyApplication(
        default_catalogue(), env=env, applied_events=SqlAlchemyAppliedEvents(engine)
    )
    try:
        assert stored_events_tables(engine, journeys) == (
            "flywheel_private.phoenixjourneys_events",
            "flywheel_private.phoenixjourneys_snapshots",
        )
        journeys.fold(
            [SourceEvent(1, "h" * 64, "cv.uploaded", "phoenix-cv", "alice", datetime.now(UTC))]
        )
        journeys.take_snapshot(journey_id("alice"))
        report = SqlAlchemyUserEraser.for_application(engine, journeys).forget(
            "alice", journey_id("alice"), datetime.now(UTC)
        )
        assert (report.journey_events, report.journey_snapshots) >= (2, 1)
        assert journeys.recorder.select_events(journey_id("alice")) == []
    finally:
        journeys.close()
        engine.dispose()
