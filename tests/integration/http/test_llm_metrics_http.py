"""The skills extractor's figures on ``/metrics``, scraped through the HTTP app on each
store, after calls to the local OpenAI-compatible stub server; none when no model is set."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.di import Provide
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from src.adapters.skills.openai_extractor import OpenAISkillsExtractor
from src.application.skills import SkillsExtractionError
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from src.entrypoints.http import create_app
from src.entrypoints.http.server_runtime import ServerRuntime
from tests.conftest import make_settings
from tests.skills.openai_stub import OpenAIStub, Reply, recorded

OFFER = "Airbus recherche un(e) Data Engineer : Python, SQL, Docker, anglais professionnel."


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    server = OpenAIStub()
    server.start()
    yield server
    server.stop()


def runtime_of(app: Litestar) -> ServerRuntime:
    """The app's runtime, as its handlers get it (the ``runtime`` dependency)."""
    provide = app.dependencies["runtime"]
    assert isinstance(provide, Provide)
    runtime = provide.dependency()
    assert isinstance(runtime, ServerRuntime)
    return runtime


def scrape(
    client: TestClient[Any],
) -> dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    return {
        family.name: {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for sample in family.samples
        }
        for family in text_string_to_metric_families(answer.text)
    }


def test_calls_tokens_latency_and_cache_are_on_metrics(store_url: str, stub: OpenAIStub) -> None:
    settings = make_settings(store_url, llm_base_url=stub.base_url, llm_model="qwen2.5:3b")
    close_flywheel(open_flywheel(settings, migrate=True))
    stub.reply(
        Reply({"error": {"message": "model crashed"}}, status=500),
        Reply(recorded("offer_airbus")),
    )
    app = create_app(settings, run_worker=False)
    with TestClient(app) as client:
        before = scrape(client)
        assert before["flywheel_llm_calls"][("flywheel_llm_calls_total", (("outcome", "ok"),))] == 0
        runtime = runtime_of(app)
        assert runtime.wait_open(15)
        extractor = runtime.container.skills_extractor()
        assert isinstance(extractor, OpenAISkillsExtractor)
        with pytest.raises(SkillsExtractionError):
            asyncio.run(extractor.extract("alice", "offer", OFFER))
        asyncio.run(extractor.extract("alice", "offer", OFFER))  # asks again, answered
        asyncio.run(extractor.extract("alice", "offer", OFFER))  # from the store's cache

        found = scrape(client)

    calls = {labels[0][1]: value for (_, labels), value in found["flywheel_llm_calls"].items()}
    assert calls == {"ok": 1, "timeout": 0, "error": 1, "invalid": 0}
    tokens = {labels[0][1]: value for (_, labels), value in found["flywheel_llm_tokens"].items()}
    assert tokens == {"prompt": 148, "completion": 21}
    latency = found["flywheel_llm_call_duration_seconds"]
    assert latency[("flywheel_llm_call_duration_seconds_count", ())] == 2
    assert latency[("flywheel_llm_call_duration_seconds_bucket", (("le", "+Inf"),))] == 2
    assert latency[("flywheel_llm_call_duration_seconds_bucket", (("le", "60"),))] == 2
    assert 0 < latency[("flywheel_llm_call_duration_seconds_sum", ())] < 60
    assert found["flywheel_llm_cache_hits"] == {("flywheel_llm_cache_hits_total", ()): 1}
    assert found["flywheel_llm_cache_misses"] == {("flywheel_llm_cache_misses_total", ()): 2}
    assert len(stub.requests) == 2


def test_no_model_no_llm_figures(sqlite_url: str) -> None:
    settings = make_settings(sqlite_url)
    close_flywheel(open_flywheel(settings, migrate=True))
    with TestClient(create_app(settings, run_worker=False)) as client:
        found = scrape(client)
    assert "flywheel_worker_up" in found
    assert not [name for name in found if name.startswith("flywheel_llm_")]
