"""The log lines docs/operations.md tells operators to look for, word for word:
"Duplicate event hash" when the store refuses a twin at ingest (the worker's
"Événement déjà traité" and "Aucun événement à traiter" are in test_processor and
test_worker), in either log format."""

from __future__ import annotations

import json
import logging

import pytest

from src.application.ingest import EventIngestion
from src.domain.apps import default_catalogue
from src.domain.event_hash import short_hash
from src.entrypoints.logging_setup import JsonFormatter, TextFormatter
from tests.fakes import FakeClock, FakeEventInbox

CV = {"event_type": "cv.uploaded", "app_source": "phoenix-cv", "user_id": "u1"}


def test_a_twin_refused_at_ingest_is_logged_as_duplicate_event_hash(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="src.application.ingest")
    ingestion = EventIngestion(FakeEventInbox(FakeClock()), default_catalogue())
    first = ingestion.publish([CV])
    again = ingestion.publish([CV, CV])
    assert (first.accepted, again.accepted, again.duplicates) == (1, 0, 2)
    lines = [r for r in caplog.records if r.getMessage().startswith("Duplicate event hash")]
    event_hash = ingestion.validate([CV])[0].event_hash
    assert [r.getMessage() for r in lines] == [
        f"Duplicate event hash (hash: {short_hash(event_hash)})"
    ] * 2
    assert all(getattr(r, "event_hash", None) == event_hash for r in lines)


@pytest.mark.parametrize("formatter", [TextFormatter(), JsonFormatter()])
def test_the_guides_words_read_as_written_in_both_formats(formatter: logging.Formatter) -> None:
    record = logging.LogRecord(
        "src.application.processing.processor",
        logging.INFO,
        __file__,
        1,
        "Événement déjà traité (hash: %s)",
        ("0123456789ab",),
        None,
    )
    line = formatter.format(record)
    assert "Événement déjà traité (hash: 0123456789ab)" in line
    assert "\n" not in line
    if isinstance(formatter, JsonFormatter):
        assert json.loads(line)["message"] == "Événement déjà traité (hash: 0123456789ab)"
