"""The HTTP API in process (Litestar's TestClient) on each real store.

The background worker is off here, so each test decides when the queue is drained; the
end-to-end tests run the real server with its worker.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from src.entrypoints.http import create_app
from tests.conftest import make_settings

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def letter(user: str = "u1", **extra: Any) -> dict[str, Any]:
    return {
        "event_type": "letter.generated",
        "app_source": "phoenix-letters",
        "user_id": user,
        **extra,
    }


def cv(user: str = "u1", **extra: Any) -> dict[str, Any]:
    return {"event_type": "cv.uploaded", "app_source": "phoenix-cv", "user_id": user, **extra}


@pytest.fixture
def client(store_url: str) -> Iterator[TestClient[Any]]:
    settings = make_settings(store_url, flywheel_api_token=TOKEN)
    close_flywheel(open_flywheel(settings, migrate=True))
    app = create_app(settings, run_worker=False)
    with TestClient(app) as test_client:
        yield test_client


def post(client: TestClient[Any], path: str, body: Any = None) -> Any:
    return client.post(path, json=body, headers=AUTH)


def get(client: TestClient[Any], path: str, **params: Any) -> Any:
    return client.get(path, params=params or None, headers=AUTH)


def process(client: TestClient[Any]) -> dict[str, Any]:
    response = post(client, "/api/events/process-queue")
    assert response.status_code == 200
    result: dict[str, Any] = response.json()
    return result


def wait_open(client: TestClient[Any]) -> None:
    """The server opens its store in the background; wait until it answers."""
    deadline = time.monotonic() + 30
    while get(client, "/api/events/queue-status").status_code != 200:
        assert time.monotonic() < deadline, "the store never opened"
        time.sleep(0.05)


def test_health_reports_the_store_and_the_worker(client: TestClient[Any]) -> None:
    wait_open(client)
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "worker": "external",  # the app is built without its worker
        "version": "0.1.0",
        "last_error": None,
        "failing_since": None,
        "failing_for_seconds": None,
    }


def test_ingest_dedup_process_and_read_back(client: TestClient[Any]) -> None:
    wait_open(client)
    first = post(client, "/api/events", letter(payload={"company": "Airbus"}))
    again = post(
        client, "/api/events", {"events": [letter(payload={"company": "Airbus"}), cv("u2")]}
    )
    assert (first.status_code, first.json()) == (202, {"accepted": 1, "duplicates": 0})
    assert (again.status_code, again.json()) == (202, {"accepted": 1, "duplicates": 1})
    assert get(client, "/api/events/queue-status").json()["pending"] == 2
    drained = process(client)
    assert {k: drained[k] for k in ("processed", "duplicates", "failed", "dead")} == {
        "processed": 2,
        "duplicates": 0,
        "failed": 0,
        "dead": 0,
    }
    assert drained["duration_ms"] >= 0
    status = get(client, "/api/events/queue-status").json()
    assert status == {
        "pending": 0,
        "processing": 0,
        "processed": 2,
        "duplicates": 0,
        "failed": 0,
        "dead": 0,
        "oldest_pending_age_seconds": None,
    }
    journey = get(client, "/api/users/u1/journey").json()
    assert journey["user_id"] == "u1"
    assert journey["apps"] == ["phoenix-letters"]
    assert [e["event_type"] for e in journey["events"]] == ["letter.generated"]
    assert set(journey["events"][0]) == {"event_type", "app_source", "timestamp"}
    assert [n["nudge_type"] for n in journey["nudges"]] == ["letters_to_cv"]


def test_nudges_are_shown_then_hidden_for_the_cooldown(client: TestClient[Any]) -> None:
    wait_open(client)
    post(client, "/api/events", letter())
    process(client)
    nudges = get(client, "/api/users/u1/nudges", app="phoenix-letters").json()
    assert [(n["nudge_type"], n["target_app"]) for n in nudges] == [("letters_to_cv", "phoenix-cv")]
    (experiment,) = [
        e for e in get(client, "/api/experiments").json() if e["nudge_type"] == "letters_to_cv"
    ]
    messages = {v["variant"]: v["message"] for v in experiment["variants"]}
    assert nudges[0]["message"] == messages[nudges[0]["variant"]]
    assert set(nudges[0]) == {"nudge_id", "nudge_type", "target_app", "message", "variant"}
    shown = post(client, f"/api/nudges/{nudges[0]['nudge_id']}/shown")
    assert shown.status_code == 200
    assert shown.json()["nudge_id"] == nudges[0]["nudge_id"]
    assert get(client, "/api/users/u1/nudges", app="phoenix-letters").json() == []
    figures = get(client, "/api/analytics/ecosystem", days=7).json()
    assert figures["nudges"] == {"detected": 1, "shown": 1, "converted": 0, "organic": 0}


def test_analytics_has_the_documented_fields(client: TestClient[Any]) -> None:
    wait_open(client)
    post(client, "/api/events", {"events": [letter("u1"), cv("u1"), cv("u2")]})
    process(client)
    figures = get(client, "/api/analytics/ecosystem").json()
    assert figures == {
        "period_days": 30,
        "total_events": 3,
        "unique_users": 2,
        "cross_app_users": 1,
        "events_by_app": {"phoenix-cv": 2, "phoenix-letters": 1},
        "events_by_type": {"cv.uploaded": 2, "letter.generated": 1},
        # u1 used Phoenix CV without being shown the nudge: organic.
        "nudges": {"detected": 2, "shown": 0, "converted": 0, "organic": 1},
        "app_combinations": {"phoenix-cv+phoenix-letters": 1},
    }


def test_force_reprocess_requeues_exactly_what_is_asked_and_changes_no_figure(
    client: TestClient[Any],
) -> None:
    wait_open(client)
    post(client, "/api/events", {"events": [letter("u1"), cv("u1"), cv("u2"), letter("u3")]})
    process(client)
    before = (
        get(client, "/api/analytics/ecosystem").json(),
        get(client, "/api/users/u1/journey").json(),
        get(client, "/api/users/u3/nudges", app="phoenix-letters").json(),
    )
    requeued = post(client, "/api/events/force-reprocess", {"event_ids": [1, 3]})
    assert requeued.json() == {"requeued": 2}
    assert get(client, "/api/events/queue-status").json()["pending"] == 2
    assert process(client)["processed"] == 2
    since = post(client, "/api/events/force-reprocess", {"since": "2000-01-01T00:00:00Z"})
    assert since.json() == {"requeued": 4}
    process(client)
    after = (
        get(client, "/api/analytics/ecosystem").json(),
        get(client, "/api/users/u1/journey").json(),
        get(client, "/api/users/u3/nudges", app="phoenix-letters").json(),
    )
    assert after == before


GUARDED_ROUTES = [
    # (method, route as the app declares it, a path that reaches it)
    ("GET", "/api/events/queue-status", "/api/events/queue-status"),
    ("POST", "/api/events", "/api/events"),
    ("POST", "/api/events/process-queue", "/api/events/process-queue"),
    ("POST", "/api/events/force-reprocess", "/api/events/force-reprocess"),
    ("GET", "/api/analytics/ecosystem", "/api/analytics/ecosystem"),
    ("GET", "/api/users/{user_id:str}/journey", "/api/users/u1/journey"),
    ("GET", "/api/users/{user_id:str}/nudges", "/api/users/u1/nudges?app=phoenix-letters"),
    ("GET", "/api/users/{user_id:str}/insights", "/api/users/u1/insights"),
    ("POST", "/api/nudges/{nudge_id:str}/shown", "/api/nudges/some-nudge/shown"),
    ("DELETE", "/api/users/{user_id:str}", "/api/users/u1"),
    ("GET", "/api/experiments", "/api/experiments"),
    ("GET", "/api/experiments/nudge-choice", "/api/experiments/nudge-choice"),
    ("GET", "/api/dashboard", "/api/dashboard"),
    ("GET", "/metrics", "/metrics"),
    ("GET", "/api/rules/{nudge_type:str}/dry-run", "/api/rules/letters_to_cv/dry-run"),
]
# The dashboard page and its scripts hold no data: the page asks for the token itself.
PUBLIC_PREFIXES = ("/health", "/schema", "/dashboard", "/static")


def test_every_route_of_the_app_is_guarded_or_deliberately_public(
    client: TestClient[Any],
) -> None:
    """A route added later must join the guarded list below, or be made public on purpose."""
    routes = {
        (method, route.path)
        for route in client.app.routes
        for method in getattr(route, "methods", ())
        if method not in ("HEAD", "OPTIONS") and not route.path.startswith(PUBLIC_PREFIXES)
    }
    assert routes <= {(method, route) for method, route, _ in GUARDED_ROUTES}


@pytest.mark.parametrize(("method", "path"), [(m, path) for m, _, path in GUARDED_ROUTES])
def test_with_a_token_every_route_but_health_needs_it(
    client: TestClient[Any], method: str, path: str
) -> None:
    wait_open(client)
    missing = client.request(method, path, json={})
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.json() == {
        "error": "a valid 'Authorization: Bearer <token>' is required",
        "field": None,
    }
    wrong = client.request(method, path, json={}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    basic = client.request(method, path, json={}, headers={"Authorization": f"Basic {TOKEN}"})
    assert basic.status_code == 401
    allowed = client.request(method, path, json={"event_ids": [1]}, headers=AUTH)
    assert allowed.status_code != 401


def test_health_and_the_api_description_stay_open(client: TestClient[Any]) -> None:
    wait_open(client)
    assert client.get("/health").status_code == 200
    assert client.get("/schema/openapi.json").status_code == 200
    # Nothing was written by the refused calls above; the token lets a write through.
    assert client.post("/api/events", json=letter()).status_code == 401
    assert get(client, "/api/events/queue-status").json()["pending"] == 0
    assert post(client, "/api/events", letter()).status_code == 202


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        (
            "/api/events",
            {"event_type": "letter.sent", "app_source": "phoenix-letters", "user_id": "u"},
            400,
            "event_type",
        ),
        (
            "/api/events",
            {"event_type": "letter.generated", "app_source": "phoenix-letters"},
            400,
            "user_id",
        ),
        (
            "/api/events",
            {"event_type": "letter.generated", "app_source": "phoenix-mail", "user_id": "u"},
            400,
            "app_source",
        ),
        ("/api/events", {**letter(), "user_id": 12}, 400, "user_id"),
        ("/api/events", {**letter(), "payload": [1, 2]}, 400, "payload"),
        ("/api/events", {**letter(), "payload": {"t": "x" * 70_000}}, 400, "payload"),
        ("/api/events", {**letter(), "timestamp": "yesterday"}, 400, "timestamp"),
        ("/api/events", {"events": [letter()] * 1001}, 400, "events"),
        (
            "/api/events",
            {"events": [letter(), {"event_type": "cv.uploaded"}]},
            400,
            "events.1.app_source",
        ),
        (
            "/api/events",
            {"events": [letter(), {**cv(), "event_type": "cv.lost"}]},
            400,
            "events.1.event_type",
        ),
        ("/api/events/force-reprocess", {}, 400, "body"),
        ("/api/events/force-reprocess", {"status": "processed"}, 400, "status"),
        ("/api/events/force-reprocess", {"event_ids": ["a"]}, 400, "event_ids.0"),
        ("/api/nudges/no-such-nudge/shown", None, 404, None),
    ],
)
def test_bad_input_is_a_4xx_naming_the_problem_and_writes_nothing(
    client: TestClient[Any], path: str, body: Any, status: int, field: str | None
) -> None:
    wait_open(client)
    response = post(client, path, body)
    assert response.status_code == status, response.text
    answer = response.json()
    assert answer["field"] == field
    assert answer["error"]
    assert "Traceback" not in response.text
    assert get(client, "/api/events/queue-status").json()["pending"] == 0


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("/api/analytics/ecosystem?days=abc", 400, "days"),
        ("/api/analytics/ecosystem?days=0", 400, "days"),
        ("/api/users/nobody/journey", 404, None),
        ("/api/users/u1/nudges?app=phoenix-mail", 400, "app"),
        ("/api/users/u1/nudges", 400, "app"),
    ],
)
def test_bad_queries_are_4xx(
    client: TestClient[Any], path: str, status: int, field: str | None
) -> None:
    wait_open(client)
    response = get(client, path)
    assert response.status_code == status
    assert response.json()["field"] == field


def test_malformed_json_and_huge_bodies_are_refused(client: TestClient[Any]) -> None:
    wait_open(client)
    malformed = client.post("/api/events", content=b'{"event_type":', headers=AUTH)
    assert malformed.status_code == 400
    assert "not valid JSON" in malformed.json()["error"]
    huge = client.post("/api/events", content=b"a" * (6 * 1024 * 1024), headers=AUTH)
    assert huge.status_code == 413
    assert client.get("/health").status_code == 200


def test_the_openapi_document_describes_every_model(client: TestClient[Any]) -> None:
    document = client.get("/schema/openapi.json").json()
    paths = set(document["paths"])
    assert {
        "/health",
        "/api/events",
        "/api/events/queue-status",
        "/api/events/process-queue",
        "/api/events/force-reprocess",
        "/api/analytics/ecosystem",
        "/api/users/{user_id}/journey",
        "/api/users/{user_id}/nudges",
        "/api/nudges/{nudge_id}/shown",
        "/api/users/{user_id}",
        "/api/rules/{nudge_type}/dry-run",
    } <= paths
    schemas = document["components"]["schemas"]
    assert {"IngestIn", "EventIn", "IngestOut", "EcosystemOut", "NudgeOut"} <= set(schemas)
    assert "description" in schemas["EventIn"]["properties"]["payload"]
    undescribed = [name for name, schema in schemas.items() if not schema.get("description")]
    assert undescribed == []
    ingest = document["paths"]["/api/events"]["post"]["responses"]
    assert {"202", "400", "401", "413", "503"} <= set(ingest)
    assert ingest["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorOut"
    }
    json.dumps(document)
