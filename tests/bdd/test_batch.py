"""Batch processing (features/batch.feature): events analysed in parallel, five at a time."""

from __future__ import annotations

from pytest_bdd import given, parsers, scenarios, then

from tests.bdd.conftest import Story
from tests.fakes import RecordingAnalyser

scenarios("batch.feature")


@given("an analysis that takes a moment for each event", target_fixture="recorder")
def slow_analysis(story: Story) -> RecordingAnalyser:
    analyser = RecordingAnalyser(delay=0.05)
    story.add_analyser(analyser)
    return analyser


@then(parsers.parse("exactly {count:d} events were analysed at the same time"))
def concurrency(recorder: RecordingAnalyser, count: int) -> None:
    assert recorder.max_running == count
