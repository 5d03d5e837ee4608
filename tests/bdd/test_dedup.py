"""De-duplication (features/dedup.feature): an event sent twice counts once."""

from __future__ import annotations

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from tests.bdd.conftest import CV, LETTERS, Story

scenarios("dedup.feature")


@given(parsers.parse('{user} generated a cover letter for "{company}" as letter "{key}"'))
def generated_keyed_letter(story: Story, user: str, company: str, key: str) -> None:
    story.emit("letter.generated", LETTERS, user, payload={"company": company}, idempotency_key=key)


@given("an old client recorded the same CV upload without a hash")
def old_client_copy(story: Story) -> None:
    from sqlalchemy import insert

    from src.adapters.sql.tables import events

    with story.flywheel.engine().begin() as connection:
        connection.execute(
            insert(events).values(
                event_type="cv.uploaded", app_source=CV, user_id="Alice", payload={"pages": 2}
            )
        )


@when("the same cover letter event is sent again")
def send_again(story: Story) -> None:
    story.emit("letter.generated", LETTERS, "Alice", payload={"company": "Airbus"})


@then("the second copy was refused as a duplicate")
def refused(story: Story) -> None:
    assert story.last_append == (0, 1)


@then(
    parsers.parse(
        "{processed:d} event is processed and {duplicates:d} is recognised as a duplicate"
    )
)
def processed_and_duplicates(story: Story, processed: int, duplicates: int) -> None:
    assert (story.summary.processed, story.summary.duplicates) == (processed, duplicates)


@then("the log says the event was already processed")
def log_says(story: Story, caplog: pytest.LogCaptureFixture) -> None:
    assert any(
        record.getMessage().startswith("Événement déjà traité (hash: ") for record in caplog.records
    )
