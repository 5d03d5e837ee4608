"""A real server process (``phoenix-flywheel serve``, uvicorn) on a free port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx
import pytest

from src.entrypoints.bootstrap import close_flywheel, open_flywheel
from tests.conftest import make_settings
from tests.pgbouncer import free_port

ROOT = Path(__file__).resolve().parents[2]


class Server:
    def __init__(
        self,
        process: subprocess.Popen[bytes],
        base_url: str,
        log: IO[bytes],
        token: str | None = None,
    ) -> None:
        self.process = process
        self.log = log
        # ``client`` is the apps' server side: it has the token when one is set;
        # ``anonymous`` is anyone else.
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.Client(base_url=base_url, timeout=30, headers=auth)
        self.anonymous = httpx.Client(base_url=base_url, timeout=30)

    def wait_until(self, condition: object, timeout: float = 60, what: str = "it") -> None:
        deadline = time.monotonic() + timeout
        while not condition():  # type: ignore[operator]
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            time.sleep(0.1)

    def queue(self) -> dict[str, object]:
        """The queue status; empty while the server has not opened its store yet."""
        response = self.client.get("/api/events/queue-status")
        result: dict[str, object] = response.json() if response.status_code == 200 else {}
        return result

    def stop(self) -> str:
        """SIGTERM, as Docker and systemd stop a service; returns the server's log.

        uvicorn shuts down gracefully, then re-raises the signal so that process
        managers see why it ended: the exit status is that of SIGTERM.
        """
        self.client.close()
        self.anonymous.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=45)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError("the server did not stop within 45s of SIGTERM") from None
        assert self.process.returncode in (0, -signal.SIGTERM), self.process.returncode
        self.log.seek(0)
        log = self.log.read().decode(errors="replace")
        self.log.close()
        assert "Application shutdown complete" in log, log[-2000:]
        assert "Traceback" not in log, log[-4000:]
        return log


def serve_command() -> list[str]:
    """The installed ``phoenix-flywheel`` script, as users run it; the module otherwise."""
    script = Path(sys.executable).with_name("phoenix-flywheel")
    return [str(script)] if script.exists() else [sys.executable, "-m", "src.entrypoints.cli"]


@contextmanager
def running_server(
    database_url: str, *, wait_open: bool = True, serve_args: Sequence[str] = (), **env: str
) -> Iterator[Server]:
    """The server, answering; by default also with its store open (it opens in the background).

    ``serve_args`` are added to ``serve``'s command line (``--no-worker``)."""
    port = free_port()
    # The server's log goes to a file: an unread pipe would fill up and block it.
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed when the server stops
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "POLL_INTERVAL_SECONDS": "0.3",
        "EVENT_RETRY_BACKOFF_SECONDS": "0",
        **env,
    }
    if "FLYWHEEL_API_TOKEN" not in env:
        environment.pop("FLYWHEEL_API_TOKEN", None)
    process = subprocess.Popen(
        [
            *serve_command(),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *serve_args,
        ],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    server = Server(process, f"http://127.0.0.1:{port}", log, env.get("FLYWHEEL_API_TOKEN"))
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                log.seek(0)
                pytest.fail(f"the server exited at start: {log.read().decode()}")
            try:
                server.client.get("/health")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail("the server did not answer within 30s")
                time.sleep(0.1)
        if wait_open:
            server.wait_until(lambda: server.queue() != {}, what="the store to open")
        yield server
    finally:
        if process.poll() is None:
            server.stop()


@pytest.fixture
def migrated_url(store_url: str) -> str:
    """The store, migrated as an operator would before starting the service."""
    close_flywheel(open_flywheel(make_settings(store_url), migrate=True))
    return store_url
