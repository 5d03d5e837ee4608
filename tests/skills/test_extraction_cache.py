"""The ``ExtractionCache`` contract, run against each adapter (the in-memory one for now;
a store-backed one subclasses ``ExtractionCacheContract`` with its own ``make_cache``)."""

from __future__ import annotations

import pytest

from src.adapters.skills.memory_extraction_cache import InMemoryExtractionCache
from src.application.skills import ExtractionCache, ExtractionKey


def key(user: str, text: str = "Python, SQL", model: str = "qwen2.5:7b-instruct") -> ExtractionKey:
    return ExtractionKey.of(user, "offer", model, "skills-v1", text)


class ExtractionCacheContract:
    def make_cache(self) -> ExtractionCache:
        raise NotImplementedError

    def test_what_was_put_is_got_back(self) -> None:
        cache = self.make_cache()
        assert cache.get(key("u1")) is None
        cache.put(key("u1"), ["Python", "SQL"])
        assert cache.get(key("u1")) == ("Python", "SQL")

    def test_no_skills_is_an_answer_too(self) -> None:
        cache = self.make_cache()
        cache.put(key("u1"), [])
        assert cache.get(key("u1")) == ()

    def test_a_put_replaces(self) -> None:
        cache = self.make_cache()
        cache.put(key("u1"), ["Python"])
        cache.put(key("u1"), ["Docker"])
        assert cache.get(key("u1")) == ("Docker",)

    def test_entries_are_apart_by_every_part_of_the_key(self) -> None:
        cache = self.make_cache()
        cache.put(key("u1"), ["Python"])
        assert cache.get(key("u2")) is None
        assert cache.get(key("u1", text="autre texte")) is None
        assert cache.get(key("u1", model="llama3.1:8b")) is None

    def test_forgetting_a_user_erases_their_entries_and_no_one_elses(self) -> None:
        cache = self.make_cache()
        cache.put(key("u1"), ["Python"])
        cache.put(key("u1", text="CV"), ["Excel"])
        cache.put(key("u2"), ["Python"])
        assert cache.forget_user("u1") == 2
        assert cache.get(key("u1")) is None
        assert cache.get(key("u1", text="CV")) is None
        assert cache.get(key("u2")) == ("Python",)
        assert cache.forget_user("u1") == 0


class TestInMemoryExtractionCache(ExtractionCacheContract):
    def make_cache(self) -> ExtractionCache:
        return InMemoryExtractionCache()

    def test_it_keeps_a_bounded_number_of_entries_least_recently_used_first(self) -> None:
        cache = InMemoryExtractionCache(max_entries=2)
        cache.put(key("u1"), ["a"])
        cache.put(key("u2"), ["b"])
        assert cache.get(key("u1")) == ("a",)  # u1 is now the most recently used
        cache.put(key("u3"), ["c"])
        assert len(cache) == 2
        assert cache.get(key("u2")) is None
        assert cache.get(key("u1")) == ("a",)

    def test_a_bound_below_one_is_refused(self) -> None:
        with pytest.raises(ValueError, match="max_entries"):
            InMemoryExtractionCache(max_entries=0)
