import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta

import pytest

from src.application.journeys import FoldResult, SourceEvent
from src.application.ports.inbox import BatchOutcome, RequeueSelection, StoredEvent
from tests.fakes import FailingAnalyser, RecordingAnalyser
from tests.unit.application.conftest import World


def drain(world: World, **kwargs: object):  # type: ignore[no-untyped-def]
    return asyncio.run(world.processor(**kwargs).drain())  # type: ignore[arg-type]


def test_an_event_without_a_hash_whose_twin_exists_is_marked_duplicate(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.emit("cv.uploaded", "phoenix-cv", "u1", payload={"pages": 2})
    twin = world.inbox.insert_raw(
        event_type="cv.uploaded", app_source="phoenix-cv", user_id="u1", payload={"pages": 2}
    )
    with caplog.at_level(logging.INFO):
        summary = drain(world)
    assert (summary.processed, summary.duplicates) == (1, 1)
    assert world.inbox.status_of(twin) == "duplicate"
    assert "Événement déjà traité (hash: " in caplog.text
    assert world.queries.get_journey("u1").events[0].event_type == "cv.uploaded"
    assert len(world.queries.get_journey("u1").events) == 1


def test_twins_without_a_hash_in_one_batch_count_once_each_logged(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    world.emit("cv.uploaded", "phoenix-cv", "u1", payload={"pages": 1})
    rows = [
        world.inbox.insert_raw(
            event_type="cv.uploaded", app_source="phoenix-cv", user_id="u1", payload={"pages": n}
        )
        for n in (1, 2, 2, 3)
    ]
    with caplog.at_level(logging.INFO):
        summary = drain(world)
    assert (summary.processed, summary.duplicates) == (3, 2)
    assert [world.inbox.status_of(i) for i in rows] == [
        "duplicate",
        "processed",
        "duplicate",
        "processed",
    ]
    assert caplog.text.count("Événement déjà traité (hash: ") == 2


def test_a_manual_insert_without_a_hash_is_hashed_and_processed(world: World) -> None:
    event_id = world.inbox.insert_raw(
        event_type="letter.generated", app_source="phoenix-letters", user_id="u1"
    )
    assert drain(world).processed == 1
    assert world.inbox.status_of(event_id) == "processed"
    assert world.inbox.rows[event_id].event.event_hash is not None


def test_analysers_run_at_most_concurrency_at_once(world: World) -> None:
    for index in range(10):
        world.emit("letter.generated", "phoenix-letters", f"u{index}")
    analyser = RecordingAnalyser()
    summary = drain(world, analysers=(analyser,), concurrency=5)
    assert summary.processed == 10
    assert analyser.max_running == 5
    assert sorted(analyser.seen) == list(range(1, 11))


def test_batches_are_claimed_by_batch_size(world: World) -> None:
    for index in range(7):
        world.emit("letter.generated", "phoenix-letters", f"u{index}")
    summary = drain(world, batch_size=3)
    assert (summary.batches, summary.processed) == (3, 7)


def test_a_failing_event_is_retried_then_dead_and_never_blocks_the_others(world: World) -> None:
    world.emit("letter.generated", "phoenix-letters", "poison")
    for index in range(4):
        world.emit("cv.uploaded", "phoenix-cv", f"ok{index}")
    analyser = FailingAnalyser({"poison"})
    summary = drain(world, analysers=(analyser,), max_attempts=3)
    assert summary.processed == 4
    assert summary.dead == 1
    assert analyser.calls == 3
    assert world.inbox.status_of(1) == "dead"
    assert "analyser exploded" in (world.inbox.error_of(1) or "")


def test_a_failure_waits_for_its_backoff_before_the_retry(world: World) -> None:
    world.emit("letter.generated", "phoenix-letters", "poison")
    processor = world.processor(
        analysers=(FailingAnalyser({"poison"}),), retry_backoff_seconds=10, max_attempts=5
    )
    first = asyncio.run(processor.drain())
    assert (first.failed, first.dead) == (1, 0)
    assert asyncio.run(processor.drain()).claimed == 0
    world.clock.advance(seconds=10)
    assert asyncio.run(processor.drain()).failed == 1
    world.clock.advance(seconds=10)
    assert asyncio.run(processor.drain()).claimed == 0
    world.clock.advance(seconds=10)
    assert asyncio.run(processor.drain()).claimed == 1


def test_a_slow_event_times_out_and_is_retried(world: World) -> None:
    world.emit("letter.generated", "phoenix-letters", "slow")
    world.emit("cv.uploaded", "phoenix-cv", "fast")
    summary = drain(
        world,
        analysers=(FailingAnalyser({"slow"}, hang=True),),
        timeout_seconds=0.05,
        max_attempts=2,
    )
    assert (summary.processed, summary.dead) == (1, 1)
    assert "Processing timeout" in (world.inbox.error_of(1) or "")


def test_an_event_outside_the_catalogue_is_dead_at_once(world: World) -> None:
    event_id = world.inbox.insert_raw(event_type="cv.burned", app_source="phoenix-cv", user_id="u")
    summary = drain(world)
    assert (summary.dead, summary.failed) == (1, 0)
    assert "unknown event type 'cv.burned'" in (world.inbox.error_of(event_id) or "")


def test_a_crashed_workers_events_come_back_after_the_lease(world: World) -> None:
    world.emit("letter.generated", "phoenix-letters", "u1")
    now = world.clock.now()
    world.inbox.claim(10, now, now.replace(minute=5))  # a worker claims, then dies
    assert drain(world).claimed == 0
    world.clock.advance(minutes=6)
    assert drain(world).processed == 1


def test_force_reprocess_changes_no_figure(world: World) -> None:
    world.emit("letter.generated", "phoenix-letters", "u1")
    world.emit("cv.uploaded", "phoenix-cv", "u2")
    drain(world)
    before = (world.queries.get_ecosystem(30), world.queries.get_journey("u1"))
    requeued = world.admin.force_reprocess(RequeueSelection(event_ids=(1, 2)))
    summary = drain(world)
    assert requeued == 2
    assert summary.processed == 2
    assert (world.queries.get_ecosystem(30), world.queries.get_journey("u1")) == before


def fold_failing_for(world: World, monkeypatch: pytest.MonkeyPatch, user: str) -> None:
    """A save that fails whenever it holds one of ``user``'s events (a trigger, a bug)."""
    real_fold = world.journeys.fold

    def fold(events: Sequence[SourceEvent], outcome: BatchOutcome | None = None) -> FoldResult:
        if any(source.user_id == user for source in events):
            raise RuntimeError(f"journey of {user} refused")
        return real_fold(events, outcome)

    monkeypatch.setattr(world.journeys, "fold", fold)


def test_a_failed_save_fails_only_the_events_at_fault(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    for index in range(9):
        world.emit("letter.generated", "phoenix-letters", f"ok{index}")
        if index % 4 == 0:
            world.emit("cv.uploaded", "phoenix-cv", "guilty", idempotency_key=str(index))
    fold_failing_for(world, monkeypatch, "guilty")
    summary = drain(world, max_attempts=3)  # the drain itself does not fail
    guilty = [i for i, row in world.inbox.rows.items() if row.event.user_id == "guilty"]
    innocent = [i for i in world.inbox.rows if i not in guilty]
    assert (summary.processed, summary.dead) == (9, 3)
    assert {world.inbox.status_of(i) for i in innocent} == {"processed"}
    assert {world.inbox.rows[i].event.attempts for i in innocent} == {1}
    assert {world.inbox.status_of(i) for i in guilty} == {"dead"}
    assert {world.inbox.rows[i].event.attempts for i in guilty} == {3}
    assert "save failed: RuntimeError: journey of guilty refused" in (
        world.inbox.error_of(guilty[0]) or ""
    )
    assert len(world.queries.get_journey("ok4").events) == 1


def test_a_save_failing_once_blames_no_event(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    for index in range(3):
        world.emit("letter.generated", "phoenix-letters", f"u{index}")
    real_fold = world.journeys.fold
    faults = {"left": 2}  # the whole batch, then the half holding u0: a deadlock, say

    def fold(events: Sequence[SourceEvent], outcome: BatchOutcome | None = None) -> FoldResult:
        if faults["left"] and any(source.user_id == "u0" for source in events):
            faults["left"] -= 1
            raise RuntimeError("deadlock detected")
        return real_fold(events, outcome)

    monkeypatch.setattr(world.journeys, "fold", fold)
    summary = drain(world)
    assert (summary.processed, summary.failed, summary.dead) == (3, 0, 0)
    assert {world.inbox.rows[i].event.attempts for i in (1, 2, 3)} == {1}


def test_a_store_that_went_away_fails_no_event_and_gets_its_batch_back(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.emit("letter.generated", "phoenix-letters", "u1")
    world.emit("cv.uploaded", "phoenix-cv", "u2")
    real_fold = world.journeys.fold

    def broken_fold(events: object, outcome: object = None) -> None:
        raise RuntimeError("store went away")

    processor = world.processor(max_attempts=3)
    monkeypatch.setattr(world.journeys, "fold", broken_fold)
    world.inbox.store_answers = False
    with pytest.raises(RuntimeError, match="store went away"):
        asyncio.run(processor.drain())
    assert [world.inbox.status_of(i) for i in (1, 2)] == ["processing", "processing"]
    # The store is back: the interrupted batch is given back at once, its attempt uncounted,
    # long before its lease would have expired.
    monkeypatch.setattr(world.journeys, "fold", real_fold)
    world.inbox.store_answers = True
    assert asyncio.run(processor.drain()).processed == 2
    assert [world.inbox.rows[i].event.attempts for i in (1, 2)] == [1, 1]


def test_an_outage_the_error_tells_of_blames_no_event_though_the_store_answers_again(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for index in range(4):
        world.emit("letter.generated", "phoenix-letters", f"u{index}")
    real_fold = world.journeys.fold

    def cut_off(events: object, outcome: object = None) -> None:
        # The connection was lost mid-save; the store was back before anyone asked.
        raise ConnectionResetError("server closed the connection unexpectedly")

    processor = world.processor(max_attempts=1)
    monkeypatch.setattr(world.journeys, "fold", cut_off)
    with caplog.at_level(logging.INFO), pytest.raises(ConnectionResetError):
        asyncio.run(processor.drain())
    assert "saving it in parts" not in caplog.text
    assert {world.inbox.status_of(i) for i in range(1, 5)} == {"processing"}
    monkeypatch.setattr(world.journeys, "fold", real_fold)
    summary = asyncio.run(processor.drain())  # given back at once, uncounted
    assert (summary.processed, summary.failed, summary.dead) == (4, 0, 0)
    assert {world.inbox.rows[i].event.attempts for i in range(1, 5)} == {1}


def test_a_batch_failing_while_the_store_answers_comes_back_counted_after_the_lease(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.inbox.insert_raw(event_type="cv.uploaded", app_source="phoenix-cv", user_id="u1")

    def broken_twins(hashes: object) -> set[int]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(world.inbox, "twins", broken_twins)
    processor = world.processor(lease_seconds=15)
    with pytest.raises(RuntimeError, match="a bug"):
        asyncio.run(processor.drain())
    # Not given back as a store failure would be: an event may be at fault.
    assert asyncio.run(processor.drain()).claimed == 0
    assert world.inbox.status_of(1) == "processing"
    world.clock.advance(seconds=16)
    with pytest.raises(RuntimeError, match="a bug"):
        asyncio.run(processor.drain())
    assert world.inbox.rows[1].event.attempts == 2


def test_an_unreadable_row_is_dead_at_its_first_claim_and_the_others_flow(world: World) -> None:
    bad = world.inbox.insert_raw(
        event_type="cv.uploaded",
        app_source="phoenix-cv",
        user_id="u1",
        unreadable="timestamp: 'infinity' is not a date and time of the years 1 to 9999",
    )
    world.emit("letter.generated", "phoenix-letters", "u1")
    summary = drain(world)
    assert (summary.processed, summary.dead, summary.failed) == (1, 1, 0)
    assert world.inbox.rows[bad].event.attempts == 1
    assert "unreadable row: timestamp: 'infinity'" in (world.inbox.error_of(bad) or "")


def test_a_payload_too_deep_to_hash_fails_alone(world: World) -> None:
    deep: object = {}
    for _ in range(5000):
        deep = {"d": deep}
    bad = world.inbox.insert_raw(
        event_type="cv.uploaded", app_source="phoenix-cv", user_id="u1", payload=deep
    )
    world.emit("letter.generated", "phoenix-letters", "u2")
    summary = drain(world)
    assert (summary.processed, summary.dead) == (1, 1)
    assert "RecursionError" in (world.inbox.error_of(bad) or "")


class SlowAnalyser:
    """Takes longer than the lease, moving the clock on as it goes."""

    def __init__(self, world: World, seconds: float) -> None:
        self.world = world
        self.seconds = seconds
        self.taken_by_another: list[int] = []

    async def analyse(self, event: StoredEvent) -> None:
        self.world.clock.advance(minutes=10)  # far past the lease taken at claim time
        await asyncio.sleep(self.seconds)  # the heartbeat beats meanwhile
        now = self.world.clock.now()
        another = self.world.inbox.claim(10, now, now + timedelta(minutes=1), "another")
        self.taken_by_another.extend(e.id for e in another)


def test_a_slow_batch_keeps_its_lease_while_its_worker_lives(world: World) -> None:
    world.emit("letter.generated", "phoenix-letters", "u1")
    analyser = SlowAnalyser(world, seconds=0.5)
    summary = drain(world, analysers=(analyser,), lease_seconds=0.15, timeout_seconds=5)
    assert summary.processed == 1
    assert analyser.taken_by_another == []


def test_the_outcome_is_left_to_the_journeys_unit_of_work(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.emit("letter.generated", "phoenix-letters", "u1")
    handed: list[BatchOutcome] = []

    def fold_that_records(events: object, outcome: BatchOutcome | None = None) -> FoldResult:
        assert outcome is not None
        handed.append(outcome)
        return FoldResult(recorded=1, replayed=0, nudges_detected=0)

    monkeypatch.setattr(world.journeys, "fold", fold_that_records)
    assert drain(world).processed == 1
    assert [list(outcome.processed) for outcome in handed] == [[1]]
    # The journeys' save (here: nobody) owns the marking: the processor never marks it.
    assert world.inbox.status_of(1) == "processing"
