"""``requirements.lock``, which the Docker image installs, holds exactly the service's
runtime dependencies, at versions ``pyproject.toml`` (and each dependency's own
requirements) accept. Regenerate it with ``scripts/lock.sh`` when this fails."""

from __future__ import annotations

import re
from importlib.metadata import distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
FROM_SOURCE = {"phoenix-flywheel", "phoenix-event-bridge"}
"""Installed from the source tree by the Dockerfile, not from the lock."""


def locked() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        matched = re.fullmatch(r"([A-Za-z0-9._-]+)==([^\s;]+)", line.strip())
        assert matched, f"not an exact pin: {line!r}"
        pins[canonicalize_name(matched.group(1))] = Version(matched.group(2))
    return pins


def runtime_requirements() -> list[Requirement]:
    """Every requirement met walking from the service's own, extras included, markers
    evaluated for this interpreter (the image's Python minor version and platform)."""
    found: list[Requirement] = []
    todo: list[tuple[str, frozenset[str]]] = [("phoenix-flywheel", frozenset())]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        for text in distribution(name).requires or []:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is not None and not any(
                marker.evaluate({"extra": extra}) for extra in (extras or {""})
            ):
                continue
            found.append(requirement)
            todo.append((requirement.name, frozenset(requirement.extras)))
    return found


def test_the_lock_pins_every_runtime_dependency_at_an_accepted_version() -> None:
    pins = locked()
    problems = []
    for requirement in runtime_requirements():
        name = canonicalize_name(requirement.name)
        if name in FROM_SOURCE:
            continue
        if name not in pins:
            problems.append(f"{requirement} is not in requirements.lock")
        elif not requirement.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{requirement} refuses the locked {name}=={pins[name]}")
    assert problems == [], "run scripts/lock.sh"


def test_the_lock_holds_nothing_else() -> None:
    needed = {canonicalize_name(r.name) for r in runtime_requirements()}
    assert sorted(set(locked()) - needed) == [], "run scripts/lock.sh"
    assert not FROM_SOURCE & set(locked())


def test_the_image_installs_from_the_lock_and_nothing_unpinned() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    installs = [line.strip() for line in dockerfile.splitlines() if "pip install" in line]
    assert any("-r requirements.lock" in line and "--no-deps" in line for line in installs)
    assert all("--no-deps" in line for line in installs), installs
