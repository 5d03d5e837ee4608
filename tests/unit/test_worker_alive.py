"""``phoenix-flywheel worker-alive``, the worker container's health check: 0 while the
worker's heartbeat file is fresh, 1 when it is missing or stale, 2 when not configured.
It reads no store."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from src.adapters.heartbeat_file import HeartbeatFile
from src.entrypoints.cli.commands import main


@pytest.fixture
def heartbeat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "worker.heartbeat"
    monkeypatch.setenv("WORKER_HEARTBEAT_FILE", str(path))
    # A store that cannot be opened: the check must not need one.
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    return path


def test_fresh_is_alive(heartbeat: Path, capsys: pytest.CaptureFixture[str]) -> None:
    HeartbeatFile(heartbeat).beat()
    assert main(["worker-alive"]) == 0
    assert capsys.readouterr().out.startswith("alive: last heartbeat")


def test_missing_or_stale_is_not(heartbeat: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worker-alive"]) == 1
    assert "no heartbeat" in capsys.readouterr().out
    HeartbeatFile(heartbeat).beat()
    old = time.time() - 120
    os.utime(heartbeat, (old, old))
    assert main(["worker-alive", "--max-age", "60"]) == 1
    assert "last heartbeat 120s ago" in capsys.readouterr().out
    assert main(["worker-alive", "--max-age", "300"]) == 0


def test_without_the_setting_it_says_which(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("WORKER_HEARTBEAT_FILE", raising=False)
    assert main(["worker-alive"]) == 2
    assert "WORKER_HEARTBEAT_FILE" in capsys.readouterr().err
