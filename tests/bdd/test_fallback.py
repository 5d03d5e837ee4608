"""Fallback (features/fallback.feature): a worker that starts catches up by itself."""

from __future__ import annotations

import threading
import time

from pytest_bdd import given, parsers, scenarios, then, when

from src.application.worker import BackgroundWorker
from tests.bdd.conftest import CV, LETTERS, Story

scenarios("fallback.feature")


@given("no worker is running")
def no_worker(story: Story) -> None:
    assert story.flywheel.queries().get_queue_status().processing == 0


@given(parsers.parse("the apps record {count:d} events for {users:d} users"))
def apps_record(story: Story, count: int, users: int) -> None:
    kinds = [("letter.generated", LETTERS), ("cv.uploaded", CV), ("job_offer.analyzed", LETTERS)]
    for index in range(count):
        event_type, app = kinds[index % len(kinds)]
        story.emit(event_type, app, f"user-{index % users}", idempotency_key=str(index))


@when("a worker starts")
def worker_starts(story: Story) -> None:
    worker = BackgroundWorker(story.flywheel.processor(), poll_interval_seconds=0.05)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if story.flywheel.queries().get_queue_status().pending == 0:
                break
            time.sleep(0.05)
    finally:
        worker.stop()
        thread.join(timeout=30)


@then(parsers.parse("all {count:d} events are processed without anyone asking"))
def processed_by_worker(story: Story, count: int) -> None:
    assert story.flywheel.queries().get_queue_status().processed == count


@then("nothing is left waiting in the queue")
def queue_empty(story: Story) -> None:
    status = story.flywheel.queries().get_queue_status()
    assert (status.pending, status.processing, status.oldest_pending_age_seconds) == (0, 0, None)
