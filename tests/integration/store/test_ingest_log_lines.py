"""The log line "Duplicate event hash" at ingest (docs/operations.md, "Troubleshooting"),
on the real stores: once per twin the store refused, with its hash, also when the store's
own catalogue check (PostgreSQL) refused another request of the same group commit and the
group was written again request by request."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest

from src.application.group_commit import GroupCommit
from src.application.ports.inbox import AppendResult
from src.domain.errors import EventRejectedError
from src.domain.event_hash import short_hash
from src.domain.events import NewEvent
from src.entrypoints.bootstrap import Container, close_flywheel, open_flywheel
from tests.conftest import make_settings

CV = {"event_type": "cv.uploaded", "app_source": "phoenix-cv", "user_id": "u1"}
NO_STRESS = {"event_type": "rise.journal_entry", "app_source": "phoenix-rise", "user_id": "u2"}


def duplicate_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, object]]:
    return [
        (r.getMessage(), getattr(r, "event_hash", None))
        for r in caplog.records
        if r.getMessage().startswith("Duplicate event hash")
    ]


def test_a_twin_is_logged_once_with_its_hash(
    flywheel: Container, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="src.application.ingest")
    ingestion = flywheel.ingestion()
    (event,) = ingestion.validate([CV])
    assert ingestion.publish([CV]).accepted == 1
    again = ingestion.publish([CV, {**CV, "user_id": "u3"}], batch=True)
    assert (again.accepted, again.duplicates) == (1, 1)
    assert duplicate_lines(caplog) == [
        (f"Duplicate event hash (hash: {short_hash(event.event_hash)})", event.event_hash)
    ]


@pytest.mark.postgres
def test_a_group_the_store_refused_part_of_logs_each_twin_once(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    flywheel = open_flywheel(make_settings(postgres_url), migrate=True)
    try:
        ingestion = flywheel.ingestion()
        ingestion.publish([CV])
        caplog.set_level(logging.INFO, logger="src.application.ingest")
        twin = ingestion.validate([CV])
        # On PostgreSQL the catalogue is the store's to check: this passes validation.
        refused = ingestion.validate([NO_STRESS])
        commits: list[int] = []

        def append_groups(groups: Sequence[Sequence[NewEvent]]) -> list[AppendResult]:
            commits.append(len(groups))
            return ingestion.append_groups(groups)

        async def both() -> Sequence[AppendResult | BaseException]:
            group = GroupCommit(append_groups)
            return await asyncio.gather(
                ingestion.commit(twin, group.append),
                ingestion.commit(refused, group.append),
                return_exceptions=True,
            )

        first, second = asyncio.run(both())
    finally:
        close_flywheel(flywheel)
    assert commits == [2, 1, 1]  # together, refused, then each alone
    assert isinstance(first, AppendResult)
    assert (first.accepted, first.duplicates) == (0, 1)
    assert isinstance(second, EventRejectedError)
    assert second.field == "payload.stress_level"
    assert duplicate_lines(caplog) == [
        (f"Duplicate event hash (hash: {short_hash(twin[0].event_hash)})", twin[0].event_hash)
    ]
