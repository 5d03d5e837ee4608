"""What an append writes reads back as sent, on each store (PostgreSQL inserts a batch
through one JSON parameter; SQLite row by row)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from src.application.ports.inbox import EventInbox
from src.domain.apps import default_catalogue
from src.domain.events import NewEvent, new_event
from tests.fakes import FakeEventInbox
from tests.integration.store.conftest import T0

CATALOGUE = default_catalogue()
PARIS = timezone(timedelta(hours=1))


def event(key: str | None, **fields: object) -> NewEvent:
    values: dict[str, object] = {
        "event_type": "letter.generated",
        "app_source": "phoenix-letters",
        "user_id": "u-é 1",
        "payload": {"company": "Airbus"},
        "timestamp": T0,
        "idempotency_key": key,
    }
    values.update(fields)
    return new_event(CATALOGUE, **values)  # type: ignore[arg-type]


def test_every_field_reads_back_as_sent(inbox: EventInbox) -> None:
    sent = [
        event(
            None,
            payload={"company": "Société \u2603", "nested": {"list": [1, 2.5, None, True]}},
            timestamp=datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=PARIS),
        ),
        event("k-2", payload={}, user_id="u2"),
        event("k-3", payload={"big": 2**62, "quote": 'say "hi"\\n', "emoji": "🙂"}),
    ]
    result = inbox.append(sent)
    assert (result.accepted, result.duplicates) == (3, 0)
    claimed = inbox.claim(10, T0, T0 + timedelta(minutes=5))
    got = {stored.event_hash: stored for stored in claimed}
    for new in sent:
        stored = got[new.event_hash]
        assert (stored.event_type, stored.app_source, stored.user_id) == (
            new.event_type,
            new.app_source,
            new.user_id,
        )
        assert dict(stored.payload) == dict(new.payload)
        assert stored.timestamp == new.timestamp
        assert stored.idempotency_key == new.idempotency_key


def test_a_hash_repeated_in_one_append_is_stored_once(inbox: EventInbox) -> None:
    result = inbox.append([event("a"), event("b"), event("a")])
    assert (result.accepted, result.duplicates) == (2, 1)
    assert inbox.queue_status(T0).pending == 2


def test_an_event_without_a_timestamp_gets_the_time_of_receipt(inbox: EventInbox) -> None:
    if isinstance(inbox, FakeEventInbox):
        pytest.skip("the fake receives at its own clock's time")
    before = datetime.now(UTC)
    inbox.append([event("no-time", timestamp=None)])
    (stored,) = inbox.claim(1, T0 + timedelta(days=3650), T0 + timedelta(days=3651))
    assert before - timedelta(seconds=1) <= stored.timestamp <= datetime.now(UTC)
