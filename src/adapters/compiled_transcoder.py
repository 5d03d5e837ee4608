"""The journeys' transcoder: eventsourcing's JSON, written by a compiled encoder.

eventsourcing's ``JSONTranscoder`` encodes each event's state with the standard library's
encoder, which calls back into Python for every datetime (``DatetimeAsISO``); that was
about a tenth of the worker's CPU per event. This one writes the same bytes with orjson:
datetimes still go through the registered transcodings (as ``{"_type_": "datetime_iso",
"_data_": ...}``), keys and separators are the same, so

- events stored before it, and after it, are one format: the same decoder (the standard
  library's, with eventsourcing's hook) reads both, and a rollback reads what this wrote;
- the SQL that reads the stored state as JSON (the migration that derives the applied
  pairs from activities) needs no change.

orjson writes a few types itself that the standard encoder hands to the transcodings
(UUID, Enum): the journeys' events carry none of them, and a test encodes every kind of
event and a snapshot and compares the bytes with eventsourcing's. Whatever orjson refuses
(an integer beyond 64 bits, a transcoding that fails) is encoded by eventsourcing's own
encoder, so an error reads as it did.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from eventsourcing.persistence import (
    InfrastructureFactory,
    JSONTranscoder,
    Transcoder,
    TranscodingNotRegisteredError,
)

_OPTIONS = (
    # Datetimes, dates and times to ``_default``, i.e. to the registered transcodings, as
    # the standard encoder does: orjson would otherwise write its own ISO string, which
    # decodes as a string.
    orjson.OPT_PASSTHROUGH_DATETIME
    # Dataclasses too: the standard encoder has no native form for them.
    | orjson.OPT_PASSTHROUGH_DATACLASS
    # Integer (and other scalar) keys become strings, as the standard encoder makes them.
    | orjson.OPT_NON_STR_KEYS
)


class CompiledJSONTranscoder(JSONTranscoder):
    """``JSONTranscoder``'s format and transcodings, encoded by orjson."""

    def encode(self, obj: Any) -> bytes:
        try:
            encoded = orjson.dumps(obj, default=self._transcode, option=_OPTIONS)
        except orjson.JSONEncodeError:
            return super().encode(obj)
        # orjson's bytes keep the capacity of its write buffer (4 KiB) whatever their
        # length, and the journeys' cache keeps each journey's last stored state: a
        # right-sized copy (a fifth of a microsecond) instead of 4 KiB per cached user.
        return memoryview(encoded).tobytes()

    def _transcode(self, value: Any) -> dict[str, Any]:
        transcoding = self.types.get(type(value))
        if transcoding is None:
            raise TranscodingNotRegisteredError(type(value).__name__)
        return {"_type_": transcoding.name, "_data_": transcoding.encode(value)}


def journeys_transcoder(
    factory: InfrastructureFactory[Any], configured: Callable[[], Transcoder]
) -> Transcoder:
    """The persistence modules' choice: this transcoder, unless ``TRANSCODER_TOPIC`` names
    another (eventsourcing's setting, honoured as its factories do)."""
    if factory.env.get(factory.TRANSCODER_TOPIC):
        return configured()
    return CompiledJSONTranscoder()
