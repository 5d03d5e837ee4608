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
# Containers (objects and arrays) nested in a payload, the payload itself counting as one.
# Real payloads nest a few levels; a thousand levels exhausts the recursion of JSON
# encoders and of the code that reads the payload back, so the limit sits far below that.
# The store refuses deeper ones too (supabase_phoenix_events_clean.sql).
MAX_PAYLOAD_DEPTH = 64
# A user id is a path segment of the API (``/api/users/{user_id}/journey``): a ``/`` in it
# would make the user's journey and nudges unreachable, so such ids are refused at ingest.
USER_ID_FORBIDDEN = "/"
# The instants an event may carry: what both stores keep and give back. PostgreSQL holds
# timestamps (infinity, BC, year 10000 on) that Python's datetime cannot; a day of margin
# on each side keeps the driver's conversion to any session time zone in range too. The
# store's insert check (supabase_phoenix_events_clean.sql) refuses the same instants, and
# the worker's claim reads these bounds to tell an unreadable row.
FIRST_READABLE = datetime(1, 1, 2, tzinfo=UTC)
LAST_READABLE = datetime(9999, 12, 31, tzinfo=UTC)  # excluded


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
    catalogue: Catalogue | None,
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
    before every field has passed. Without a ``catalogue``, the event type, its app and
    its declared payload fields are left to a store that checks them on insert.
    """
    event_type = _text(event_type, "event_type")
    app_source = _text(app_source, "app_source")
    entry = catalogue.event_type(event_type, app_source) if catalogue is not None else None
    user_id = check_user_id(user_id)
    checked_payload = check_payload(payload)
    if entry is not None:
        entry.check_payload(checked_payload)
    if idempotency_key is not None:
        if not isinstance(idempotency_key, str) or len(idempotency_key) > MAX_ID_LENGTH:
            raise IdempotencyKeyInvalidError(
                "idempotency_key", f"must be a string of at most {MAX_ID_LENGTH} characters"
            )
        _storable(idempotency_key, "idempotency_key", IdempotencyKeyInvalidError)
    return NewEvent(
        event_type=event_type,
        app_source=app_source,
        user_id=user_id,
        payload=checked_payload,
        timestamp=event_timestamp(timestamp),
        idempotency_key=idempotency_key,
        event_hash=compute_event_hash(
            event_type, app_source, user_id, checked_payload, idempotency_key
        ),
    )


def check_user_id(user_id: object) -> str:
    """A non-empty id of at most ``MAX_ID_LENGTH`` characters that the API can serve back."""
    if not isinstance(user_id, str) or not user_id.strip():
        raise UserIdMissingError("user_id", "a non-empty user id is required")
    if len(user_id) > MAX_ID_LENGTH:
        raise UserIdMissingError("user_id", f"at most {MAX_ID_LENGTH} characters")
    if USER_ID_FORBIDDEN in user_id:
        raise UserIdMissingError(
            "user_id",
            f"must not contain {USER_ID_FORBIDDEN!r}: the API serves a user at "
            "/api/users/{user_id}/..., where it would split the path",
        )
    _storable(user_id, "user_id", UserIdMissingError)
    return user_id


def check_payload(payload: object) -> dict[str, object]:
    """A JSON object of at most 64 KiB (as canonical UTF-8 JSON); ``None`` is an empty one.

    Also at most ``MAX_PAYLOAD_DEPTH`` levels deep, with finite numbers and text that both
    stores keep as sent (no NUL, no lone surrogate).
    """
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        raise PayloadInvalidError("payload", "must be a JSON object")
    _check_tree(payload)
    try:
        encoded = canonical_json(payload).encode("utf-8")
    except (TypeError, ValueError) as error:
        raise PayloadInvalidError("payload", f"is not valid JSON ({error})") from None
    if len(encoded) > MAX_PAYLOAD_BYTES:
        raise PayloadInvalidError(
            "payload", f"is {len(encoded)} bytes, over the {MAX_PAYLOAD_BYTES}-byte limit"
        )
    return payload


def _check_tree(payload: dict[str, object]) -> None:
    """Walk the payload without recursion, so a pathological depth cannot crash the walk."""
    stack: list[tuple[object, str, int]] = [(payload, "payload", 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_PAYLOAD_DEPTH:
                raise PayloadInvalidError(
                    "payload",
                    f"is nested more than {MAX_PAYLOAD_DEPTH} levels deep "
                    "(objects and arrays within one another)",
                )
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(value, dict):
                    if not isinstance(key, str):
                        raise PayloadInvalidError("payload", f"{path}: object keys must be text")
                    _storable(key, "payload", PayloadInvalidError, where=f"a key of {path}")
                stack.append((item, f"{path}.{key}", depth + 1))
        elif isinstance(value, str):
            _storable(value, "payload", PayloadInvalidError, where=path)
        elif isinstance(value, float) and not math.isfinite(value):
            raise PayloadInvalidError(
                "payload", f"is not valid JSON ({path}: NaN and infinity are not JSON)"
            )


def _storable(
    text: str, field: str, error: type[EventRejectedError], *, where: str | None = None
) -> None:
    """Text both stores keep as sent: PostgreSQL refuses NUL, UTF-8 cannot carry a lone
    surrogate. Refused on SQLite too, so the two stores accept the same events."""
    place = f" ({where})" if where else ""
    if "\x00" in text:
        raise error(field, f"contains a NUL character (\\u0000){place}, which cannot be stored")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise error(
            field,
            f"contains a lone UTF-16 surrogate{place}: not a character; send valid Unicode",
        ) from None


def _text(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise EventRejectedError(field, "a non-empty string is required")
    _storable(value, field, EventRejectedError)
    return value


def utc_timestamp(value: object, field: str = "timestamp") -> datetime | None:
    """An ISO-8601 text or a datetime, in UTC; a naive one is taken as UTC.

    Refused when UTC is out of the years 1 to 9999 (``0001-01-01T00:00:00+01:00`` is
    still year 0 in UTC): such an instant cannot be stored or compared.
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise TimestampInvalidError(
                field, f"{value!r} is not an ISO-8601 date and time"
            ) from None
    if not isinstance(value, datetime):
        raise TimestampInvalidError(field, "must be an ISO-8601 date and time")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise TimestampInvalidError(
            field,
            f"{value.isoformat()} falls outside the years 1 to 9999 once converted to UTC",
        ) from None


def event_timestamp(value: object) -> datetime | None:
    """``utc_timestamp``, within what the stores keep (``FIRST_READABLE`` to
    ``LAST_READABLE``): an event the store would refuse is refused here, naming the field."""
    timestamp = utc_timestamp(value)
    if timestamp is not None and not FIRST_READABLE <= timestamp < LAST_READABLE:
        raise TimestampInvalidError(
            "timestamp",
            f"{timestamp.isoformat()} is outside what the store keeps: from "
            f"{FIRST_READABLE.isoformat()} to before {LAST_READABLE.isoformat()} (UTC)",
        )
    return timestamp
