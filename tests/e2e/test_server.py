"""Whole journeys over real HTTP against a real server process, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from tests.conftest import make_settings
from tests.e2e.conftest import Server, running_server
from tests.pgbouncer import free_port, pgbouncer

pytestmark = pytest.mark.e2e
TOKEN = "e2e-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def event(event_type: str, app: str, user: str, **extra: Any) -> dict[str, Any]:
    return {"event_type": event_type, "app_source": app, "user_id": user, **extra}


def processed(server: Server, count: int) -> bool:
    status = server.queue()
    return (status.get("processed"), status.get("pending"), status.get("processing")) == (
        count,
        0,
        0,
    )


def test_a_user_journey_over_http(migrated_url: str) -> None:
    with running_server(migrated_url, FLYWHEEL_API_TOKEN=TOKEN) as server:
        http = server.client
        server.wait_until(lambda: http.get("/health").json()["worker"] == "running", what="worker")
        letter = event(
            "letter.generated", "phoenix-letters", "alice", payload={"company": "Airbus"}
        )
        refused = server.anonymous.post("/api/events", json=letter)
        assert refused.status_code == 401
        assert "Bearer" in refused.json()["error"]
        wrong = http.post("/api/events", json=letter, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert server.anonymous.get("/api/events/queue-status").status_code == 401
        assert server.anonymous.get("/health").status_code == 200
        assert http.get("/api/events/queue-status").json()["pending"] == 0
        first = http.post("/api/events", json=letter, headers=AUTH)
        again = http.post("/api/events", json=letter, headers=AUTH)
        assert (first.status_code, first.json()) == (202, {"accepted": 1, "duplicates": 0})
        assert (again.status_code, again.json()) == (202, {"accepted": 0, "duplicates": 1})
        # No POST to process: the background worker picks the event up by itself.
        server.wait_until(lambda: processed(server, 1), what="the event processed")
        server.wait_until(lambda: nudges(server, "alice"), what="the nudge")
        (nudge,) = nudges(server, "alice")
        assert (
            nudge["message"]
            == {
                "chances": "Optimisez vos chances avec Phoenix CV !",
                "difference": "Un CV soigné fait la différence : créez le vôtre avec Phoenix CV !",
            }[nudge["variant"]]
        )
        assert http.post(f"/api/nudges/{nudge['nudge_id']}/shown", headers=AUTH).status_code == 200
        assert nudges(server, "alice") == []  # shown: hidden for the cooldown
        cv = event("cv.uploaded", "phoenix-cv", "alice")
        bob = event("letter.generated", "phoenix-letters", "bob")
        batch = http.post("/api/events", json={"events": [cv, bob]}, headers=AUTH)
        assert batch.status_code == 202
        server.wait_until(lambda: processed(server, 3), what="the CV processed")
        server.wait_until(
            lambda: http.get("/api/analytics/ecosystem").json()["nudges"]["converted"] == 1,
            what="the conversion",
        )
        figures = http.get("/api/analytics/ecosystem", params={"days": 30}).json()
        assert figures["nudges"] == {"detected": 2, "shown": 1, "converted": 1, "organic": 0}
        assert (figures["total_events"], figures["unique_users"]) == (3, 2)
        assert figures["cross_app_users"] == 1
        server.wait_until(lambda: nudges(server, "bob"), what="bob's nudge")
        before = read_models(server)

        requeued = http.post(
            "/api/events/force-reprocess", json={"since": "2000-01-01T00:00:00Z"}, headers=AUTH
        ).json()
        assert requeued == {"requeued": 3}
        server.wait_until(lambda: processed(server, 3), what="the replay")
        assert read_models(server) == before
        by_id = http.post("/api/events/force-reprocess", json={"event_ids": [1]}, headers=AUTH)
        assert by_id.json() == {"requeued": 1}
        server.wait_until(lambda: processed(server, 3), what="the second replay")
        assert read_models(server) == before
        server.stop()


def nudges(server: Server, user: str) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = server.client.get(
        f"/api/users/{user}/nudges", params={"app": "phoenix-letters"}
    ).json()
    return answer


def read_models(server: Server) -> tuple[object, ...]:
    """Journeys, nudges and figures, once the read models caught up with the queue.

    A drain always ends by projecting, so a manual drain (which finds nothing left to
    claim) brings the views up to date with every event already marked processed.
    """
    drained = server.client.post("/api/events/process-queue", headers=AUTH)
    assert drained.status_code == 200, drained.text
    http = server.client
    return (
        http.get("/api/analytics/ecosystem", params={"days": 30}).json(),
        http.get("/api/users/alice/journey").json(),
        http.get("/api/users/bob/journey").json(),
        nudges(server, "alice"),
        nudges(server, "bob"),
        http.get("/api/users/alice/nudges", params={"app": "phoenix-cv"}).json(),
    )


def test_events_written_while_the_server_is_down_are_processed_when_it_starts(
    migrated_url: str,
) -> None:
    container = open_flywheel(make_settings(migrated_url))
    try:
        kinds = [("letter.generated", "phoenix-letters"), ("cv.generated", "phoenix-cv")]
        container.ingestion().publish(
            [
                event(t, a, f"user-{n % 7}", idempotency_key=str(n))
                for n, (t, a) in enumerate(kinds * 20)
            ]
        )
    finally:
        close_flywheel(container)
    with running_server(migrated_url) as server:
        server.wait_until(lambda: processed(server, 40), what="the backlog drained")
        # Read models follow the queue within a projection step.
        server.wait_until(
            lambda: server.client.get("/api/analytics/ecosystem").json()["total_events"] == 40,
            what="the figures",
        )
        log = server.stop()
    # Text logs by default: one line per fact, its figures as key=value.
    assert "queue drained processed=40" in log
    assert "method=GET path=/api/events/queue-status status=200 duration_ms=" in log


def test_json_logs_one_object_per_line(migrated_url: str) -> None:
    with running_server(migrated_url, LOG_FORMAT="json") as server:
        letter = event("letter.generated", "phoenix-letters", "dora")
        assert server.client.post("/api/events", json=letter).status_code == 202
        server.wait_until(lambda: processed(server, 1), what="the event processed")
        log = server.stop()
    records = [json.loads(line) for line in log.splitlines() if line.strip()]
    access = [r for r in records if r["logger"] == "phoenix.access" and r["method"] == "POST"]
    assert [(r["path"], r["status"]) for r in access] == [("/api/events", 202)]
    assert isinstance(access[0]["duration_ms"], float)
    drained = [r for r in records if r["message"] == "queue drained"]
    assert sum(r["processed"] for r in drained) == 1
    assert any(r["message"] == "Application shutdown complete." for r in records)


LETTER = event("letter.generated", "phoenix-letters", "u1")
BAD_REQUESTS: list[tuple[str, str, dict[str, Any], int, str | None, str]] = [
    # method, path, request, status, field named, a word the message must contain
    ("POST", "/api/events", {"content": b'{"event_type":'}, 400, "body", "JSON"),
    ("POST", "/api/events", {"json": {**LETTER, "user_id": 12}}, 400, "user_id", "string"),
    (
        "POST",
        "/api/events",
        {"json": {"event_type": "letter.generated", "app_source": "phoenix-letters"}},
        400,
        "user_id",
        "required",
    ),
    (
        "POST",
        "/api/events",
        {"json": {**LETTER, "event_type": "cv.burned"}},
        400,
        "event_type",
        "letter.generated",
    ),
    ("POST", "/api/events", {"json": {"events": [LETTER] * 1001}}, 400, "events", "1000"),
    (
        "POST",
        "/api/events",
        {"json": {**LETTER, "payload": {"text": "x" * 70_000}}},
        400,
        "payload",
        "limit",
    ),
    (
        "POST",
        "/api/events",
        {"json": {"events": [LETTER, {**LETTER, "app_source": "phoenix-mail"}]}},
        400,
        "events.1.app_source",
        "phoenix-mail",
    ),
    ("POST", "/api/events", {"json": {**LETTER, "timestamp": "yesterday"}}, 400, "timestamp", ""),
    ("POST", "/api/events/force-reprocess", {"json": {}}, 400, "body", "exactly one"),
    (
        "POST",
        "/api/events/force-reprocess",
        {"json": {"status": "dead", "since": "2000-01-01T00:00:00Z"}},
        400,
        "body",
        "exactly one",
    ),
    ("POST", "/api/events/force-reprocess", {"json": {"status": "done"}}, 400, "status", ""),
    ("POST", "/api/nudges/no-such-nudge/shown", {}, 404, None, "no-such-nudge"),
    ("GET", "/api/users/nobody/journey", {}, 404, None, "nobody"),
    ("GET", "/api/users/u1/nudges", {"params": {"app": "phoenix-mail"}}, 400, "app", "known"),
    ("GET", "/api/users/u1/nudges", {}, 400, "app", ""),
    ("GET", "/api/analytics/ecosystem", {"params": {"days": "abc"}}, 400, "days", ""),
    ("GET", "/api/analytics/ecosystem", {"params": {"days": "0"}}, 400, "days", "1"),
    ("GET", "/api/analytics/ecosystem", {"params": {"days": "-3"}}, 400, "days", "1"),
    ("POST", "/api/events", {"content": b"x" * (8 * 1024 * 1024)}, 413, "body", "4194304"),
    ("POST", "/api/events", {"content": b""}, 400, "body", "empty"),
    ("POST", "/api/events", {"content": b"[]"}, 400, "body", "not an array"),
    ("POST", "/api/events", {"json": {**LETTER, "user_id": "u\u0000"}}, 400, "user_id", "NUL"),
]


def test_bad_input_is_a_4xx_naming_the_problem_and_the_server_keeps_serving(
    migrated_url: str,
) -> None:
    with running_server(migrated_url) as server:
        problems = []
        for method, path, request, status, field, word in BAD_REQUESTS:
            headers = {"Content-Type": "application/json"} if "content" in request else {}
            response = server.client.request(method, path, headers=headers, **request)
            answer = response.json()
            if (
                response.status_code != status
                or answer.get("field") != field
                or not answer.get("error")
                or word not in answer["error"]
                or "Traceback" in response.text
            ):
                problems.append((method, path, response.status_code, answer))
        assert problems == []
        assert server.client.get("/health").status_code == 200
        assert server.queue()["pending"] == 0  # nothing half-written


def test_a_huge_body_is_refused_before_it_is_sent(migrated_url: str) -> None:
    """The server answers 413 from the headers alone: it never waits for 100 MB."""
    with running_server(migrated_url) as server:
        host, port = server.client.base_url.host, server.client.base_url.port
        with socket.create_connection((host, port), timeout=30) as connection:
            connection.sendall(
                b"POST /api/events HTTP/1.1\r\n"
                b"Host: localhost\r\n"
                b"Content-Type: application/json\r\n"
                b"Content-Length: 104857600\r\n\r\n"
                b'{"events": ['
            )
            # Only the headers and a few bytes are sent: an answer proves it read no more.
            answer = read_response(connection)
        assert answer.startswith("HTTP/1.1 413"), answer
        assert '"error"' in answer.partition("\r\n\r\n")[2]
        assert server.client.get("/health").status_code == 200


def read_response(connection: socket.socket) -> str:
    """One whole HTTP response (head and its Content-Length of body), as text."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(65536)
        if not chunk:
            break
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    return (head + b"\r\n\r\n" + body).decode(errors="replace")


def test_manual_drains_and_the_background_worker_share_the_queue(migrated_url: str) -> None:
    """Two POST process-queue at once, while the worker drains too: each event once."""
    with running_server(migrated_url, EVENT_BATCH_SIZE="25") as server:
        batches = [
            [
                event(
                    "letter.generated",
                    "phoenix-letters",
                    f"user-{n % 50}",
                    idempotency_key=f"{b}-{n}",
                )
                for n in range(500)
            ]
            for b in range(4)
        ]
        for batch in batches:
            assert server.client.post("/api/events", json={"events": batch}).status_code == 202
        with ThreadPoolExecutor(2) as pool:
            drains = list(
                pool.map(lambda _: server.client.post("/api/events/process-queue"), range(2))
            )
        assert [d.status_code for d in drains] == [200, 200]
        server.wait_until(lambda: processed(server, 2000), what="every event processed")
        status = server.queue()
        assert (status["failed"], status["dead"], status["duplicates"]) == (0, 0, 0)
        drained = server.client.post("/api/events/process-queue").json()
        assert drained["processed"] == 0
        figures = server.client.get("/api/analytics/ecosystem").json()
        assert (figures["total_events"], figures["unique_users"]) == (2000, 50)
        # Each user's nudges detected once: as many per user as the rules their letters meet.
        journey = server.client.get("/api/users/user-0/journey").json()
        types = [n["nudge_type"] for n in journey["nudges"]]
        assert "letters_to_cv" in types
        assert len(types) == len(set(types))
        assert figures["nudges"]["detected"] == 50 * len(types)


def test_sigterm_mid_drain_leaves_no_event_leased(migrated_url: str) -> None:
    """A stop during the start-up drain: the batch in hand finishes, the rest stays pending."""
    total = 4000
    container = open_flywheel(make_settings(migrated_url))
    try:
        for chunk in range(0, total, 1000):
            container.ingestion().publish(
                [
                    event("cv.uploaded", "phoenix-cv", f"user-{n % 97}", idempotency_key=str(n))
                    for n in range(chunk, chunk + 1000)
                ],
                batch=True,
            )
    finally:
        close_flywheel(container)
    with running_server(migrated_url, EVENT_BATCH_SIZE="10") as server:
        server.wait_until(lambda: server.queue().get("processed", 0) > 0, what="the drain")
        log = server.stop()
    assert "Application shutdown complete" in log
    container = open_flywheel(make_settings(migrated_url))
    try:
        status = container.queries().get_queue_status()
    finally:
        close_flywheel(container)
    assert status.processing == 0
    assert (status.failed, status.dead) == (0, 0)
    assert status.processed + status.pending == total


@pytest.mark.postgres
def test_health_is_degraded_while_the_store_is_down_and_recovers_by_itself(
    postgres_url: str,
) -> None:
    close_flywheel(open_flywheel(make_settings(postgres_url), migrate=True))
    port = free_port()  # nothing listens here yet: the store is "down"
    pooled = f"postgresql://postgres@127.0.0.1:{port}/{postgres_url.rpartition('/')[2]}?pooler=transaction"
    with running_server(pooled, wait_open=False) as server:
        down = server.client.get("/health")
        assert down.status_code == 503
        assert down.json()["status"] == "degraded"
        assert server.client.get("/api/events/queue-status").status_code == 503
        with pgbouncer(postgres_url, port):
            server.wait_until(
                lambda: server.client.get("/health").status_code == 200, what="recovery"
            )
            server.wait_until(lambda: server.queue() != {}, what="the store opened")
            letter = event("letter.generated", "phoenix-letters", "bob")
            assert server.client.post("/api/events", json=letter).status_code == 202
            server.wait_until(lambda: processed(server, 1), what="the event processed")
        # The store goes away again while the server runs: a 503 that says so, never a 500.
        lost = server.client.get("/api/events/queue-status")
        assert lost.status_code == 503, lost.text
        assert lost.json() == {"error": "the store is unreachable; retry later", "field": None}
        assert server.client.get("/health").json()["status"] == "degraded"
        with pgbouncer(postgres_url, port):
            server.wait_until(lambda: server.queue() != {}, what="the store back")
            assert server.client.get("/health").status_code == 200
            server.stop()


@pytest.mark.postgres
def test_an_event_written_straight_to_postgres_wakes_the_worker(postgres_url: str) -> None:
    close_flywheel(open_flywheel(make_settings(postgres_url), migrate=True))
    # Polling every 10 minutes: only LISTEN/NOTIFY can get this event processed in time.
    with running_server(postgres_url, POLL_INTERVAL_SECONDS="600") as server:
        server.wait_until(
            lambda: server.client.get("/health").json()["worker"] == "running", what="worker"
        )
        container = open_flywheel(make_settings(postgres_url))
        try:
            container.ingestion().publish([event("cv.uploaded", "phoenix-cv", "carla")])
        finally:
            close_flywheel(container)
        server.wait_until(lambda: processed(server, 1), timeout=60, what="the notified event")
