"""A server that would be open by accident says so, or does not start: an empty token
stops it, its address is logged (with a warning beyond loopback without a token), and
answers about a user are never kept by a cache."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from tests.e2e.conftest import ROOT, running_server, serve_command
from tests.pgbouncer import free_port

pytestmark = pytest.mark.e2e
TOKEN = "e2e-token"
# The default under test; every request of these tests goes to 127.0.0.1 only.
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - see above


def environment(database_url: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": database_url, **extra}
    if "FLYWHEEL_API_TOKEN" not in extra:
        env.pop("FLYWHEEL_API_TOKEN", None)
    return env


@pytest.mark.parametrize("token", ["", "   "])
@pytest.mark.parametrize("command", [["serve"], ["worker"], ["status"], ["migrate"]])
def test_a_token_set_but_empty_stops_every_command_naming_it(
    sqlite_url: str, token: str, command: list[str]
) -> None:
    port = free_port()
    args = [*command, "--port", str(port)] if command == ["serve"] else command
    finished = subprocess.run(
        [*serve_command(), *args],
        cwd=ROOT,
        env=environment(sqlite_url, FLYWHEEL_API_TOKEN=token),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 2, finished.stderr
    assert finished.stderr.startswith("error: FLYWHEEL_API_TOKEN is set but empty"), finished.stderr
    assert "Traceback" not in finished.stderr
    assert not os.path.exists(sqlite_url.removeprefix("sqlite:///")), "nothing is created"


@contextmanager
def serving(database_url: str, host: str, **extra: str) -> Iterator[tuple[int, list[str]]]:
    """The server on ``host``; yields its port and a list that ``stop`` fills with its log."""
    port = free_port()
    process = subprocess.Popen(
        [*serve_command(), "serve", "--host", host, "--port", str(port)],
        cwd=ROOT,
        env=environment(database_url, **extra),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    log: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
                break
            except httpx.TransportError:
                assert process.poll() is None, "the server exited"
                assert time.monotonic() < deadline, "the server did not answer"
                time.sleep(0.1)
        yield port, log
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=45)
        log.extend(stderr.splitlines())


def test_serve_logs_its_address_and_warns_when_open_beyond_loopback(sqlite_url: str) -> None:
    with serving(sqlite_url, ALL_INTERFACES) as (port, log):
        pass
    listening = [line for line in log if "listening on" in line]
    assert any(f"listening on http://{ALL_INTERFACES}:{port}" in line for line in listening), log
    warnings = [line for line in listening if "WARNING" in line]
    assert len(warnings) == 1, log
    assert "without FLYWHEEL_API_TOKEN" in warnings[0]


@pytest.mark.parametrize(
    ("host", "extra"),
    [("127.0.0.1", {}), (ALL_INTERFACES, {"FLYWHEEL_API_TOKEN": TOKEN})],
)
def test_no_warning_on_loopback_or_with_a_token(
    sqlite_url: str, host: str, extra: dict[str, str]
) -> None:
    with serving(sqlite_url, host, **extra) as (port, log):
        pass
    assert any(f"listening on http://{host}:{port}" in line for line in log), log
    assert not any("WARNING" in line and "listening on" in line for line in log), log


def test_answers_about_a_user_are_never_cached(migrated_url: str) -> None:
    with running_server(migrated_url, FLYWHEEL_API_TOKEN=TOKEN) as server:
        http = server.client
        event = {"event_type": "cv.uploaded", "app_source": "phoenix-cv", "user_id": "u1"}
        assert http.post("/api/events", json=event).status_code == 202
        server.wait_until(lambda: http.get("/api/users/u1/journey").status_code == 200)
        personal = [
            http.get("/api/users/u1/journey"),
            http.get("/api/users/u1/nudges", params={"app": "phoenix-cv"}),
            http.get("/api/users/nobody/journey"),  # 404 naming the user
            http.post("/api/nudges/nope/shown"),
            http.get("/api/dashboard"),
            http.delete("/api/users/u1"),
        ]
    for response in personal:
        assert response.headers.get("cache-control") == "no-store", (
            response.request.url,
            response.status_code,
        )
