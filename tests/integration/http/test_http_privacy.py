"""What the API tells clients, and what its log lets them write, through the real app.

A 503 names nothing of the database (its details go to the log); a value a client
chose (a path with ``%0A``) cannot start a line of its own in the text log.
"""

from __future__ import annotations

import io
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlalchemy.engine import make_url

from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from src.entrypoints.http import create_app
from src.entrypoints.logging_setup import TextFormatter
from tests.conftest import ADMIN_URL, make_settings
from tests.pgbouncer import free_port

TOKEN = "privacy-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def wait_for(client: TestClient[Any], path: str, status: int) -> Any:
    deadline = time.monotonic() + 30
    while (response := client.get(path, headers=AUTH)).status_code != status:
        assert time.monotonic() < deadline, response.text
        time.sleep(0.05)
    return response


@pytest.fixture
def text_log() -> Iterator[io.StringIO]:
    """The server's root logger writing in the text format, as ``LOG_FORMAT=text`` does."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def unreachable_urls() -> list[Any]:
    secret_db = f"pf_secret_{uuid.uuid4().hex[:8]}"
    base = ADMIN_URL.rpartition("/")[0]
    return [
        # Nothing listens there: "connection refused" names the host and port.
        pytest.param(f"postgresql://secretuser:pw@127.0.0.1:{free_port()}/{secret_db}", id="down"),
        # The server answers and refuses: its message names the database and the user.
        pytest.param(f"{base}/{secret_db}", id="refused", marks=pytest.mark.postgres),
    ]


@pytest.mark.parametrize("database_url", unreachable_urls())
def test_a_503_names_no_user_host_port_or_database(
    database_url: str, text_log: io.StringIO
) -> None:
    settings = make_settings(database_url, flywheel_api_token=TOKEN, poll_interval_seconds=0.1)
    with TestClient(create_app(settings, run_worker=False)) as client:
        # Wait until the server has tried (and failed) to open the store at least once.
        deadline = time.monotonic() + 30
        while "store not ready" not in text_log.getvalue():
            assert time.monotonic() < deadline, text_log.getvalue()
            time.sleep(0.05)
        health = client.get("/health")
        queue = client.get("/api/events/queue-status", headers=AUTH)
    assert health.status_code == 503
    assert health.json()["status"] == "degraded"
    assert health.json()["database"] == "unreachable"
    assert queue.status_code == 503
    assert queue.json() == {"error": "the store is unreachable; retry later", "field": None}
    url = settings.database_url
    secret_parts = {url.rpartition("/")[2], "secretuser", "127.0.0.1", "postgres"}
    secret_parts.add(url.rpartition(":")[2].partition("/")[0])  # the port
    for body in (health.text, queue.text):
        assert [part for part in secret_parts if part in body] == []
    # The operator still learns why, from the log.
    assert url.rpartition("/")[2] in text_log.getvalue() or "127.0.0.1" in text_log.getvalue()


def test_a_store_lost_after_start_is_a_503_without_its_details(
    sqlite_url: str, tmp_path: Any, text_log: io.StringIO
) -> None:
    missing = tmp_path / "no-such-folder" / "flywheel.db"
    settings = make_settings(f"sqlite:///{missing}", flywheel_api_token=TOKEN)
    with TestClient(create_app(settings, run_worker=False)) as client:
        response = wait_for(client, "/api/events/queue-status", 503)
    assert str(tmp_path) not in response.text
    assert response.json()["error"] == "the store is unreachable; retry later"


def test_a_newline_in_a_path_cannot_forge_a_log_line(
    sqlite_url: str, text_log: io.StringIO
) -> None:
    settings = make_settings(sqlite_url, flywheel_api_token=TOKEN)
    forged = "2026-12-01T00:00:00.000000Z INFO    phoenix.access: request status=200"
    with TestClient(create_app(settings, run_worker=False)) as client:
        wait_for(client, "/api/events/queue-status", 200)
        text_log.truncate(0)
        text_log.seek(0)
        client.get(f"/api/users/x%0A{forged.replace(' ', '%20')}%0D/journey", headers=AUTH)
    lines = text_log.getvalue().splitlines()
    access = [line for line in lines if "Z INFO    phoenix.access: request " in line]
    assert len(access) == 1, lines
    assert not any(line.startswith("2026-12-01T00:00:00") for line in lines), lines
    assert "x\\n2026-12-01T00:00:00.000000Z" in access[0]
    assert "\\r/journey" in access[0]


def test_every_logged_value_is_escaped_in_the_text_format() -> None:
    record = logging.LogRecord(
        "phoenix.test", logging.WARNING, __file__, 1, "user %s\nforged", ("u\r1",), None
    )
    record.user_id = "a\nb\x1b[31m\u2028c"
    record.path = '/x status=200 "quoted"'
    line = TextFormatter().format(record)
    assert "\n" not in line
    assert "\r" not in line
    assert "\x1b" not in line
    assert "\u2028" not in line
    assert line.endswith(
        "phoenix.test: user u\\r1\\nforged user_id=a\\nb\\x1b[31m\\u2028c"
        ' path="/x status=200 \\"quoted\\""'
    )


def test_a_traceback_stays_below_its_record() -> None:
    try:
        raise ValueError("bad\n2026-12-01T00:00:00Z INFO forged")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "phoenix.test", logging.ERROR, __file__, 1, "failed", None, sys.exc_info()
        )
    first, *rest = TextFormatter().format(record).split("\n")
    assert first.endswith("phoenix.test: failed")
    assert rest
    assert all(line.startswith("    ") for line in rest)


def test_a_user_with_a_batch_in_hand_is_a_409_naming_the_user_id() -> None:
    from src.application.errors import UserBusyError
    from src.entrypoints.http.errors import on_flywheel_error

    response = on_flywheel_error(None, UserBusyError("events of user 'a' are being processed"))  # type: ignore[arg-type]
    assert response.status_code == 409
    assert response.content == {
        "error": "events of user 'a' are being processed",
        "field": "user_id",
    }


@pytest.mark.postgres
def test_health_tells_why_the_worker_fails_without_naming_the_store(
    postgres_url: str, text_log: io.StringIO
) -> None:
    """The worker's drains fail once the network to the store is cut: ``/health`` (public)
    says the store is unreachable, never the driver's message (host, port, database)."""
    from bridge_support import TcpProxy

    close_flywheel(open_flywheel(make_settings(postgres_url), migrate=True))
    target = make_url(postgres_url)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    through_proxy = target.set(port=proxy.port).render_as_string(hide_password=False)
    settings = make_settings(through_proxy, poll_interval_seconds=0.1)
    try:
        with TestClient(create_app(settings)) as client:
            wait_for(client, "/health", 200)
            proxy.cut()
            client.post("/api/events/process-queue")  # fails at once; the worker soon too
            deadline = time.monotonic() + 30
            while (health := client.get("/health")).json()["last_error"] is None:
                assert time.monotonic() < deadline, health.text
                time.sleep(0.05)
    finally:
        proxy.close()
    answer = health.json()
    assert answer["last_error"] == "the store is unreachable; retry later"
    assert answer["database"] == "unreachable"
    for secret in (str(proxy.port), target.database or "", "127.0.0.1", "postgres@"):
        assert secret not in health.text, secret
    # The operator still learns why, from the log.
    assert str(proxy.port) in text_log.getvalue()
