"""Phoenix Rise: coaching, meditation and journaling.

Its nudges look at well-being over time: a run of stressful journal entries without a
meditation since, or a burst of cover letters from someone who never tried Rise.
"""

from __future__ import annotations

from src.domain.catalogue import AppModule, EventType, PayloadField
from src.domain.experiments import Experiment, Variant
from src.domain.rules import ActiveIn, ActivityNudgeRule, Count, Where
from src.domain.user_journey import UserJourney

RISE = "phoenix-rise"
HIGH_STRESS = 7


class CoachingSessionHeld(UserJourney.ActivityRecorded):
    """The user had a coaching session."""


class MeditationCompleted(UserJourney.ActivityRecorded):
    """The user completed a meditation."""


class JournalEntryWritten(UserJourney.ActivityRecorded):
    """The user wrote a journal entry, rating their stress from 0 to 10."""


# The default wordings of Rise's nudges, each the first variant of its experiment.
MEDITATE = {
    "fr": "Vous semblez sous pression : prenez dix minutes pour méditer.",
    "en": "You seem under pressure: take ten minutes to meditate.",
}
PACE = {
    "fr": "Une recherche intense ? Phoenix Rise vous aide à tenir le rythme.",
    "en": "An intense job search? Phoenix Rise helps you keep up the pace.",
}


APP = AppModule(
    app_source=RISE,
    title="Phoenix Rise",
    event_types=(
        EventType("rise.coaching_session", CoachingSessionHeld, "a coaching session was held"),
        EventType("rise.meditation", MeditationCompleted, "a meditation was completed"),
        EventType(
            "rise.journal_entry",
            JournalEntryWritten,
            "a journal entry was written",
            payload_fields=(PayloadField("stress_level", "integer", minimum=0, maximum=10),),
        ),
    ),
    nudge_rules=(
        ActivityNudgeRule(
            nudge_type="stress_relief",
            shown_in=RISE,
            target_app=RISE,
            when=(
                Count(
                    ("rise.journal_entry",),
                    at_least=3,
                    within_days=7,
                    where=(Where("stress_level", ">=", HIGH_STRESS),),
                ),
            ),
            unless_since=("rise.meditation",),
            converts_on=("rise.meditation",),
            messages=MEDITATE,
        ),
        ActivityNudgeRule(
            nudge_type="letters_to_rise",
            shown_in="phoenix-letters",
            target_app=RISE,
            when=(Count(("letter.generated",), at_least=5, within_days=7),),
            unless=(ActiveIn(RISE),),
            messages=PACE,
        ),
    ),
    experiments=(
        Experiment(
            "stress_relief",
            "ab",
            (
                Variant("meditate", MEDITATE),
                Variant(
                    "breathe",
                    {
                        "fr": "Une pause s'impose : une méditation guidée vous attend dans "
                        "Phoenix Rise.",
                        "en": "Time for a break: a guided meditation is waiting for you in "
                        "Phoenix Rise.",
                    },
                ),
            ),
        ),
        Experiment(
            "letters_to_rise",
            "ab",
            (
                Variant("pace", PACE),
                Variant(
                    "coach",
                    {
                        "fr": "Beaucoup de candidatures cette semaine : un coach Phoenix Rise "
                        "peut vous épauler.",
                        "en": "Lots of applications this week: a Phoenix Rise coach can back "
                        "you up.",
                    },
                ),
            ),
        ),
    ),
)
