"""The OpenAPI document tells the truth about each route's answers: every route guarded by
the token documents its 401, and ``/health`` its 503."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from src.entrypoints.http import create_app
from tests.conftest import make_settings

PUBLIC = {"/health"}
"""Routes open without the token (``opt={"public": True}``) that the document lists."""
METHODS = {"get", "head", "post", "put", "patch", "delete"}


def document(sqlite_url: str) -> dict[str, Any]:
    settings = make_settings(sqlite_url, flywheel_api_token="openapi-token")
    with TestClient(create_app(settings, run_worker=False)) as client:
        response = client.get("/schema/openapi.json")
        assert response.status_code == 200
        answer: dict[str, Any] = response.json()
        # Whatever the document says, the server's answers are the truth it must match.
        for path, operations in answer["paths"].items():
            if path in PUBLIC:
                continue
            concrete = path.replace("{user_id}", "u1").replace("{nudge_id}", "n1")
            concrete = concrete.replace("{nudge_type}", "letters_to_cv")
            for method in operations.keys() & METHODS:
                assert client.request(method, concrete).status_code == 401, (method, path)
    return answer


def test_every_guarded_route_documents_its_401(sqlite_url: str) -> None:
    paths = document(sqlite_url)["paths"]
    missing = [
        f"{method.upper()} {path}"
        for path, operations in paths.items()
        if path not in PUBLIC
        for method, operation in operations.items()
        if method in METHODS and "401" not in operation["responses"]
    ]
    assert len(paths) > 10
    assert missing == []


def test_health_documents_its_503_with_the_same_body(sqlite_url: str) -> None:
    health = document(sqlite_url)["paths"]["/health"]
    for method in ("get", "head"):
        responses = health[method]["responses"]
        assert {"200", "503"} <= responses.keys(), (method, responses.keys())
        assert "401" not in responses
    assert (
        health["get"]["responses"]["503"]["content"]["application/json"]["schema"]
        == (health["get"]["responses"]["200"]["content"]["application/json"]["schema"])
    )
