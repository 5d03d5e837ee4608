"""The matcher needs no network and writes nothing: its data ships inside the packages.

It runs in a fresh interpreter whose sockets refuse every connection and whose home and
cache directories are empty, so a library that would download a model or data set on
first use (as Hugging Face hubs do) fails here rather than in a user's worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROGRAM = """
import socket

def refuse(*args, **kwargs):
    raise OSError("network disabled in this test")

socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse

from src.adapters.skills.french_matcher import FrenchSkillMatcher

comparison = FrenchSkillMatcher().compare(
    ["Python", "SQL", "Docker", "Anglais courant", "Méthodes agiles"],
    ["Pyhton", "English", "Scrum"],
)
print(",".join(comparison.missing))
"""


def test_the_matcher_runs_with_no_network_and_an_empty_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
    }
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "SQL,Docker"
    assert list(home.rglob("*")) == []
