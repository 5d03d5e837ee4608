"""The de-duplication key of an event, defined once for the apps and the worker.

The definition lives in the bridge package (``phoenix_bridge.event_hash``): the apps hash
what they emit with it and the worker hashes what arrives without a hash with it, and the
two must never drift apart, or a twin would slip past the store's unique ``event_hash``.
The bridge needs only the standard library, so importing it keeps the domain free of I/O
and frameworks (tests/unit/test_layers.py allows this one import).
"""

from __future__ import annotations

from phoenix_bridge.event_hash import canonical_json, compute_event_hash, short_hash

__all__ = ["canonical_json", "compute_event_hash", "short_hash"]
