import threading
import time

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
