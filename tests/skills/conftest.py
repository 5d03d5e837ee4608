"""One matcher for the module: loading the lemmatiser's dictionaries takes a second."""

from __future__ import annotations

import pytest

from src.adapters.skills.french_matcher import FrenchSkillMatcher
from src.adapters.skills.vocabulary import Vocabulary


@pytest.fixture(scope="session")
def vocabulary() -> Vocabulary:
    return Vocabulary.load()


@pytest.fixture(scope="session")
def matcher(vocabulary: Vocabulary) -> FrenchSkillMatcher:
    return FrenchSkillMatcher(vocabulary)
