"""The journey cache: least recently used first out, within a byte budget."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from src.application.journey_cache import HASH_BYTES, JOURNEY_BYTES, JourneyCache, journey_bytes
from src.domain.user_journey import UserJourney


def journey(hashes: int) -> UserJourney:
    user = UserJourney(user_id=f"u-{uuid4()}")
    user.applied_hashes.update({f"h{n}": True for n in range(hashes)})
    return user


def keys_in(cache: JourneyCache, keys: list[UUID]) -> list[UUID]:
    present = []
    for key in keys:
        try:
            cache.get(key)
        except KeyError:
            continue
        present.append(key)
    return present


def test_a_journey_is_estimated_from_its_hashes() -> None:
    assert journey_bytes(journey(0)) == JOURNEY_BYTES
    assert journey_bytes(journey(10)) == JOURNEY_BYTES + 10 * HASH_BYTES


def test_the_least_recently_used_journeys_leave_once_over_budget() -> None:
    cache = JourneyCache(budget_bytes=3 * JOURNEY_BYTES)
    keys = [uuid4() for _ in range(4)]
    for key in keys[:3]:
        cache.put(key, journey(0))
    cache.get(keys[0])  # now the most recently used
    cache.put(keys[3], journey(0))
    assert keys_in(cache, keys) == [keys[0], keys[2], keys[3]]
    assert cache.estimated_bytes == 3 * JOURNEY_BYTES


def test_a_journey_that_grew_is_estimated_again_when_put_back() -> None:
    cache = JourneyCache(budget_bytes=JOURNEY_BYTES + 100 * HASH_BYTES)
    small, growing = uuid4(), uuid4()
    cache.put(small, journey(0))
    long_one = journey(0)
    cache.put(growing, long_one)
    long_one.applied_hashes.update({f"more{n}": True for n in range(100)})
    cache.put(growing, long_one)  # as save does after a change
    assert keys_in(cache, [small, growing]) == [growing]
    assert cache.estimated_bytes == journey_bytes(long_one)


def test_a_journey_larger_than_the_budget_is_kept_alone() -> None:
    cache = JourneyCache(budget_bytes=JOURNEY_BYTES)
    first, huge = uuid4(), uuid4()
    cache.put(first, journey(0))
    cache.put(huge, journey(1_000))
    assert keys_in(cache, [first, huge]) == [huge]


def test_evicting_returns_the_journey_and_frees_its_bytes() -> None:
    cache = JourneyCache()
    key, value = uuid4(), journey(3)
    cache.put(key, value)
    assert cache.get(key, evict=True) is value
    assert cache.estimated_bytes == 0
    with pytest.raises(KeyError):
        cache.get(key)
    with pytest.raises(KeyError):
        cache.get(key, evict=True)


def test_nothing_is_stored_for_no_journey() -> None:
    cache = JourneyCache()
    key = uuid4()
    cache.put(key, None)
    with pytest.raises(KeyError):
        cache.get(key)


def test_the_last_stored_event_is_kept_with_its_journey_and_counted() -> None:
    cache = JourneyCache()
    key = uuid4()
    cache.remember_last(key, b"ignored: no such journey")
    assert cache.last_stored(key) is None
    cache.put(key, journey(0))
    cache.remember_last(key, b"x" * 100)
    assert cache.last_stored(key) == b"x" * 100
    assert cache.estimated_bytes == JOURNEY_BYTES + 100
    cache.put(key, journey(0))  # changed: its last event is another one now
    assert cache.last_stored(key) is None
    assert cache.estimated_bytes == JOURNEY_BYTES
    cache.remember_last(key, b"y")
    cache.get(key, evict=True)
    assert cache.last_stored(key) is None
    assert cache.estimated_bytes == 0
