"""A real server process with a language model configured from its environment: the
model's figures on ``/metrics`` from the start, and ``DELETE /api/users/{id}`` erasing the
answers the store keeps for the user; a clean stop."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from src.adapters.sql.database import create_postgres_engine, create_sqlite_engine
from src.adapters.sql.tables import skills_extractions
from src.adapters.sqlalchemy_extraction_cache import SqlAlchemyExtractionCache
from src.application.skills import ExtractionKey
from tests.e2e.conftest import running_server
from tests.skills.openai_stub import OpenAIStub, Reply, completion_with

pytestmark = pytest.mark.e2e
MODEL = "qwen2.5:3b"
SECRET = "sk-e2e-never-logged"


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    server = OpenAIStub()
    server.start()
    yield server
    server.stop()


def key(user: str, text: str) -> ExtractionKey:
    return ExtractionKey.of(user, "offer", MODEL, "skills-v1", text)


def test_the_server_shows_the_models_figures_and_forgets_its_answers(
    migrated_url: str, stub: OpenAIStub
) -> None:
    engine = (
        create_sqlite_engine(migrated_url)
        if migrated_url.startswith("sqlite")
        else create_postgres_engine(migrated_url)
    )
    try:
        cache = SqlAlchemyExtractionCache(engine)
        cache.put(key("alice", "offre Airbus"), ["Python", "SQL"])
        cache.put(key("alice", "offre Thales"), ["C++"])
        cache.put(key("bob", "offre Airbus"), ["Python", "SQL"])

        with running_server(
            migrated_url, LLM_BASE_URL=stub.base_url, LLM_MODEL=MODEL, LLM_API_KEY=SECRET
        ) as server:
            metrics = server.client.get("/metrics")
            assert metrics.status_code == 200
            found = {
                family.name: {
                    s.name + str(sorted(s.labels.items())): s.value for s in family.samples
                }
                for family in text_string_to_metric_families(metrics.text)
            }
            assert found["flywheel_llm_calls"] == {
                f"flywheel_llm_calls_total[('outcome', '{outcome}')]": 0
                for outcome in ("ok", "timeout", "error", "invalid")
            }
            assert found["flywheel_llm_cache_hits"] == {"flywheel_llm_cache_hits_total[]": 0}
            assert "flywheel_llm_call_duration_seconds" in found
            assert "flywheel_llm_tokens" in found

            forgotten = server.client.delete("/api/users/alice")
            assert forgotten.status_code == 200, forgotten.text
            assert forgotten.json()["removed"]["skills_extractions"] == 2
            again = server.client.delete("/api/users/alice")
            assert again.json()["removed"]["skills_extractions"] == 0
            log = server.stop()
        assert SECRET not in log

        assert cache.get(key("alice", "offre Airbus")) is None
        assert cache.get(key("bob", "offre Airbus")) == ("Python", "SQL")
        with engine.connect() as connection:
            left = connection.execute(select(func.count()).select_from(skills_extractions))
            assert left.scalar_one() == 1
        assert stub.requests == []  # nothing asked the model
    finally:
        engine.dispose()


def test_an_offer_sent_as_free_text_is_read_by_the_model_and_gives_the_gap(
    migrated_url: str, stub: OpenAIStub
) -> None:
    """The wiring end to end: the server's own worker hands the offer's text to the model
    (once: the CV comes as a list), and the gap is computed from the model's answer."""
    stub.reply(Reply(completion_with('{"skills": ["Python", "SQL", "Docker", "anglais"]}')))
    user = "chloe"

    def sent(event_type: str, app: str, payload: dict[str, object], at: str) -> dict[str, object]:
        return {
            "event_type": event_type,
            "app_source": app,
            "user_id": user,
            "payload": payload,
            "timestamp": at,
        }

    with running_server(migrated_url, LLM_BASE_URL=stub.base_url, LLM_MODEL=MODEL) as server:
        http = server.client
        offer = {
            "offer_id": "airbus-7",
            "company": "Airbus",
            "offer_text": "Nous cherchons un profil Python, SQL et Docker, anglais courant.",
        }
        answer = http.post(
            "/api/events",
            json=sent("job_offer.analyzed", "phoenix-letters", offer, "2026-03-02T09:00:00Z"),
        )
        assert answer.status_code == 202, answer.text
        cv = {"cv_id": "cv-1", "skills": ["Python"]}
        answer = http.post(
            "/api/events", json=sent("cv.uploaded", "phoenix-cv", cv, "2026-03-02T10:00:00Z")
        )
        assert answer.status_code == 202, answer.text

        def gap() -> list[dict[str, object]]:
            found = http.get(f"/api/users/{user}/insights")
            return list(found.json()) if found.status_code == 200 else []

        server.wait_until(lambda: gap() != [], what="the skills-gap insight")
        (insight,) = gap()
        assert insight["kind"] == "skills_gap"
        assert insight["data"]["missing"] == ["SQL", "Docker", "anglais"]  # type: ignore[index]
        assert [r.body["model"] for r in stub.requests] == [MODEL]
        assert offer["offer_text"] in json.dumps(stub.requests[0].body, ensure_ascii=False)

        removed = http.delete(f"/api/users/{user}").json()["removed"]
        assert (removed["skills_extractions"], removed["insights"]) == (1, 1)
        server.stop()
