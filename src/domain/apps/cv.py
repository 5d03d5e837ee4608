"""Phoenix CV: CV upload and generation."""

from __future__ import annotations

from src.domain.catalogue import AppModule, EventType, PayloadField
from src.domain.experiments import Experiment, Variant
from src.domain.nudges import CrossAppNudgeRule
from src.domain.rule_data import rule_from_data
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

# The default wording of skills_gap_to_cv, and the first variant of its experiment.
GAP = {
    "fr": "Une offre analysée demande des compétences que votre CV ne montre pas : "
    "complétez-le avec Phoenix CV !",
    "en": "An offer you analysed asks for skills your CV does not show: "
    "complete it with Phoenix CV!",
}

# What a CV event may carry for the skills gap (all optional): the app's id of the CV,
# its skills as a list of texts, or its text for an extractor to read them from.
CV_FIELDS = (
    PayloadField("cv_id", "text", required=False),
    PayloadField("skills", "text_list", required=False),
    PayloadField("cv_text", "text", required=False),
)

# Fires on the skills-gap analyser's insight when the offer asks for something the CV
# lacks; a new CV generated in Phoenix CV converts it. Declared as data, as a rules file
# would declare it.
SKILLS_GAP_TO_CV = rule_from_data(
    "skills_gap_to_cv",
    {
        "shown_in": "phoenix-cv",
        "target_app": "phoenix-cv",
        "when": [
            {
                "insight": "skills_gap",
                "where": [{"field": "missing_count", "op": ">=", "value": 1}],
            }
        ],
        "converts_on": ["cv.generated"],
        "messages": GAP,
    },
)


APP = AppModule(
    app_source="phoenix-cv",
    title="Phoenix CV",
    event_types=(
        EventType("cv.uploaded", CvUploaded, "a CV was uploaded", CV_FIELDS),
        EventType("cv.generated", CvGenerated, "a CV was generated", CV_FIELDS),
    ),
    nudge_rules=(
        CrossAppNudgeRule(
            nudge_type="cv_to_letters",
            shown_in="phoenix-cv",
            target_app="phoenix-letters",
            messages=COMPLETE,
        ),
        SKILLS_GAP_TO_CV,
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
        Experiment(
            "skills_gap_to_cv",
            "ab",
            (
                Variant("complete", GAP),
                Variant(
                    "land_it",
                    {
                        "fr": "Montrez au recruteur ce qu'il cherche : ajoutez ces compétences "
                        "à votre CV Phoenix CV.",
                        "en": "Show the recruiter what they are looking for: add these skills "
                        "to your Phoenix CV.",
                    },
                ),
            ),
        ),
    ),
)
