"""Phoenix Letters: cover letters and job-offer analysis."""

from __future__ import annotations

from src.domain.catalogue import AppModule, EventType, PayloadField
from src.domain.experiments import Experiment, Variant
from src.domain.nudges import CrossAppNudgeRule
from src.domain.user_journey import UserJourney


class LetterGenerated(UserJourney.ActivityRecorded):
    """The user generated a cover letter."""


class JobOfferAnalyzed(UserJourney.ActivityRecorded):
    """The user had a job offer analysed (Mirror Match)."""


# The default wording of letters_to_cv, and the first variant of its experiment.
CHANCES = {
    "fr": "Optimisez vos chances avec Phoenix CV !",
    "en": "Boost your chances with Phoenix CV!",
}


APP = AppModule(
    app_source="phoenix-letters",
    title="Phoenix Letters",
    event_types=(
        EventType("letter.generated", LetterGenerated, "a cover letter was generated"),
        EventType(
            "job_offer.analyzed",
            JobOfferAnalyzed,
            "a job offer was analysed",
            # What the skills gap reads (all optional): the offer's id, title, company,
            # its skills as a list of texts, or its text for an extractor.
            payload_fields=(
                PayloadField("offer_id", "text", required=False),
                PayloadField("title", "text", required=False),
                PayloadField("company", "text", required=False),
                PayloadField("skills", "text_list", required=False),
                PayloadField("offer_text", "text", required=False),
            ),
        ),
    ),
    nudge_rules=(
        CrossAppNudgeRule(
            nudge_type="letters_to_cv",
            shown_in="phoenix-letters",
            target_app="phoenix-cv",
            messages=CHANCES,
        ),
    ),
    experiments=(
        Experiment(
            "letters_to_cv",
            "ab",
            (
                Variant("chances", CHANCES),
                Variant(
                    "difference",
                    {
                        "fr": "Un CV soigné fait la différence : créez le vôtre avec Phoenix CV !",
                        "en": "A polished CV makes the difference: build yours with Phoenix CV!",
                    },
                ),
            ),
        ),
    ),
)
