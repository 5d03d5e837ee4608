"""Every bad input over HTTP is a 4xx naming the field, in words a client understands,
and writes nothing; on both stores, which must accept and refuse the same events."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from src.application.admin import MAX_REQUEUE_IDS
from src.domain.events import MAX_PAYLOAD_DEPTH
from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from src.entrypoints.http import create_app
from src.entrypoints.http.body_check import explain_body
from src.entrypoints.http.schemas import MAX_BODY_BYTES
from tests.conftest import make_settings

JSON = {"content-type": "application/json"}


def letter(user: str = "u1", **extra: Any) -> dict[str, Any]:
    return {
        "event_type": "letter.generated",
        "app_source": "phoenix-letters",
        "user_id": user,
        **extra,
    }


def nested(levels: int) -> str:
    """A payload of ``levels`` objects within one another, as JSON text."""
    return '{"a":' * (levels - 1) + "{}" + "}" * (levels - 1)


@pytest.fixture
def client(store_url: str) -> Iterator[TestClient[Any]]:
    settings = make_settings(store_url)
    close_flywheel(open_flywheel(settings, migrate=True))
    with TestClient(create_app(settings, run_worker=False)) as test_client:
        deadline = time.monotonic() + 30
        while test_client.get("/api/events/queue-status").status_code != 200:
            assert time.monotonic() < deadline, "the store never opened"
            time.sleep(0.05)
        yield test_client


def pending(client: TestClient[Any]) -> int:
    return int(client.get("/api/events/queue-status").json()["pending"])


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({**letter(), "payload": {"note": "a\u0000b"}}, "payload", "NUL character"),
        (letter("u\u0000"), "user_id", "NUL character"),
        ({"events": [letter(), letter("v\u0000")]}, "events.1.user_id", "NUL character"),
        ({**letter(), "idempotency_key": "k\u0000"}, "idempotency_key", "NUL character"),
        (letter("team/alice"), "user_id", "must not contain '/'"),
        ({**letter(), "timestamp": "0001-01-01T00:00:00+01:00"}, "timestamp", "years 1 to 9999"),
        ({**letter(), "timestamp": "9999-12-31T23:00:00-05:00"}, "timestamp", "years 1 to 9999"),
        # A field that is none of an event's: misspelt, its value would be lost unsaid.
        ({**letter(), "payolad": {"letter_id": "L1"}}, "payolad", "not permitted"),
        (
            {"events": [letter(), letter(), {**letter(), "idempotency_kye": "k"}]},
            "events.2.idempotency_kye",
            "not permitted",
        ),
        ({"events": [letter()], "user": "u1"}, "user", "not permitted"),
    ],
)
def test_an_event_the_stores_cannot_keep_or_serve_is_refused_naming_its_field(
    client: TestClient[Any], body: dict[str, Any], field: str, words: str
) -> None:
    response = client.post("/api/events", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert words in response.json()["error"]
    assert pending(client) == 0


@pytest.mark.parametrize(
    ("levels", "words"),
    [
        (MAX_PAYLOAD_DEPTH + 1, "more than 64 levels"),
        (990, "nested too deeply"),
        (100_000, "nested too deeply"),
    ],
)
def test_a_payload_nested_past_the_documented_depth_is_a_400(
    client: TestClient[Any], levels: int, words: str
) -> None:
    body = json.dumps(letter())[:-1] + f',"payload":{nested(levels)}}}'
    response = client.post("/api/events", content=body.encode(), headers=JSON)
    assert response.status_code == 400, response.text[:300]
    assert words in response.json()["error"]
    assert pending(client) == 0


def test_a_payload_at_the_documented_depth_is_accepted(client: TestClient[Any]) -> None:
    body = json.dumps(letter())[:-1] + f',"payload":{nested(MAX_PAYLOAD_DEPTH)}}}'
    assert client.post("/api/events", content=body.encode(), headers=JSON).status_code == 202


@pytest.mark.parametrize(
    ("content", "field", "error"),
    [
        (b"", "body", 'body: is empty; send a JSON object: one event, or {"events": [...]}'),
        (
            b"[]",
            "body",
            'body: must be a JSON object (one event, or {"events": [...]}), not an array',
        ),
        (
            b"null",
            "body",
            'body: must be a JSON object (one event, or {"events": [...]}), not null',
        ),
        (
            b'{"event_type":',
            "body",
            "body: is not valid JSON: Expecting value at line 1, column 15",
        ),
        (
            b'{"event_type":"letter.generated","app_source":"phoenix-letters","user_id":"\\ud800"}',
            "user_id",
            "user_id: contains a lone UTF-16 surrogate escape (\\ud800 to \\udfff without its "
            "pair), which is not a character; send valid Unicode",
        ),
        (
            b'{"events":[{"event_type":"letter.generated","payload":{"n":"\\udc00"}}]}',
            "events.0.payload.n",
            "lone UTF-16 surrogate",
        ),
    ],
)
def test_a_body_that_is_not_one_json_object_is_explained(
    client: TestClient[Any], content: bytes, field: str, error: str
) -> None:
    response = client.post("/api/events", content=content, headers=JSON)
    assert response.status_code == 400
    answer = response.json()
    assert answer["field"] == field
    assert error in answer["error"]
    assert pending(client) == 0


HUGE = "9" * 4301  # one digit past what Python turns into an int by default


@pytest.mark.parametrize(
    ("path", "content", "field", "words"),
    [
        (
            "/api/events",
            '{"event_type":"letter.generated","app_source":"phoenix-letters",'
            '"user_id":"u1","payload":{"n":' + HUGE + "}}",
            "payload.n",
            "an integer of 4301 digits",
        ),
        (
            "/api/events",
            '{"events":[{"event_type":"letter.generated","app_source":"phoenix-letters",'
            '"user_id":"u1","payload":{"a":[1,-' + HUGE + "]}}]}",
            "events.0.payload.a.1",
            "an integer of 4301 digits",
        ),
        (
            "/api/events/force-reprocess",
            '{"event_ids":[1,' + "1" * 100_000 + "]}",
            "event_ids.1",
            "an integer of 100000 digits",
        ),
        ("/api/events", '{"payload":{"x":1e400}}', "payload.x", "1e400 is a number out of range"),
        ("/api/events", '{"payload":{"x":-Infinity}}', "payload.x", "-Infinity is not a JSON"),
        ("/api/events", '{"payload":[NaN]}', "payload.0", "NaN is not a JSON number"),
    ],
)
def test_a_number_no_store_could_keep_is_a_400_naming_where_it_is(
    client: TestClient[Any], path: str, content: str, field: str, words: str
) -> None:
    response = client.post(path, content=content.encode(), headers=JSON)
    assert response.status_code == 400, response.text[:300]
    assert response.json()["field"] == field
    assert words in response.json()["error"]
    assert pending(client) == 0


def test_a_body_with_a_byte_order_mark_is_told_so() -> None:
    body = "\ufeff" + json.dumps(letter())
    response_for = {"utf-8": "byte-order mark", "utf-16": "not UTF-8 text"}
    for encoding, words in response_for.items():
        field, message = explain_body(body.encode(encoding), "one event")  # type: ignore[misc]
        assert (field, words in message) == ("body", True), message
        assert "NaN" not in message


def test_a_body_with_a_byte_order_mark_is_a_400_over_http(client: TestClient[Any]) -> None:
    content = b"\xef\xbb\xbf" + json.dumps(letter()).encode()
    response = client.post("/api/events", content=content, headers=JSON)
    assert response.status_code == 400
    assert response.json()["field"] == "body"
    assert "starts with a UTF-8 byte-order mark" in response.json()["error"]
    assert pending(client) == 0


def test_an_empty_force_reprocess_body_says_what_to_send(client: TestClient[Any]) -> None:
    response = client.post("/api/events/force-reprocess", content=b"", headers=JSON)
    assert response.status_code == 400
    assert response.json() == {
        "error": 'body: is empty; send a JSON object: {"event_ids": [...]}, {"since": ...} '
        'or {"status": ...}',
        "field": "body",
    }


def test_a_413_states_the_limit(client: TestClient[Any]) -> None:
    response = client.post("/api/events", content=b"a" * (MAX_BODY_BYTES + 1), headers=JSON)
    assert response.status_code == 413
    assert response.json()["field"] == "body"
    assert f"limit of {MAX_BODY_BYTES} bytes (4 MiB)" in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"event_ids": [2**64]}, "event_ids.0", "is not an event id"),
        ({"event_ids": [0]}, "event_ids.0", "is not an event id"),
        ({"event_ids": list(range(1, 100_001))}, "event_ids", f"at most {MAX_REQUEUE_IDS}"),
        ({"since": "0001-01-01T00:00:00+01:00"}, "since", "years 1 to 9999"),
    ],
)
def test_force_reprocess_refuses_what_no_store_could_select(
    client: TestClient[Any], body: dict[str, Any], field: str, words: str
) -> None:
    response = client.post("/api/events/force-reprocess", json=body)
    assert response.status_code == 400, response.text[:300]
    assert response.json()["field"] == field
    assert words in response.json()["error"]


def test_force_reprocess_takes_the_documented_maximum_of_ids(client: TestClient[Any]) -> None:
    assert client.post("/api/events", json=letter()).status_code == 202
    assert client.post("/api/events/process-queue").json()["processed"] == 1
    ids = list(range(1, MAX_REQUEUE_IDS + 1))
    response = client.post("/api/events/force-reprocess", json={"event_ids": ids})
    assert response.status_code == 200, response.text
    assert response.json() == {"requeued": 1}


def test_an_unsupported_language_is_a_400_listing_the_supported_ones(
    client: TestClient[Any],
) -> None:
    response = client.get("/api/users/u1/nudges?app=phoenix-letters&lang=de")
    assert response.status_code == 400
    assert response.json() == {
        "error": "lang: unsupported language 'de'; supported: en, fr",
        "field": "lang",
    }
    assert client.get("/api/users/u1/nudges?app=phoenix-letters&lang=en").status_code == 200


@pytest.mark.parametrize("lang", ["xx", "de", "FR", ""])
def test_experiments_refuse_an_unsupported_language_as_nudges_do(
    client: TestClient[Any], lang: str
) -> None:
    response = client.get("/api/experiments", params={"lang": lang})
    assert response.status_code == 400, response.text[:200]
    assert response.json() == {
        "error": f"lang: unsupported language {lang!r}; supported: en, fr",
        "field": "lang",
    }
    assert client.get("/api/experiments", params={"lang": "en"}).status_code == 200


def test_head_health_answers_like_get_without_a_body(client: TestClient[Any]) -> None:
    response = client.head("/health")
    assert response.status_code == 200
    assert response.content == b""
