"""Phoenix CV: CV upload and generation."""

from __future__ import annotations

from src.domain.catalogue import AppModule, EventType
from src.domain.nudges import CrossAppNudgeRule
from src.domain.user_journey import UserJourney


class CvUploaded(UserJourney.ActivityRecorded):
    """The user uploaded a CV."""


class CvGenerated(UserJourney.ActivityRecorded):
    """The user generated a new CV."""


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
            messages={
                "fr": "Complétez votre candidature avec une lettre Phoenix Letters !",
                "en": "Complete your application with a Phoenix Letters cover letter!",
            },
        ),
    ),
)
