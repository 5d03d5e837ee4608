"""Request and response bodies of the HTTP API, field for field as docs/http-api.md lists them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from litestar.datastructures import CacheControlHeader
from pydantic import BaseModel, ConfigDict, Field

PERSONAL_DATA = CacheControlHeader(no_store=True)
"""The ``Cache-Control`` of every answer about a user (journeys, nudges, insights)."""

MAX_BATCH = 1000
# A batch of 1,000 events with ordinary payloads is far below this; a body of several
# megabytes is refused (413) as it streams in, without being read whole.
MAX_BODY_BYTES = 4 * 1024 * 1024


class EventIn(BaseModel):
    """One event as an app publishes it; the flywheel adds everything else. Any other
    field is refused (400 naming it): a misspelt one would be lost without a word."""

    model_config = ConfigDict(extra="forbid")

    event_type: str = Field(description="a catalogue event type, e.g. letter.generated")
    app_source: str = Field(description="the publishing app, e.g. phoenix-letters")
    user_id: str = Field(description="the app's user id")
    payload: dict[str, Any] | None = Field(
        None, description="a JSON object of at most 64 KiB; empty when omitted"
    )
    timestamp: datetime | None = Field(
        None, description="when it happened (ISO-8601); the time of receipt when omitted"
    )
    idempotency_key: str | None = Field(
        None, description="tells two genuine, identical events apart (e.g. the letter id)"
    )


class IngestIn(BaseModel):
    """Either one event (its fields at the top level) or `{"events": [...]}`; any other
    field is refused."""

    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] | None = Field(
        None, max_length=MAX_BATCH, description=f"a batch of at most {MAX_BATCH} events"
    )
    event_type: str | None = Field(None, description="for a single event: see EventIn")
    app_source: str | None = None
    user_id: str | None = None
    payload: dict[str, Any] | None = None
    timestamp: datetime | None = None
    idempotency_key: str | None = None


class IngestOut(BaseModel):
    """What became of the events of one ingest request."""

    accepted: int = Field(description="events stored")
    duplicates: int = Field(description="events refused because the same hash is stored")


class HealthOut(BaseModel):
    """Liveness of the service, its store and its worker.

    503 with `starting` while the store is being opened just after start-up, 503 with
    `degraded` when the store is down or not migrated; 200 with `degraded` when the store
    answers but every drain of the worker fails (see `last_error`).
    """

    status: Literal["ok", "starting", "degraded"]
    database: str = Field(
        description='"ok", "starting" (being opened just after start-up), "unreachable" '
        '(the reason goes to the server log only), or "not migrated: run '
        '`phoenix-flywheel migrate`"'
    )
    worker: Literal["running", "stopped", "external"] = Field(
        description='"external" when this server runs the API alone (`serve --no-worker`): '
        "its workers are processes of their own"
    )
    version: str
    last_error: str | None = Field(
        None,
        description="what kind of error the worker's drains fail with (the store "
        "unreachable, or the error's type); its text goes to the server log only, since it "
        "may name the database's host, port and user; null while drains succeed",
    )
    failing_since: datetime | None = Field(
        None, description="when the worker's drains started failing; null while they succeed"
    )
    failing_for_seconds: float | None = Field(
        None, description="how long the worker's drains have been failing"
    )


class QueueStatusOut(BaseModel):
    """How many events are in each state of `phoenix_events`."""

    pending: int
    processing: int
    processed: int
    duplicates: int
    failed: int = Field(description="failed, waiting for a retry")
    dead: int = Field(description="out of attempts; see ai_processing_error")
    oldest_pending_age_seconds: float | None = Field(description="null when nothing is pending")


class DrainOut(BaseModel):
    """What one drain of the queue did."""

    processed: int
    duplicates: int
    failed: int
    dead: int
    duration_ms: float


class ReprocessIn(BaseModel):
    """Which events to put back in the queue: exactly one of the three selectors."""

    model_config = ConfigDict(extra="forbid")

    event_ids: list[int] | None = Field(None, description="these events")
    since: datetime | None = Field(None, description="events that happened since then")
    status: Literal["failed", "dead"] | None = Field(None, description="every event in it")


class ReprocessOut(BaseModel):
    """How many events were put back in the queue."""

    requeued: int


class NudgeFigures(BaseModel):
    """The nudge funnel: detected, exposed, converted because of it, or organically."""

    detected: int
    shown: int = Field(description="exposures: nudges displayed at least once")
    converted: int = Field(
        description="the user acted in the target after the exposure, within NUDGE_ATTRIBUTION_DAYS"
    )
    organic: int = Field(
        0, description="the user acted in the target without exposure, or after the window"
    )


class EcosystemOut(BaseModel):
    """Ecosystem figures over the last `period_days` days."""

    period_days: int
    total_events: int
    unique_users: int
    cross_app_users: int = Field(description="users active in more than one app")
    events_by_app: dict[str, int]
    events_by_type: dict[str, int]
    nudges: NudgeFigures
    app_combinations: dict[str, int] = Field(
        default_factory=dict,
        description="per combination of two or more apps active in the period (names "
        "sorted, joined by `+`): users active in each of them",
    )


class JourneyEventOut(BaseModel):
    """One processed event of a journey."""

    event_type: str
    app_source: str
    timestamp: datetime


class JourneyNudgeOut(BaseModel):
    """A nudge detected for the user, and whether it converted."""

    nudge_id: str
    nudge_type: str
    target_app: str
    status: Literal["active", "converted"]
    detected_at: datetime
    converted_at: datetime | None


class JourneyInsightOut(BaseModel):
    """An insight an analyser raised for the user, with its message in each language."""

    insight_id: str
    kind: str
    data: dict[str, Any]
    messages: dict[str, str] = Field(description="the message per language: fr, en")
    created_at: datetime


class JourneyOut(BaseModel):
    """A user's journey across the Phoenix apps."""

    user_id: str
    apps: list[str]
    events: list[JourneyEventOut]
    nudges: list[JourneyNudgeOut]
    insights: list[JourneyInsightOut] = Field(default_factory=list)


class InsightOut(BaseModel):
    """An insight to show the user (the skills an offer asks for that their CV lacks ...)."""

    insight_id: str = Field(description="derived from the kind and the source events' hashes")
    kind: str = Field(description="what was analysed, e.g. skills_gap")
    data: dict[str, Any] = Field(description="the kind's own fields, e.g. missing, score")
    message: str = Field(description="in the language asked, else in French")
    created_at: datetime


class NudgeOut(BaseModel):
    """A nudge an app should show now."""

    nudge_id: str
    nudge_type: str
    target_app: str = Field(description="the app the nudge suggests")
    message: str
    variant: str = Field(description="the experiment's variant this user was given")


class ShownOut(BaseModel):
    """A display of a nudge, as recorded in `phoenix_nudges_sent`."""

    nudge_id: str
    shown_at: datetime


class RemovedOut(BaseModel):
    """Rows removed, per kind: all zero for a user already forgotten, or never seen."""

    events: int = Field(description="rows of phoenix_events, whatever their status")
    journey_events: int = Field(description="stored events of the user's journey stream")
    journey_snapshots: int = Field(description="snapshots of the user's journey")
    journey_entries: int = Field(description="rows of the journey read model")
    nudges: int = Field(description="nudges detected for the user")
    nudges_sent: int = Field(description="displays of those nudges")
    applied_events: int = Field(
        description="the user's source events the journeys applied, kept to count each once"
    )
    nudge_offers: int = Field(
        description="nudges offered to the user before the worker detected them"
    )
    skills_extractions: int = Field(
        description="skills a language model read from the user's offers and CVs (cached)"
    )
    insights: int = Field(0, description="insights the analysers raised for the user")
    skill_profiles: int = Field(
        0, description="skills noted from the user's offers and CVs for the skills gap"
    )


class ForgetOut(BaseModel):
    """What forgetting a user removed; nothing about them remains."""

    user_id: str
    removed: RemovedOut


class ErrorOut(BaseModel):
    """Every error answer (4xx, 5xx): what is wrong, and the field at fault."""

    error: str = Field(description="what is wrong, in one line")
    field: str | None = Field(None, description="the offending field, when there is one")


class VariantResultOut(BaseModel):
    """One wording of an experiment and how it converts."""

    variant: str
    message: str = Field(description="its French message (or the `lang` asked for)")
    assigned: int = Field(description="nudges detected with this variant")
    exposed: int = Field(description="of those, displayed at least once")
    converted: int = Field(description="of those, acted on after exposure, within the window")
    conversion_rate: float | None = Field(description="converted / exposed; null if none")
    ci_low: float = Field(description="95 % Wilson interval of the rate, low end")
    ci_high: float = Field(description="95 % Wilson interval of the rate, high end")
    probability_best: float = Field(description="chance its true rate is the highest")
    p_value: float | None = Field(
        description="two-proportion test against the first variant; null for the first"
    )


class SlotsOut(BaseModel):
    """How a nudge type fares when nudges compete for a user's slots under the daily cap."""

    nudge_type: str
    detected: int = Field(description="nudges of this type detected")
    won: int = Field(description="slots won: of those, exposed (displayed at least once)")
    share: float | None = Field(description="its part of all the slots won; null if none")
    converted: int = Field(description="of those exposed, acted on within the window")
    conversion_rate: float | None = Field(description="converted / won; null if none")
    ci_low: float = Field(description="95 % Wilson interval of the rate, low end")
    ci_high: float = Field(description="95 % Wilson interval of the rate, high end")
    probability_best: float = Field(
        description="chance it converts best of all nudge types: its expected share of "
        "the contests, exploration aside"
    )


class ExperimentOut(BaseModel):
    """An experiment on one nudge type's messages."""

    nudge_type: str
    mode: Literal["ab", "bandit"]
    attribution_days: int
    variants: list[VariantResultOut]
    slots: SlotsOut | None = Field(
        None, description="the nudge type's slots under the daily cap, all variants together"
    )
