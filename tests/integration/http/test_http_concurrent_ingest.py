"""Concurrent ingest on PostgreSQL, committed in groups: each answer is its own
request's, a request the store refuses fails alone, and nothing is lost."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from litestar.testing import AsyncTestClient

from src.adapters.sql.database import create_postgres_engine
from src.adapters.sqlalchemy_inbox import SqlAlchemyEventInbox
from src.application.errors import RequestInvalidError
from src.application.group_commit import GroupCommit
from src.application.ports.inbox import AppendResult
from src.domain.apps import default_catalogue
from src.domain.events import NewEvent, new_event
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from src.entrypoints.http import create_app
from tests.conftest import make_settings

pytestmark = pytest.mark.postgres
HEADERS = {"Content-Type": "application/json"}


def event(key: str, **extra: Any) -> dict[str, Any]:
    return {
        "event_type": "cv.uploaded",
        "app_source": "phoenix-cv",
        "user_id": f"user-{key}",
        "idempotency_key": key,
        **extra,
    }


async def post_all(postgres_url: str, bodies: list[object]) -> list[tuple[int, Any]]:
    settings = make_settings(postgres_url)
    close_flywheel(open_flywheel(settings, migrate=True))
    async with AsyncTestClient(create_app(settings, run_worker=False)) as client:
        deadline = time.monotonic() + 30  # the server opens its store in the background
        while (await client.get("/api/events/queue-status")).status_code != 200:
            assert time.monotonic() < deadline, "the store never opened"
            await asyncio.sleep(0.05)
        answers = await asyncio.gather(
            *(
                client.post("/api/events", content=json.dumps(body), headers=HEADERS)
                for body in bodies
            )
        )
    return [(answer.status_code, answer.json()) for answer in answers]


def stored_keys(url: str) -> list[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT idempotency_key FROM phoenix_events").fetchall()
    return sorted(str(row[0]) for row in rows)


def test_concurrent_requests_each_get_their_own_answer(postgres_url: str) -> None:
    singles: list[object] = [event(f"k{n}") for n in range(40)]
    batch = {"events": [event("b1"), event("b2"), event("k0")]}  # k0 also sent alone
    refused = event("bad", timestamp="9999-12-31T12:00:00Z")  # no store keeps it
    answers = asyncio.run(post_all(postgres_url, [*singles, batch, refused]))

    assert all(status == 202 for status, _body in answers[:41]), answers
    assert sum(body["accepted"] for _status, body in answers[:41]) == 42
    assert sum(body["duplicates"] for _status, body in answers[:41]) == 1
    assert answers[40][1]["accepted"] in (2, 3)  # k0 is the batch's only if it came first
    assert answers[41][0] == 400, answers[41]
    assert stored_keys(postgres_url) == sorted([f"k{n}" for n in range(40)] + ["b1", "b2"])


def new(key: str, **extra: Any) -> NewEvent:
    return new_event(default_catalogue(), **event(key, **extra))


def test_groups_of_requests_share_transactions_on_the_real_store(postgres_url: str) -> None:
    close_flywheel(open_flywheel(make_settings(postgres_url), migrate=True))
    engine = create_postgres_engine(postgres_url)
    inbox = SqlAlchemyEventInbox(engine)
    transactions: list[int] = []

    def append_groups(groups: Any) -> list[AppendResult]:
        transactions.append(len(groups))
        return inbox.append_groups(groups)

    bodies = [[new(f"k{n}")] for n in range(30)]
    # An event the store's own check refuses; the domain refuses it first, so it is made
    # past that check, as another writer's rule might let one through.
    refused = replace(new("bad"), timestamp=datetime(9999, 12, 31, 12, tzinfo=UTC))
    bodies += [[new("b1"), new("k3")], [refused]]

    async def together() -> list[AppendResult | BaseException]:
        commit = GroupCommit(append_groups)
        return list(
            await asyncio.gather(*(commit.append(body) for body in bodies), return_exceptions=True)
        )

    try:
        results = asyncio.run(together())
    finally:
        engine.dispose()
    assert max(transactions) > 1, transactions  # requests did share a transaction
    assert results[:30] == [AppendResult(1, 0)] * 30
    assert results[30] == AppendResult(1, 1)
    assert isinstance(results[31], RequestInvalidError)
    assert stored_keys(postgres_url) == sorted([f"k{n}" for n in range(30)] + ["b1"])
