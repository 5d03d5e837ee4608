"""Right after ``serve`` starts, what a client is told is true: ``/health`` says 503
``starting`` until the store is open, and a request that needs the store waits for it
instead of failing. The probe is the readiness benchmark's (``benchmarks/readiness.py``)."""

from __future__ import annotations

import pytest

from benchmarks.readiness import probe_start
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from tests.conftest import make_settings

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("attempt", range(3))
def test_from_the_first_answer_health_and_ingest_agree(postgres_url: str, attempt: int) -> None:
    close_flywheel(open_flywheel(make_settings(postgres_url), migrate=True))
    run = probe_start(postgres_url)
    assert run.unexpected == [], [(a.request, a.status, a.body) for a in run.unexpected]
    first_ingest = next(a for a in run.answers if a.request == "ingest")
    assert first_ingest.status == 202
    health = [a for a in run.answers if a.request == "health"]
    assert health[-1].status == 200
    assert all('"database":"starting"' in a.body for a in health if a.status == 503)


def test_on_sqlite_too(sqlite_url: str) -> None:
    close_flywheel(open_flywheel(make_settings(sqlite_url), migrate=True))
    run = probe_start(sqlite_url)
    assert run.unexpected == []
    assert run.answers[0].status == 202
