"""The row an emit becomes, refused at once when no store could ever hold it.

Checked here rather than left to the store, so every transport answers the same
``rejected`` outcome for the same event: PostgreSQL refuses a NUL character or a lone
surrogate, JSON has no NaN or Infinity (Python's ``json`` would write them anyway and
PostgREST would refuse the request), and such a row sent later from the outbox could only
be refused again. The flywheel refuses the same values at its own ingest
(``src/domain/events.py``), and a test holds the two sets of checks in agreement: the
bridge cannot import the service's, which would load the service into every app.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from phoenix_bridge.event_hash import compute_event_hash
from phoenix_bridge.transport import Row

# Objects and arrays nested in a payload, the payload itself counting as one: the store
# refuses deeper ones, and the worker could not read them back.
MAX_PAYLOAD_DEPTH = 64
# A user id is a path segment of the flywheel's API (/api/users/{user_id}/nudges): a "/"
# in it would make the user's journey and nudges unreachable.
USER_ID_FORBIDDEN = "/"


class UnstorableEventError(ValueError):
    """The event holds a value no store accepts; the message names where."""


def _problem(value: object) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value!r} (NaN and Infinity are not JSON)"
    if isinstance(value, str):
        if "\x00" in value:
            return "a NUL character (\\u0000), which PostgreSQL cannot store"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "a lone surrogate, which is not valid UTF-8"
    return None


def refusal(field: str, value: object) -> str | None:
    """Where and why ``value`` cannot be stored, or None. Iterative: depth costs no stack."""
    stack: list[tuple[str, object, int]] = [(field, value, 1)]
    while stack:
        where, item, depth = stack.pop()
        if isinstance(item, dict | list | tuple) and depth > MAX_PAYLOAD_DEPTH:
            return (
                f"{field} is nested more than {MAX_PAYLOAD_DEPTH} levels deep "
                "(objects and arrays within one another)"
            )
        if isinstance(item, dict):
            for key, inner in item.items():
                if not isinstance(key, str):
                    return f"{where} has a key {key!r} that is not a string"
                if problem := _problem(key):
                    return f"a key of {where} holds {problem}"
                stack.append((f"{where}.{key}", inner, depth + 1))
        elif isinstance(item, list | tuple):
            stack.extend(
                (f"{where}[{index}]", inner, depth + 1) for index, inner in enumerate(item)
            )
        elif problem := _problem(item):
            return f"{where} holds {problem}"
    return None


EVENT_COLUMNS = (
    "event_type",
    "app_source",
    "user_id",
    "payload",
    "timestamp",
    "idempotency_key",
    "event_hash",
)
"""The event's own fields, the row ``build_row`` makes: all an app may insert (the store's
column grants allow these and nothing else)."""


def build_row(
    app_source: str,
    event_type: str,
    user_id: str,
    payload: dict[str, Any],
    idempotency_key: str | None,
) -> Row:
    """The row with its hash and emit time; ``UnstorableEventError`` when it cannot be."""
    if not isinstance(payload, dict):
        raise UnstorableEventError(f"payload must be a JSON object, not {type(payload).__name__}")
    if isinstance(user_id, str) and USER_ID_FORBIDDEN in user_id:
        raise UnstorableEventError(
            f"user_id must not contain {USER_ID_FORBIDDEN!r}: the flywheel serves a user at "
            "/api/users/{user_id}/..., where it would split the path"
        )
    for field, value in (
        ("event_type", event_type),
        ("user_id", user_id),
        ("idempotency_key", idempotency_key),
        ("payload", payload),
    ):
        if problem := refusal(field, value):
            raise UnstorableEventError(problem)
    try:
        event_hash = compute_event_hash(event_type, app_source, user_id, payload, idempotency_key)
    except RecursionError as error:
        raise UnstorableEventError("payload is nested too deeply to be encoded") from error
    except (TypeError, ValueError) as error:  # a value json cannot encode (a set, an object)
        raise UnstorableEventError(f"payload is not JSON: {error}") from error
    return {
        "event_type": event_type,
        "app_source": app_source,
        "user_id": user_id,
        "payload": payload,
        "timestamp": datetime.now(UTC).isoformat(),
        "idempotency_key": idempotency_key,
        "event_hash": event_hash,
    }
