"""``phoenix-flywheel demo``: a realistic sample, processed, shown in readable text."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from src.application.processing.summary import DrainSummary
from src.entrypoints.bootstrap import Container
from src.entrypoints.cli.output import format_experiments

# (user, app_source, event_type, payload, hours ago)
SAMPLE: tuple[tuple[str, str, str, dict[str, object], int], ...] = (
    ("alice", "phoenix-letters", "letter.generated", {"company": "Airbus", "words": 320}, 30),
    ("alice", "phoenix-letters", "job_offer.analyzed", {"match_score": 0.82}, 29),
    ("alice", "phoenix-letters", "letter.generated", {"company": "Thales", "words": 290}, 5),
    ("bruno", "phoenix-cv", "cv.uploaded", {"pages": 2, "format": "pdf"}, 26),
    ("bruno", "phoenix-cv", "cv.generated", {"template": "modern"}, 25),
    ("chloe", "phoenix-cv", "cv.uploaded", {"pages": 1, "format": "docx"}, 20),
    ("chloe", "phoenix-letters", "letter.generated", {"company": "Decathlon", "words": 350}, 4),
    ("david", "phoenix-letters", "job_offer.analyzed", {"match_score": 0.64}, 12),
    ("emma", "phoenix-letters", "letter.generated", {"company": "SNCF", "words": 410}, 2),
)
# The same click sent twice: the store keeps one.
DOUBLE_CLICK = 0
# After seeing their nudge: Alice makes her CV (a conversion), David does too.
FOLLOW_UP = (
    ("alice", "phoenix-cv", "cv.uploaded"),
    ("david", "phoenix-cv", "cv.generated"),
)
# Letter writers beyond the named few, so the experiment has figures to compare.
COHORT = 30
COHORT_ACTING = range(0, COHORT, 3)
"""The letter writers who later upload a CV."""
EVENTS_WRITTEN = len(SAMPLE) + COHORT + len(FOLLOW_UP) + len(COHORT_ACTING)
"""Events a run stores (its double click is refused as a duplicate)."""


def run(
    container: Container,
    drain: Callable[[Container], DrainSummary],
    format_summary: Callable[[DrainSummary], str],
) -> int:
    run_id = secrets.token_hex(2)
    now = datetime.now(UTC)
    raw_events: list[dict[str, object]] = [
        {
            "event_type": event_type,
            "app_source": app,
            "user_id": f"{user}-{run_id}",
            "payload": payload,
            "timestamp": (now - timedelta(hours=hours)).isoformat(),
            "idempotency_key": f"demo-{run_id}-{index}",
        }
        for index, (user, app, event_type, payload, hours) in enumerate(SAMPLE)
    ]
    raw_events.append(dict(raw_events[DOUBLE_CLICK]))
    cohort = [f"writer{index:02d}-{run_id}" for index in range(COHORT)]
    cohort_events: list[dict[str, object]] = [
        {
            "event_type": "letter.generated",
            "app_source": "phoenix-letters",
            "user_id": user,
            "timestamp": (now - timedelta(hours=3)).isoformat(),
        }
        for user in cohort
    ]
    print(f"== Sample events (demo run {run_id}) ==")
    for raw in raw_events:
        user, app, kind = raw["user_id"], raw["app_source"], raw["event_type"]
        print(f"  {user:<12} {app:<16} {kind:<20} {raw['payload']}")
    print(f"  ... and {COHORT} more letter writers (writer00-{run_id} to ...), one letter each")
    result = container.ingestion().publish(raw_events + cohort_events)
    print(f"stored {result.accepted} events; {result.duplicates} refused as duplicates (same hash)")
    print()
    print("== Processing the queue ==")
    print(format_summary(drain(container)))
    print()
    queries = container.queries()
    print("== Nudges to show (each app displays them: a first display is an exposure) ==")
    users = sorted({str(raw["user_id"]) for raw in raw_events})
    for user in users:
        journey = queries.get_journey(user)
        for app in journey.apps:
            for nudge in queries.list_active_nudges(user, app):
                print(
                    f"  {user:<12} in {app:<16} {nudge.nudge_type:<14} "
                    f"[{nudge.variant}] « {nudge.message} »"
                )
                queries.record_nudge_shown(nudge.nudge_id)
        reached = [n.nudge_type for n in journey.nudges if n.status == "converted"]
        if reached:
            print(f"  {user:<12} used the other app on their own: {', '.join(reached)}")
    for user in cohort:
        for nudge in queries.list_active_nudges(user, "phoenix-letters"):
            queries.record_nudge_shown(nudge.nudge_id)
    print(f"  (the {COHORT} letter writers are shown theirs too)")
    print()
    print("== Later: users act on what they were shown ==")
    later = datetime.now(UTC)
    acting: list[dict[str, object]] = [
        {
            "event_type": event_type,
            "app_source": app,
            "user_id": f"{user}-{run_id}",
            "timestamp": later.isoformat(),
            "idempotency_key": f"demo-{run_id}-later-{user}",
        }
        for user, app, event_type in FOLLOW_UP
    ]
    acting += [
        {
            "event_type": "cv.uploaded",
            "app_source": "phoenix-cv",
            "user_id": user,
            "timestamp": later.isoformat(),
        }
        for user in (cohort[index] for index in COHORT_ACTING)
    ]
    for raw in acting[: len(FOLLOW_UP)]:
        print(f"  {raw['user_id']:<12} {raw['app_source']:<16} {raw['event_type']}")
    print(f"  ... and {len(COHORT_ACTING)} of the {COHORT} letter writers upload a CV")
    container.ingestion().publish(acting)
    print(format_summary(drain(container)))
    print()
    print("== Ecosystem, last 30 days ==")
    figures = queries.get_ecosystem(30)
    print(
        f"  events {figures.total_events}, users {figures.unique_users}, "
        f"cross-app users {figures.cross_app_users}"
    )
    print(f"  by app:  {dict(figures.events_by_app)}")
    print(f"  by type: {dict(figures.events_by_type)}")
    print(
        f"  nudges:  detected {figures.nudges_detected}, shown {figures.nudges_shown}, "
        f"converted {figures.nudges_converted}, organic {figures.nudges_organic}"
    )
    print()
    print("== Experiments on the nudge messages ==")
    print(format_experiments(queries.list_experiments()))
    return 0
