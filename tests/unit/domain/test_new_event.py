from datetime import UTC, datetime

import pytest

from src.domain.apps import default_catalogue
from src.domain.errors import (
    EventRejectedError,
    IdempotencyKeyInvalidError,
    PayloadInvalidError,
    TimestampInvalidError,
    UserIdMissingError,
)
from src.domain.events import MAX_PAYLOAD_BYTES, new_event

CATALOGUE = default_catalogue()


def make(**fields: object):  # type: ignore[no-untyped-def]
    values: dict[str, object] = {
        "event_type": "cv.uploaded",
        "app_source": "phoenix-cv",
        "user_id": "u1",
    }
    values.update(fields)
    return new_event(CATALOGUE, **values)  # type: ignore[arg-type]


def test_a_valid_event_is_hashed_and_gets_an_empty_payload_by_default() -> None:
    event = make()
    assert event.payload == {}
    assert len(event.event_hash) == 64


@pytest.mark.parametrize("user_id", [None, "", "   ", 42])
def test_a_missing_user_id_is_refused(user_id: object) -> None:
    with pytest.raises(UserIdMissingError) as caught:
        make(user_id=user_id)
    assert caught.value.field == "user_id"


@pytest.mark.parametrize("payload", [[1, 2], "text", 3])
def test_a_payload_that_is_not_an_object_is_refused(payload: object) -> None:
    with pytest.raises(PayloadInvalidError, match="JSON object"):
        make(payload=payload)


def test_a_payload_over_64_kib_is_refused() -> None:
    with pytest.raises(PayloadInvalidError, match="over the 65536-byte limit"):
        make(payload={"text": "x" * MAX_PAYLOAD_BYTES})


def test_a_payload_just_under_the_limit_is_accepted() -> None:
    assert make(payload={"t": "x" * (MAX_PAYLOAD_BYTES - 20)}).payload


def test_a_payload_with_nan_is_refused() -> None:
    with pytest.raises(PayloadInvalidError, match="not valid JSON"):
        make(payload={"score": float("nan")})


def test_a_missing_event_type_names_the_field() -> None:
    with pytest.raises(EventRejectedError) as caught:
        make(event_type=None)
    assert caught.value.field == "event_type"


def test_an_iso_timestamp_is_read_and_a_naive_one_taken_as_utc() -> None:
    assert make(timestamp="2026-03-01T10:00:00").timestamp == datetime(2026, 3, 1, 10, tzinfo=UTC)


def test_a_bad_timestamp_is_refused() -> None:
    with pytest.raises(TimestampInvalidError):
        make(timestamp="yesterday")


def test_a_non_string_idempotency_key_is_refused() -> None:
    with pytest.raises(IdempotencyKeyInvalidError):
        make(idempotency_key=12)
