"""A new event as an app publishes it, validated before anything is written."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from src.domain.catalogue import Catalogue
from src.domain.errors import (
    EventRejectedError,
    IdempotencyKeyInvalidError,
    PayloadInvalidError,
    TimestampInvalidError,
    UserIdMissingError,
)
from src.domain.event_hash import canonical_json, compute_event_hash

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_ID_LENGTH = 255
# Objects and arrays nested in a payload, the payload itself counting as one. Far below
# what Python's JSON decoder survives (about 1,000, its recursion limit), so every stored
# payload can be read back; the store refuses deeper ones (supabase_phoenix_events_clean.sql).
MAX_PAYLOAD_DEPTH = 64


@dataclass(frozen=True)
class NewEvent:
    """A valid event, hashed, ready to be appended to the store."""

    event_type: str
    app_source: str
    user_id: str
    payload: Mapping[str, object]
    timestamp: datetime | None
    idempotency_key: str | None
    event_hash: str


def new_event(
    catalogue: Catalogue,
    *,
    event_type: object,
    app_source: object,
    user_id: object,
    payload: object = None,
    timestamp: object = None,
    idempotency_key: object = None,
) -> NewEvent:
    """Validate the fields an app sent (of any type) and hash them.

    Raises an ``EventRejectedError`` naming the first offending field; nothing is written
    before every field has passed.
    """
    event_type = _text(event_type, "event_type")
    app_source = _text(app_source, "app_source")
    catalogue.event_type(event_type, app_source)
    if not isinstance(user_id, str) or not user_id.strip():
        raise UserIdMissingError("user_id", "a non-empty user id is required")
    if len(user_id) > MAX_ID_LENGTH:
        raise UserIdMissingError("user_id", f"at most {MAX_ID_LENGTH} characters")
    checked_payload = check_payload(payload)
    if idempotency_key is not None and (
        not isinstance(idempotency_key, str) or len(idempotency_key) > MAX_ID_LENGTH
    ):
        raise IdempotencyKeyInvalidError(
            "idempotency_key", f"must be a string of at most {MAX_ID_LENGTH} characters"
        )
    return NewEvent(
        event_type=event_type,
        app_source=app_source,
        user_id=user_id,
        payload=checked_payload,
        timestamp=_timestamp(timestamp),
        idempotency_key=idempotency_key,
        event_hash=compute_event_hash(
            event_type, app_source, user_id, checked_payload, idempotency_key
        ),
    )


def check_payload(payload: object) -> dict[str, object]:
    """A JSON object of at most 64 KiB (as canonical UTF-8 JSON); ``None`` is an empty one."""
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        raise PayloadInvalidError("payload", "must be a JSON object")
    try:
        encoded = canonical_json(_finite(payload)).encode("utf-8")
    except (TypeError, ValueError) as error:
        raise PayloadInvalidError("payload", f"is not valid JSON ({error})") from None
    if len(encoded) > MAX_PAYLOAD_BYTES:
        raise PayloadInvalidError(
            "payload", f"is {len(encoded)} bytes, over the {MAX_PAYLOAD_BYTES}-byte limit"
        )
    return payload


def _finite(value: object) -> object:
    """Refuse NaN and infinities, which JSON cannot carry."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("NaN and infinity are not JSON")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("object keys must be strings")
            _finite(item)
    elif isinstance(value, list):
        for item in value:
            _finite(item)
    return value


def _text(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise EventRejectedError(field, "a non-empty string is required")
    return value


def _timestamp(value: object) -> datetime | None:
    """An ISO-8601 text or a datetime; a naive one is taken as UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise TimestampInvalidError(
                "timestamp", f"{value!r} is not an ISO-8601 date and time"
            ) from None
    if not isinstance(value, datetime):
        raise TimestampInvalidError("timestamp", "must be an ISO-8601 date and time")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
