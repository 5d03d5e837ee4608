from datetime import UTC, datetime, timedelta

import pytest

from src.domain.apps import default_catalogue
from src.domain.errors import (
    EventRejectedError,
    IdempotencyKeyInvalidError,
    PayloadInvalidError,
    TimestampInvalidError,
    UserIdMissingError,
)
from src.domain.events import (
    FIRST_READABLE,
    LAST_READABLE,
    MAX_PAYLOAD_BYTES,
    MAX_PAYLOAD_DEPTH,
    new_event,
)

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


def nested(levels: int) -> dict[str, object]:
    """A payload of ``levels`` objects nested in one another (the payload is level 1)."""
    payload: dict[str, object] = {}
    inner = payload
    for _ in range(levels - 1):
        child: dict[str, object] = {}
        inner["a"] = child
        inner = child
    return payload


def test_a_payload_at_the_depth_limit_is_accepted() -> None:
    assert make(payload=nested(MAX_PAYLOAD_DEPTH)).payload


@pytest.mark.parametrize("levels", [MAX_PAYLOAD_DEPTH + 1, 1000, 100_000])
def test_a_payload_nested_past_the_limit_is_refused_without_recursion(levels: int) -> None:
    with pytest.raises(PayloadInvalidError, match=f"more than {MAX_PAYLOAD_DEPTH} levels"):
        make(payload=nested(levels))


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"payload": {"note": "a\u0000b"}}, "payload"),
        ({"payload": {"a\u0000": 1}}, "payload"),
        ({"payload": {"list": [["x\u0000"]]}}, "payload"),
        ({"user_id": "u\u0000"}, "user_id"),
        ({"idempotency_key": "k\u0000"}, "idempotency_key"),
        ({"event_type": "cv.uploaded\u0000"}, "event_type"),
    ],
)
def test_a_nul_character_is_refused_naming_the_field(fields: dict[str, object], field: str) -> None:
    with pytest.raises(EventRejectedError, match="NUL character") as caught:
        make(**fields)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"payload": {"note": "\ud800"}}, "payload"), ({"user_id": "u\udc00"}, "user_id")],
)
def test_a_lone_surrogate_is_refused_naming_the_field(
    fields: dict[str, object], field: str
) -> None:
    with pytest.raises(EventRejectedError, match="lone UTF-16 surrogate") as caught:
        make(**fields)
    assert caught.value.field == field


def test_a_user_id_with_a_slash_is_refused_as_the_api_could_not_serve_it() -> None:
    with pytest.raises(UserIdMissingError, match="must not contain '/'"):
        make(user_id="team/alice")


@pytest.mark.parametrize("timestamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00"])
def test_a_timestamp_outside_the_years_1_to_9999_in_utc_is_refused(timestamp: str) -> None:
    with pytest.raises(TimestampInvalidError, match="outside the years 1 to 9999"):
        make(timestamp=timestamp)


@pytest.mark.parametrize(
    "timestamp",
    [
        FIRST_READABLE,
        LAST_READABLE - timedelta(microseconds=1),
        "9999-12-30T23:59:59.999999Z",
        "9999-12-31T00:30:00+01:00",  # 23:30 on the 30th in UTC
    ],
)
def test_a_timestamp_at_the_edges_of_what_the_store_keeps_is_accepted(
    timestamp: object,
) -> None:
    event = make(timestamp=timestamp)
    assert FIRST_READABLE <= event.timestamp < LAST_READABLE


@pytest.mark.parametrize(
    "timestamp",
    [
        FIRST_READABLE - timedelta(microseconds=1),
        LAST_READABLE,
        "9999-12-31T23:59:59Z",
        "0001-01-01T12:00:00Z",
    ],
)
def test_a_timestamp_the_store_would_refuse_is_refused_here_naming_the_field(
    timestamp: object,
) -> None:
    with pytest.raises(TimestampInvalidError, match="outside what the store keeps") as caught:
        make(timestamp=timestamp)
    assert caught.value.field == "timestamp"
