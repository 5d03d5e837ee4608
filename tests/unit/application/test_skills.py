"""What every skills matcher shares: cleaning what apps send, and the comparison's result."""

from __future__ import annotations

import pytest

from src.application.skills import (
    MAX_SKILL_CHARS,
    MAX_SKILLS,
    ExtractionKey,
    SkillComparison,
    SkillListInvalidError,
    clean_skills,
)
from src.domain.errors import PayloadInvalidError


def test_clean_skills_strips_collapses_and_drops_blanks_and_repeats() -> None:
    raw = ["  Python ", "", "   ", "python", "Gestion   de\tprojet", "PYTHON", "-", "•", "SQL"]
    assert clean_skills(raw) == ("Python", "Gestion de projet", "SQL")


def test_clean_skills_keeps_the_first_spelling_and_the_apps_order() -> None:
    assert clean_skills(["anglais", "Docker", "Anglais"]) == ("anglais", "Docker")


def test_clean_skills_caps_the_count_and_the_length() -> None:
    many = [f"skill {n}" for n in range(MAX_SKILLS + 50)]
    assert clean_skills(many) == tuple(many[:MAX_SKILLS])
    long_item = "x" * (MAX_SKILL_CHARS * 10)
    assert clean_skills([long_item]) == ("x" * MAX_SKILL_CHARS,)


def test_repeats_do_not_count_towards_the_cap() -> None:
    raw = ["same"] * (MAX_SKILLS * 3) + ["other"]
    assert clean_skills(raw) == ("same", "other")


def test_no_skills_field_is_no_skills() -> None:
    assert clean_skills(None) == ()
    assert clean_skills([]) == ()


@pytest.mark.parametrize("value", ["Python, SQL", {"skills": ["Python"]}, 3])
def test_anything_but_a_list_is_refused_naming_the_field(value: object) -> None:
    with pytest.raises(SkillListInvalidError) as caught:
        clean_skills(value, field="payload.skills")
    assert caught.value.field == "payload.skills"
    # An app's mistake: the ingest maps it to a 400 / exit 2 like any payload error.
    assert isinstance(caught.value, PayloadInvalidError)


def test_an_item_that_is_not_a_string_is_refused_naming_its_position() -> None:
    with pytest.raises(SkillListInvalidError) as caught:
        clean_skills(["Python", 42], field="payload.skills")
    assert caught.value.field == "payload.skills[1]"


def test_comparison_keeps_the_offers_words_and_order() -> None:
    offer = ("Python", "SQL", "Docker", "anglais")
    comparison = SkillComparison.from_verdicts(offer, [True, False, False, False])
    assert comparison.missing == ("SQL", "Docker", "anglais")
    assert comparison.matched == ("Python",)
    assert comparison.score == 0.25


def test_an_offer_that_asks_for_nothing_lacks_nothing() -> None:
    comparison = SkillComparison.from_verdicts((), [])
    assert comparison == SkillComparison(missing=(), matched=(), score=1.0)


def test_one_verdict_per_offer_skill() -> None:
    with pytest.raises(ValueError, match="one verdict"):
        SkillComparison.from_verdicts(("Python", "SQL"), [True])


def test_extraction_key_holds_a_hash_of_the_text_never_the_text() -> None:
    text = "Vous maîtrisez Python et SQL."
    key = ExtractionKey.of("u1", "offer", "qwen2.5:7b-instruct", "skills-v1", text)
    assert text not in repr(key)
    assert len(key.input_sha256) == 64
    assert key == ExtractionKey.of("u1", "offer", "qwen2.5:7b-instruct", "skills-v1", text)
    assert key != ExtractionKey.of("u2", "offer", "qwen2.5:7b-instruct", "skills-v1", text)
    assert key != ExtractionKey.of("u1", "cv", "qwen2.5:7b-instruct", "skills-v1", text)
    assert key != ExtractionKey.of("u1", "offer", "qwen2.5:7b-instruct", "skills-v2", text)
