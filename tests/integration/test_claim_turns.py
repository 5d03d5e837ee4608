"""PostgreSQL: claims take turns, so no two batches ever hold events of one user."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from src.adapters.postgres_batch_sql import CLAIM_TURN
from src.application.ports import StoredEvent
from src.entrypoints.runtime import close_flywheel, open_flywheel
from tests.conftest import make_settings

pytestmark = pytest.mark.postgres

AT = datetime(2026, 3, 1, tzinfo=UTC)


def test_a_claim_waits_until_the_claim_in_progress_has_committed(postgres_url: str) -> None:
    container = open_flywheel(make_settings(postgres_url), migrate=True)
    try:
        container.ingestion().publish(
            [
                {"event_type": "cv.uploaded", "app_source": "phoenix-cv", "user_id": "u1"},
                {"event_type": "cv.generated", "app_source": "phoenix-cv", "user_id": "u1"},
            ]
        )
        claimed: list[StoredEvent] = []

        def claim() -> None:
            claimed.extend(container.inbox().claim(10, AT, AT + timedelta(minutes=5)))

        with psycopg.connect(postgres_url) as other_worker:
            other_worker.execute(CLAIM_TURN)  # another worker's claim, not committed yet
            waiting = threading.Thread(target=claim)
            waiting.start()
            waiting.join(timeout=0.5)
            assert waiting.is_alive(), "the claim did not wait for its turn"
            assert claimed == []
            other_worker.rollback()
        waiting.join(timeout=10)
    finally:
        close_flywheel(container)
    assert not waiting.is_alive()
    assert [event.user_id for event in claimed] == ["u1", "u1"]
