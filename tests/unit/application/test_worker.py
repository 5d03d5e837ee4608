import logging
import threading
import time
from datetime import timedelta

import pytest

from src.application.ports.inbox import StoredEvent
from src.application.worker import BackgroundWorker
from tests.fakes import FailingAnalyser
from tests.unit.application.conftest import World


def wait_for(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_the_worker_drains_what_arrives_while_it_runs(world: World) -> None:
    worker = BackgroundWorker(world.processor(), poll_interval_seconds=0.02)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        world.emit("letter.generated", "phoenix-letters", "u1")
        worker.wake()
        wait_for(lambda: world.inbox.status_of(1) == "processed")
    finally:
        worker.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert not worker.running


def test_a_stop_during_a_stuck_batch_releases_its_events(world: World) -> None:
    world.emit("letter.generated", "phoenix-letters", "stuck")
    analyser = FailingAnalyser({"stuck"}, hang=True)
    worker = BackgroundWorker(
        world.processor(analysers=(analyser,), timeout_seconds=3600),
        poll_interval_seconds=0.02,
        grace_seconds=0.1,
    )
    thread = threading.Thread(target=worker.run)
    thread.start()
    wait_for(lambda: analyser.calls == 1)
    worker.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert world.inbox.status_of(1) == "pending"
    assert world.inbox.rows[1].event.attempts == 0


def test_a_stop_during_a_batch_that_lost_its_lease_leaves_the_events_to_their_holder(
    world: World,
) -> None:
    world.emit("letter.generated", "phoenix-letters", "stuck")
    analyser = FailingAnalyser({"stuck"}, hang=True)
    worker = BackgroundWorker(
        world.processor(analysers=(analyser,), timeout_seconds=3600, lease_seconds=3600),
        poll_interval_seconds=0.02,
        grace_seconds=0.1,
    )
    thread = threading.Thread(target=worker.run)
    thread.start()
    wait_for(lambda: analyser.calls == 1)
    world.clock.advance(hours=2)  # the lease ran out while the batch hung
    now = world.clock.now()
    assert [e.id for e in world.inbox.claim(10, now, now + timedelta(hours=1), "other:1")] == [1]
    worker.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert (world.inbox.status_of(1), world.inbox.rows[1].locked_by) == ("processing", "other:1")
    assert world.inbox.rows[1].event.attempts == 2


def test_a_failing_store_does_not_kill_the_worker(world: World) -> None:
    calls = {"n": 0}
    processor = world.processor()
    real_claim = world.inbox.claim

    def flaky_claim(*args: object):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] <= 2:
            raise ConnectionError("store unreachable")
        return real_claim(*args)  # type: ignore[arg-type]

    world.inbox.claim = flaky_claim  # type: ignore[method-assign]
    world.emit("cv.uploaded", "phoenix-cv", "u1")
    worker = BackgroundWorker(processor, poll_interval_seconds=0.01)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_for(lambda: world.inbox.status_of(1) == "processed")
    finally:
        worker.stop()
        thread.join(timeout=10)
    assert worker.last_error is None


class FlakyStore:
    """A store that is down until ``up`` is set: claims fail, the probe says so."""

    def __init__(self, world: World) -> None:
        self.up = False
        self.claims = 0
        self.probes_while_down = 0
        self._real_claim = world.inbox.claim
        world.inbox.claim = self.claim  # type: ignore[method-assign]

    def claim(self, *args: object):  # type: ignore[no-untyped-def]
        self.claims += 1
        if not self.up:
            raise ConnectionError("store unreachable")
        return self._real_claim(*args)  # type: ignore[arg-type]

    def probe(self) -> bool:
        if not self.up:
            self.probes_while_down += 1
        return self.up


def test_a_store_that_comes_back_is_drained_at_once_not_at_the_end_of_the_pause(
    world: World,
) -> None:
    store = FlakyStore(world)
    world.emit("cv.uploaded", "phoenix-cv", "u1")
    # A first pause of 60 s after the failure: only the probe can end it sooner.
    worker = BackgroundWorker(world.processor(), poll_interval_seconds=60, probe=store.probe)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_for(lambda: store.probes_while_down >= 1)
        assert worker.last_error == "ConnectionError: store unreachable"
        assert worker.failing_since is not None
        assert (worker.failing_for_seconds or 0) > 0
        store.up = True
        # The probe runs every second: the event flows within a few, not after 60 s.
        # The event is marked inside the drain; the worker clears its error once the
        # drain returns: wait for both, or a loaded machine reads the error in between.
        wait_for(
            lambda: world.inbox.status_of(1) == "processed" and worker.last_error is None,
            timeout=5,
        )
        assert worker.failing_since is None
        assert worker.failing_for_seconds is None
    finally:
        worker.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_a_drain_failing_while_the_store_answers_keeps_its_backoff(world: World) -> None:
    claims = {"n": 0}

    def broken_claim(*_args: object):  # type: ignore[no-untyped-def]
        claims["n"] += 1
        raise RuntimeError("a bug, not an outage")

    world.inbox.claim = broken_claim  # type: ignore[method-assign]
    # Pauses of 3 s then 6 s: the probe (every second, always answering) must not
    # turn them into a retry per second.
    worker = BackgroundWorker(world.processor(), poll_interval_seconds=3, probe=lambda: True)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        time.sleep(4.5)
    finally:
        worker.stop()
        thread.join(timeout=10)
    assert claims["n"] == 2


def test_a_stop_mid_drain_says_how_many_events_are_left_not_queue_drained(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    for user in range(20):
        world.emit("cv.uploaded", "phoenix-cv", f"u{user}")
    analyser = FailingAnalyser(set())
    worker: BackgroundWorker

    class StopAfterFirstBatch:
        async def analyse(self, _event: StoredEvent) -> None:
            worker.stop()

    worker = BackgroundWorker(
        world.processor(analysers=(analyser, StopAfterFirstBatch()), batch_size=5),
        poll_interval_seconds=0.01,
        pending=lambda: world.queries.get_queue_status().pending,
    )
    with caplog.at_level(logging.INFO, logger="src.application.worker"):
        worker.run()
    messages = [record.getMessage() for record in caplog.records]
    assert "worker stopping with 15 events pending" in messages
    assert "queue drained" not in messages


def test_an_empty_queue_is_said_once_per_idle_period_in_the_guides_words(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="src.application.worker")
    worker = BackgroundWorker(world.processor(), poll_interval_seconds=0.01)
    thread = threading.Thread(target=worker.run)
    thread.start()

    def idle_lines() -> int:
        return sum(r.getMessage() == "Aucun événement à traiter" for r in caplog.records)

    try:
        wait_for(lambda: idle_lines() == 1)
        drains = world.inbox.claims  # many polls later, still one line
        wait_for(lambda: world.inbox.claims >= drains + 5)
        assert idle_lines() == 1
        world.emit("cv.uploaded", "phoenix-cv", "u1")
        wait_for(lambda: world.inbox.status_of(1) == "processed")
        wait_for(lambda: idle_lines() == 2)  # idle again: a new period, one more line
        drains = world.inbox.claims
        wait_for(lambda: world.inbox.claims >= drains + 5)
        assert idle_lines() == 2
    finally:
        worker.stop()
        thread.join(timeout=10)


def test_the_heartbeat_goes_on_while_idle_and_while_the_store_is_away(world: World) -> None:
    beats: list[float] = []
    world.inbox.store_answers = True
    worker = BackgroundWorker(
        world.processor(), poll_interval_seconds=0.05, heartbeat=lambda: beats.append(1.0)
    )
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_for(lambda: len(beats) >= 2, timeout=10)  # idle: one beat a second

        def broken_claim(*_args: object) -> list[StoredEvent]:
            raise ConnectionError("store unreachable")

        world.inbox.claim = broken_claim  # type: ignore[method-assign]
        wait_for(lambda: worker.last_error is not None)
        seen = len(beats)
        wait_for(lambda: len(beats) >= seen + 2, timeout=10)  # pausing after failures
    finally:
        worker.stop()
        thread.join(timeout=10)
    count = len(beats)
    time.sleep(1.5)
    assert len(beats) == count, "no heartbeat once the loop has stopped"
