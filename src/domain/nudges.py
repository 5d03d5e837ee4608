"""Nudge rules: when a journey deserves a nudge, where it is shown, what it says."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from src.domain.user_journey import UserJourney

DEFAULT_LANGUAGE = "fr"


class NudgeRule(Protocol):
    """What the journey needs of a rule; app modules may bring rules of their own shape."""

    @property
    def nudge_type(self) -> str: ...

    @property
    def shown_in(self) -> str: ...

    @property
    def target_app(self) -> str: ...

    @property
    def messages(self) -> Mapping[str, str]: ...

    @property
    def converts_on(self) -> tuple[str, ...]:
        """Event types that convert the nudge; empty: any event of ``target_app``."""
        ...

    @property
    def window_days(self) -> int:
        """How many days of per-day counters the rule reads (0: none)."""
        ...

    @property
    def event_types(self) -> tuple[str, ...]:
        """Every event type the rule names, checked against the catalogue."""
        ...

    @property
    def apps(self) -> tuple[str, ...]:
        """Every app the rule names, checked against the catalogue."""
        ...

    def marks(self, event_type: str, payload: Mapping[str, object]) -> tuple[str, ...]:
        """The payload counters (see ``src.domain.rules.Count``) such an event adds to."""
        ...

    def is_due(self, journey: UserJourney, at: datetime) -> bool:
        """Whether the journey deserves the nudge as of ``at``, the event just folded."""
        ...


@dataclass(frozen=True)
class CrossAppNudgeRule:
    """Nudge a user active in ``shown_in`` but never seen in ``target_app`` toward the latter.

    The nudge converts (see ``UserJourney.record``) when the user acts in ``target_app``.
    """

    nudge_type: str
    shown_in: str
    target_app: str
    messages: Mapping[str, str] = field(default_factory=dict)
    converts_on: tuple[str, ...] = ()
    window_days: int = 0

    @property
    def event_types(self) -> tuple[str, ...]:
        return self.converts_on

    @property
    def apps(self) -> tuple[str, ...]:
        return (self.shown_in, self.target_app)

    def marks(self, event_type: str, payload: Mapping[str, object]) -> tuple[str, ...]:
        return ()

    def is_due(self, journey: UserJourney, at: datetime) -> bool:
        return journey.has_activity_in(self.shown_in) and not journey.has_activity_in(
            self.target_app
        )


def message_in(messages: Mapping[str, str], language: str) -> str | None:
    """The message in ``language``, else the French one (which every wording should have);
    None when there is neither."""
    return messages.get(language) or messages.get(DEFAULT_LANGUAGE) or None
