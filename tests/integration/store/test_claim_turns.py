"""PostgreSQL: claims take turns, so no two batches ever hold events of one user."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from src.adapters.postgres.batch_sql import CLAIM_TURN
from src.application.ports.inbox import StoredEvent
from src.entrypoints.bootstrap import Container
from src.entrypoints.settings import Settings
from tests.conftest import make_settings

pytestmark = pytest.mark.postgres

AT = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture
def flywheel_settings(postgres_url: str) -> Settings:
    """The shared ``flywheel`` on PostgreSQL only: the turns are its row locks."""
    return make_settings(postgres_url)


@pytest.fixture
def flywheel(flywheel: Container) -> Container:
    """A store with two events of one user, ready to be claimed."""
    flywheel.ingestion().publish(
        [
            {"event_type": "cv.uploaded", "app_source": "phoenix-cv", "user_id": "u1"},
            {"event_type": "cv.generated", "app_source": "phoenix-cv", "user_id": "u1"},
        ]
    )
    return flywheel


def test_a_claim_waits_until_the_claim_in_progress_has_committed(
    flywheel: Container, postgres_url: str
) -> None:
    claimed: list[StoredEvent] = []

    def claim() -> None:
        claimed.extend(flywheel.inbox().claim(10, AT, AT + timedelta(minutes=5)))

    with psycopg.connect(postgres_url) as other_worker:
        other_worker.execute(CLAIM_TURN)  # another worker's claim, not committed yet
        waiting = threading.Thread(target=claim)
        waiting.start()
        waiting.join(timeout=0.5)
        assert waiting.is_alive(), "the claim did not wait for its turn"
        assert claimed == []
        other_worker.rollback()
    waiting.join(timeout=10)
    assert not waiting.is_alive()
    assert [event.user_id for event in claimed] == ["u1", "u1"]


def test_a_claim_goes_ahead_without_its_turn_when_the_holder_is_stuck(
    flywheel: Container, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="src.adapters.sqlalchemy_inbox")
    with psycopg.connect(postgres_url) as stuck_worker:
        stuck_worker.execute(CLAIM_TURN)  # and never commits while the claim runs
        started = time.monotonic()
        claimed = flywheel.inbox().claim(10, AT, AT + timedelta(minutes=5))
        waited = time.monotonic() - started
        stuck_worker.rollback()
    assert [event.user_id for event in claimed] == ["u1", "u1"]
    assert waited >= 0.9, "the claim did not wait for its turn first"
    assert "claim turn not granted within 1 s, claiming without it" in caplog.messages


def test_a_worker_stuck_mid_claim_gives_the_turn_back_after_5_s(
    flywheel: Container, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="src.adapters.sqlalchemy_inbox")
    stuck_worker = psycopg.connect(postgres_url)
    try:
        stuck_worker.execute(CLAIM_TURN)
        time.sleep(5.5)  # idle in its transaction: the server ends that session
        with pytest.raises(psycopg.errors.IdleInTransactionSessionTimeout):
            stuck_worker.execute("SELECT 1")
    finally:
        stuck_worker.close()
    claimed = flywheel.inbox().claim(10, AT, AT + timedelta(minutes=5))
    assert [event.user_id for event in claimed] == ["u1", "u1"]
    assert caplog.messages == []  # the turn was free again
