from src.entrypoints.bootstrap import Container


def test_an_emitted_event_becomes_a_journey(flywheel: Container) -> None:
    import asyncio

    flywheel.ingestion().publish(
        [{"event_type": "letter.generated", "app_source": "phoenix-letters", "user_id": "u1"}]
    )
    summary = asyncio.run(flywheel.processor().drain())
    assert summary.processed == 1
    journey = flywheel.queries().get_journey("u1")
    assert [e.event_type for e in journey.events] == ["letter.generated"]
