"""Phoenix CV: CV upload and generation."""

from __future__ import annotations

from src.domain.catalogue import AppModule, EventType
from src.domain.experiments import Experiment, Variant
from src.domain.nudges import CrossAppNudgeRule
from src.domain.user_journey import UserJourney


class CvUploaded(UserJourney.ActivityRecorded):
    """The user uploaded a CV."""


class CvGenerated(UserJourney.ActivityRecorded):
    """The user generated a new CV."""


# The default wording of cv_to_letters, and the first variant of its experiment.
COMPLETE = {
    "fr": "Complétez votre candidature avec une lettre Phoenix Letters !",
    "en": "Complete your application with a Phoenix Letters cover letter!",
}


APP = AppModule(
    app_source="phoenix-cv",
    title="Phoenix CV",
    event_types=(
        EventType("cv.uploaded", CvUploaded, "a CV was uploaded"),
        EventType("cv.generated", CvGenerated, "a CV was generated"),
    ),
    nudge_rules=(
        CrossAppNudgeRule(
            nudge_type="cv_to_letters",
            shown_in="phoenix-cv",
            target_app="phoenix-letters",
            messages=COMPLETE,
        ),
    ),
    experiments=(
        Experiment(
            "cv_to_letters",
            "ab",
            (
                Variant("complete", COMPLETE),
                Variant(
                    "stand_out",
                    {
                        "fr": "Démarquez-vous avec une lettre de motivation Phoenix Letters !",
                        "en": "Stand out with a Phoenix Letters cover letter!",
                    },
                ),
            ),
        ),
    ),
)
