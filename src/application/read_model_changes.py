"""What the read models gain from a run of journey events: one translation, two users.

The projector translates the notifications it pulls; a journey save on PostgreSQL
translates the events it is about to store, so the views change in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable

from src.application.ports.nudges import NudgeRecord
from src.application.ports.read_models import InsightRecord, JourneyEntry, ReadModelChanges
from src.domain.user_journey import UserJourney

PROJECTION_NAME = "journey_read_models"
"""The tracking row of the read models' projection."""


def read_model_changes(events: Iterable[object]) -> ReadModelChanges:
    changes = ReadModelChanges()
    for event in events:
        if isinstance(event, UserJourney.ActivityRecorded):
            changes.entries.append(
                JourneyEntry(
                    user_id=event.user_id,
                    event_hash=event.event_hash,
                    event_type=event.event_type,
                    app_source=event.app_source,
                    timestamp=event.occurred_at,
                )
            )
        elif isinstance(event, UserJourney.NudgeDetected):
            changes.nudges.append(
                NudgeRecord(
                    nudge_id=event.nudge_id,
                    user_id=event.user_id,
                    nudge_type=event.nudge_type,
                    shown_in=event.shown_in,
                    target_app=event.target_app,
                    status="active",
                    detected_at=event.detected_at,
                    variant=event.variant,
                    rank=event.rank,
                )
            )
        elif isinstance(event, UserJourney.NudgeConverted):
            changes.conversions.append((event.nudge_id, event.converted_at))
        elif isinstance(event, UserJourney.InsightRaised):
            changes.insights.append(
                InsightRecord(
                    insight_id=event.insight_id,
                    user_id=event.user_id,
                    kind=event.kind,
                    source_hashes=list(event.source_hashes),
                    data=dict(event.data),
                    messages=dict(event.messages),
                    created_at=event.created_at,
                )
            )
    return changes
