"""What an app is shown, and what its displays achieve: the rules, for the stores that
keep them in Python.

PostgreSQL keeps these rules in SQL, where every client reads them
(``phoenix_active_nudges``, ``phoenix_mark_nudge_shown``, the view
``phoenix_nudge_outcomes``); the embedded SQLite store and the in-memory fakes of the
tests have this module instead. One contract suite runs the same scenarios against both
homes, so they give the same answers. Pure functions over rows: the adapters read the rows
and write what these functions decide.

* **Cooldown**: a nudge displayed less than ``cooldown_hours`` ago is hidden; a second
  display within it is not recorded (``needs_display``).
* **Daily cap**: at most ``max_per_day`` distinct nudges displayed to a user in an app in
  the last 24 hours; one already displayed then does not take a second slot.
* **Choice under the cap**: the worker's nudges compete by the rank drawn at their
  detection (``src.domain.nudge_choice``), highest first; equal ranks (nudges detected
  before ranks existed) by detection time.
* **Wording**: a nudge shows the message of its variant in the language asked, else in
  French; a variant no longer in the experiment shows the experiment's first one; a nudge
  type without experiment shows its default wording, as variant ``default``.
* **Degraded mode**: before the worker has detected a nudge, a rule that the events alone
  decide (``cross_app``: active in one app, never in the other) is offered as the nudge
  the worker will detect, with the very id it will have; its display counts for it.
* **Attribution**: a nudge's exposure is its first display, unless the user had already
  reached the target then; reaching the target after the exposure and within
  ``attribution_days`` converts it, any other reach is organic.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from src.application.ports.nudges import ActiveNudge, NudgeRecord, NudgeSettings
from src.domain.nudges import message_in
from src.domain.user_journey import nudge_id

CROSS_APP = "cross_app"
"""A nudge type whose rule the events alone decide, without the worker's journeys."""
JOURNEY = "journey"
"""A nudge type only the worker's journeys can decide (windows, payloads, conversions)."""
DEFAULT_VARIANT = "default"
CAP_WINDOW = timedelta(days=1)

Outcome = Literal["converted", "organic"]


@dataclass(frozen=True)
class NudgeTypeEntry:
    """A nudge type as the store's catalogue holds it."""

    nudge_type: str
    shown_in: str
    target_app: str
    kind: str
    messages: Mapping[str, str]


@dataclass(frozen=True)
class VariantEntry:
    """A wording of a nudge type's experiment, as the worker published it."""

    nudge_type: str
    variant: str
    position: int
    messages: Mapping[str, str]
    mode: str = "ab"
    weight: float = 1.0


@dataclass(frozen=True)
class NudgeRules:
    """What the store publishes for the rules to read."""

    settings: NudgeSettings
    nudge_types: Mapping[str, NudgeTypeEntry]
    variants: Sequence[VariantEntry]


@dataclass(frozen=True)
class Display:
    nudge_id: str
    app: str
    shown_at: datetime


@dataclass(frozen=True)
class UserNudges:
    """What the rules read of one user."""

    nudges: Sequence[NudgeRecord]
    """The worker's nudges for the user, of every status and app."""
    displays: Sequence[Display]
    """Every display of the user's nudges (worker nudges and offers)."""
    active_apps: Collection[str]
    """The apps the user has events in, twins and dead events aside (pending included)."""
    offered: Mapping[str, str] = field(default_factory=dict)
    """The variant of each offer recorded for the user, by nudge id: shown again, an offer
    keeps the wording it had."""


@dataclass(frozen=True)
class Offer:
    """A degraded-mode opportunity as shown: recorded so that its display can be, and so
    that the worker keeps the wording the user saw."""

    nudge_id: str
    user_id: str
    nudge_type: str
    shown_in: str
    target_app: str
    variant: str


@dataclass(frozen=True)
class _Candidate:
    nudge_id: str
    nudge_type: str
    target_app: str
    variant: str
    offer: Offer | None


def nudges_to_show(
    user_id: str,
    app: str,
    language: str,
    now: datetime,
    user: UserNudges,
    rules: NudgeRules,
) -> tuple[list[ActiveNudge], list[Offer]]:
    """The nudges to show ``user_id`` in ``app`` now, and the offers among them.

    The worker's active nudges first (by rank, highest first, then detection time, then
    type), then the degraded mode's offers (by type); the cooldown hides, the cap keeps
    the first ones.
    """
    worker = sorted(
        (n for n in user.nudges if n.shown_in == app and n.status == "active"),
        key=lambda n: (-n.rank, n.detected_at, n.nudge_type, n.nudge_id),
    )
    candidates = [
        _Candidate(n.nudge_id, n.nudge_type, n.target_app, n.variant, None) for n in worker
    ]
    for entry in opportunities(user, rules.nudge_types.values()):
        if entry.shown_in != app:
            continue
        offered_id = nudge_id(user_id, entry.nudge_type)
        offer = Offer(
            offered_id,
            user_id,
            entry.nudge_type,
            entry.shown_in,
            entry.target_app,
            user.offered[offered_id]
            if offered_id in user.offered
            else first_variant(entry.nudge_type, rules.variants),
        )
        candidates.append(
            _Candidate(offer.nudge_id, entry.nudge_type, entry.target_app, offer.variant, offer)
        )
    cooldown = timedelta(hours=rules.settings.cooldown_hours)
    recent = {d.nudge_id for d in user.displays if d.shown_at > now - cooldown}
    shown_today = {
        d.nudge_id for d in user.displays if d.app == app and d.shown_at > now - CAP_WINDOW
    }
    room = rules.settings.max_per_day - len(shown_today)
    shown: list[ActiveNudge] = []
    offers: list[Offer] = []
    for candidate in candidates:
        if candidate.nudge_id in recent:
            continue
        if candidate.nudge_id not in shown_today:
            if room <= 0:
                continue
            room -= 1
        variant, message = wording(candidate.nudge_type, candidate.variant, language, rules)
        shown.append(
            ActiveNudge(
                candidate.nudge_id, candidate.nudge_type, candidate.target_app, message, variant
            )
        )
        if candidate.offer is not None:
            offers.append(candidate.offer)
    return shown, offers


def opportunities(
    user: UserNudges, nudge_types: Collection[NudgeTypeEntry]
) -> list[NudgeTypeEntry]:
    """The degraded mode: nudge types the events alone decide, due for this user, that the
    worker has not detected for them (whatever became of the nudge since), by type."""
    detected = {n.nudge_type for n in user.nudges}
    return sorted(
        (
            entry
            for entry in nudge_types
            if entry.kind == CROSS_APP
            and entry.nudge_type not in detected
            and entry.shown_in in user.active_apps
            and entry.target_app not in user.active_apps
        ),
        key=lambda entry: entry.nudge_type,
    )


def wording(nudge_type: str, variant: str, language: str, rules: NudgeRules) -> tuple[str, str]:
    """(variant, message) a nudge of ``variant`` shows in ``language``."""
    of_type = sorted(
        (v for v in rules.variants if v.nudge_type == nudge_type), key=lambda v: v.position
    )
    chosen = next((v for v in of_type if v.variant == variant), of_type[0] if of_type else None)
    if chosen is not None:
        return chosen.variant, message_in(chosen.messages, language) or nudge_type
    entry = rules.nudge_types.get(nudge_type)
    messages: Mapping[str, str] = entry.messages if entry is not None else {}
    return variant or DEFAULT_VARIANT, message_in(messages, language) or nudge_type


def first_variant(nudge_type: str, variants: Sequence[VariantEntry]) -> str:
    """The experiment's first variant ('' when the nudge type runs no experiment)."""
    of_type = [v for v in variants if v.nudge_type == nudge_type]
    return min(of_type, key=lambda v: v.position).variant if of_type else ""


def needs_display(displays: Sequence[Display], now: datetime, settings: NudgeSettings) -> bool:
    """Whether a display of the nudge is to be recorded: not when one was within the
    cooldown (the app showed it again, on a rerun or a reload)."""
    cooldown = timedelta(hours=settings.cooldown_hours)
    return not any(d.shown_at > now - cooldown for d in displays)


def exposed_at(first_shown: datetime | None, reached_at: datetime | None) -> datetime | None:
    """The exposure: the first display, unless the user had reached the target before."""
    if first_shown is None or (reached_at is not None and first_shown > reached_at):
        return None
    return first_shown


def outcome(
    first_shown: datetime | None, reached_at: datetime | None, attribution_days: int
) -> Outcome | None:
    """Whether reaching the target converts the nudge, or happened on its own (organic);
    None while the user has not reached it."""
    if reached_at is None:
        return None
    exposure = exposed_at(first_shown, reached_at)
    if exposure is not None and reached_at <= exposure + timedelta(days=attribution_days):
        return "converted"
    return "organic"
