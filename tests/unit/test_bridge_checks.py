"""The bridge refuses at ``emit`` exactly what the flywheel refuses at ingest.

The bridge cannot import the service's checks (``src/domain/events.py``): apps install it
alone. So it keeps minimal ones of its own, and these tests hold the two in agreement, so
an event is ``rejected`` at once by the bridge on every transport if and only if the
flywheel would refuse it, and the hash both compute is the same function.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from phoenix_bridge import event_hash as bridge_hash
from phoenix_bridge import rows

from src.domain import event_hash as domain_hash
from src.domain import events
from src.domain.apps import default_catalogue
from src.domain.errors import EventRejectedError

CATALOGUE = default_catalogue()


def nested(depth: int, inner: Any = None) -> Any:
    """``depth`` objects within one another, the outermost counting as one."""
    value: Any = {} if inner is None else inner
    for _ in range(depth - 1):
        value = {"n": value}
    return value


# (user_id, payload, idempotency_key)
REFUSED: dict[str, tuple[str, Any, str | None]] = {
    "NUL in the user id": ("u\x00", {}, None),
    "NUL in a payload value": ("u1", {"text": "a\x00b"}, None),
    "NUL in a payload key": ("u1", {"a\x00": 1}, None),
    "NUL in the idempotency key": ("u1", {}, "k\x00"),
    "lone surrogate in the payload": ("u1", {"text": "\ud800"}, None),
    "lone surrogate in the user id": ("u\udc00", {}, None),
    "NaN": ("u1", {"score": math.nan}, None),
    "Infinity in a list": ("u1", {"scores": [1.0, math.inf]}, None),
    "-Infinity deep down": ("u1", nested(10, {"x": -math.inf}), None),
    "a key that is not text": ("u1", {1: "x"}, None),
    "objects one level too deep": ("u1", nested(events.MAX_PAYLOAD_DEPTH + 1), None),
    "arrays one level too deep": ("u1", nested(events.MAX_PAYLOAD_DEPTH, [[]]), None),
    "far too deep": ("u1", nested(5000), None),
    "a slash in the user id": ("team/alice", {}, None),
}
ACCEPTED: dict[str, tuple[str, Any, str | None]] = {
    "as deep as allowed": ("u1", nested(events.MAX_PAYLOAD_DEPTH), None),
    "arrays as deep as allowed": ("u1", nested(events.MAX_PAYLOAD_DEPTH - 1, []), None),
    "any other character": ("alice@example.org:42 é 🙂", {"é": "🙂", "n": [1.5, None]}, "k-1"),
}


def bridge_refuses(user_id: str, payload: Any, key: str | None) -> bool:
    try:
        rows.build_row("phoenix-letters", "letter.generated", user_id, payload, key)
    except rows.UnstorableEventError:
        return True
    return False


def flywheel_refuses(user_id: str, payload: Any, key: str | None) -> bool:
    try:
        events.new_event(
            CATALOGUE,
            event_type="letter.generated",
            app_source="phoenix-letters",
            user_id=user_id,
            payload=payload,
            idempotency_key=key,
        )
    except EventRejectedError:
        return True
    return False


@pytest.mark.parametrize(("user_id", "payload", "key"), REFUSED.values(), ids=REFUSED.keys())
def test_what_the_flywheel_refuses_the_bridge_refuses_at_emit(
    user_id: str, payload: Any, key: str | None
) -> None:
    assert flywheel_refuses(user_id, payload, key)
    assert bridge_refuses(user_id, payload, key)


@pytest.mark.parametrize(("user_id", "payload", "key"), ACCEPTED.values(), ids=ACCEPTED.keys())
def test_what_the_flywheel_accepts_the_bridge_sends(
    user_id: str, payload: Any, key: str | None
) -> None:
    assert not flywheel_refuses(user_id, payload, key)
    assert not bridge_refuses(user_id, payload, key)


def test_the_limits_are_the_same_numbers() -> None:
    assert rows.MAX_PAYLOAD_DEPTH == events.MAX_PAYLOAD_DEPTH
    assert rows.USER_ID_FORBIDDEN == events.USER_ID_FORBIDDEN


def test_the_hash_is_one_function_and_both_sides_give_the_same_hash() -> None:
    assert domain_hash.compute_event_hash is bridge_hash.compute_event_hash
    assert domain_hash.canonical_json is bridge_hash.canonical_json
    payload = {"letter_id": "L1", "score": 0.5, "tags": ["é", None]}
    row = rows.build_row("phoenix-letters", "letter.generated", "u1", payload, "L1")
    event = events.new_event(
        CATALOGUE,
        event_type="letter.generated",
        app_source="phoenix-letters",
        user_id="u1",
        payload=payload,
        idempotency_key="L1",
    )
    assert row["event_hash"] == event.event_hash
