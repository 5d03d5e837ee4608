"""A user's insights as the apps read them, for the stores that keep this rule in Python.

PostgreSQL answers with the SQL function ``phoenix_user_insights``, which every client
calls (the HTTP API, the bridge's SQL transport, Supabase's REST API); the embedded
SQLite store and the tests' fakes have this module. One contract suite holds the two to
the same answers:

* newest first (then by id, so equal times keep one order);
* each worded in the language asked, else in French.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from src.application.ports.read_models import InsightRecord

FALLBACK_LANGUAGE = "fr"


@dataclass(frozen=True)
class UserInsight:
    """An insight as an app shows it: one message, in the language asked."""

    insight_id: str
    kind: str
    data: Mapping[str, object]
    message: str
    created_at: datetime


def message_for(messages: Mapping[str, str], language: str) -> str:
    """The message in ``language``, else the French one."""
    return messages.get(language) or messages.get(FALLBACK_LANGUAGE) or ""


def insights_to_show(records: Iterable[InsightRecord], language: str) -> list[UserInsight]:
    ordered = sorted(records, key=lambda r: r.insight_id)
    ordered.sort(key=lambda r: r.created_at, reverse=True)
    return [
        UserInsight(
            insight_id=r.insight_id,
            kind=r.kind,
            data=dict(r.data),
            message=message_for(r.messages, language),
            created_at=r.created_at,
        )
        for r in ordered
    ]


class InsightBoard(Protocol):
    """The store's side of the insights apps read: its every adapter answers from the
    store's own home for the rule (the SQL function, or this module)."""

    def user_insights(self, user_id: str, language: str) -> list[UserInsight]: ...
