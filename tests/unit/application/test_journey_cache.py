"""The journey cache: eventsourcing's LRU cache, with each journey's last stored event."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from src.application.journey_cache import JourneyCache
from src.domain.user_journey import UserJourney


def journey() -> UserJourney:
    return UserJourney(user_id=f"u-{uuid4()}")


def keys_in(cache: JourneyCache, keys: list[UUID]) -> list[UUID]:
    present = []
    for key in keys:
        try:
            cache.get(key)
        except KeyError:
            continue
        present.append(key)
    return present


def test_the_least_recently_used_journeys_leave_once_full() -> None:
    cache = JourneyCache(maxsize=3)
    keys = [uuid4() for _ in range(4)]
    for key in keys[:3]:
        cache.put(key, journey())
    cache.get(keys[0])  # now the most recently used
    cache.put(keys[3], journey())
    assert keys_in(cache, keys) == [keys[0], keys[2], keys[3]]


def test_evicting_returns_the_journey() -> None:
    cache = JourneyCache()
    key, value = uuid4(), journey()
    cache.put(key, value)
    assert cache.get(key, evict=True) is value
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


def test_the_last_stored_event_is_kept_with_its_journey_only() -> None:
    cache = JourneyCache()
    key = uuid4()
    cache.remember_last(key, b"ignored: no such journey")
    assert cache.last_stored(key) is None
    cache.put(key, journey())
    cache.remember_last(key, b"x" * 100)
    assert cache.last_stored(key) == b"x" * 100
    cache.put(key, journey())  # changed: its last event is another one now
    assert cache.last_stored(key) is None
    cache.remember_last(key, b"y")
    cache.get(key, evict=True)
    assert cache.last_stored(key) is None


def test_a_journey_pushed_out_takes_its_last_stored_event_along() -> None:
    cache = JourneyCache(maxsize=1)
    first, second = uuid4(), uuid4()
    cache.put(first, journey())
    cache.remember_last(first, b"first's last event")
    cache.put(second, journey())
    assert keys_in(cache, [first, second]) == [second]
    assert cache.last_stored(first) is None


def test_the_count_of_erasures_is_kept_only_with_the_journey_it_was_put_with() -> None:
    cache = JourneyCache(maxsize=2)
    key, other = uuid4(), uuid4()
    cache.put(key, journey(), erasures=3)
    assert cache.erasures_seen(key) == 3
    cache.put(key, journey())  # eventsourcing's own put: nothing known of it
    assert cache.erasures_seen(key) is None
    cache.put(key, journey(), erasures=4)
    cache.get(key, evict=True)
    assert cache.erasures_seen(key) is None
    cache.put(key, journey(), erasures=5)
    cache.put(other, journey(), erasures=5)
    cache.put(uuid4(), journey())  # pushes the least recently used out
    assert keys_in(cache, [key, other]) == [other]
    assert cache.erasures_seen(key) is None
    assert cache.erasures_seen(other) == 5
