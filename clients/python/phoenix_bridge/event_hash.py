"""The de-duplication key of an event.

The hash covers what makes two emissions the same fact: a retry or a double click
re-sends identical fields and so gets the same hash; two genuine, identical events
differ by their ``idempotency_key``. The receipt time is deliberately excluded.

The one definition: the worker imports it too (``src/domain/event_hash.py``) to hash rows
that arrive without a hash, so an app's hash and the worker's can never differ.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping


def canonical_json(value: object) -> str:
    """JSON with sorted keys and no spaces, so equal values always give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def compute_event_hash(
    event_type: str,
    app_source: str,
    user_id: str,
    payload: Mapping[str, object],
    idempotency_key: str | None,
) -> str:
    """SHA-256 (hex) of the canonical JSON of the identifying fields: the de-duplication key."""
    document = {
        "event_type": event_type,
        "app_source": app_source,
        "user_id": user_id,
        "payload": payload,
        "idempotency_key": idempotency_key,
    }
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


def short_hash(event_hash: str) -> str:
    """The first 12 hex digits, as shown in logs."""
    return event_hash[:12]
