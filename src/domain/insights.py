"""Insights: what an analyser learnt from a user's events, for the apps to show.

An insight's identity is derived from its kind and the hashes of the source events it
was drawn from, so analysing the same events again (a retry, a forced re-processing,
another worker) names the same insight and never adds a second one.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from src.domain.errors import FlywheelError

KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
LANGUAGES = ("fr", "en")


class InsightInvalidError(FlywheelError):
    """An analyser handed back an insight that cannot be stored: ``field`` says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"insight.{field}: {message}")
        self.field = field


def insight_id(kind: str, source_hashes: Sequence[str]) -> str:
    """SHA-256 of the kind and the sorted source hashes: the order events came in does
    not change what was learnt from them."""
    text = "\n".join([kind, *sorted(set(source_hashes))])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Insight:
    """One thing learnt about one user, with a message in French and in English.

    ``data`` is JSON (what an app needs to act on it); ``messages`` maps ``fr`` and
    ``en`` to a sentence the user can read. ``created_at`` is when the newest source
    event happened, so re-analysing at another moment gives the same insight.
    """

    user_id: str
    kind: str
    source_hashes: tuple[str, ...]
    data: Mapping[str, object]
    messages: Mapping[str, str]
    created_at: datetime
    insight_id: str = field(init=False)

    def __post_init__(self) -> None:
        if not KIND_PATTERN.match(self.kind):
            raise InsightInvalidError("kind", "lower-case letters, digits and _ (64 at most)")
        if not self.source_hashes:
            raise InsightInvalidError("source_hashes", "name at least one source event")
        for language in LANGUAGES:
            message = self.messages.get(language)
            if not isinstance(message, str) or not message.strip():
                raise InsightInvalidError(f"messages.{language}", "a non-empty text is required")
        object.__setattr__(self, "insight_id", insight_id(self.kind, self.source_hashes))
