"""Dependencies point inward (docs/architecture.md): a layer that imports outward fails here.

One import crosses out of ``src`` on purpose: the domain takes the event hash from the
bridge package (``phoenix_bridge.event_hash``), so the apps, which hash what they emit,
and the worker, which hashes rows that arrive without one, share one definition. That
module is standard library only (hashlib, json), so the domain stays free of I/O; the
rest of the bridge (transports, outbox) stays out of the domain. The bridge itself, which
apps install alone, may import nothing of the service.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
BRIDGE = ROOT / "clients" / "python" / "phoenix_bridge"

FORBIDDEN: dict[str, tuple[str, ...]] = {
    "domain": (
        "src.application",
        "src.adapters",
        "src.entrypoints",
        "sqlalchemy",
        "supabase",
        "litestar",
        "dependency_injector",
        "pydantic",
        "psycopg",
        "eventsourcing.application",
        "eventsourcing.persistence",
        "phoenix_bridge",
    ),
    "application": (
        "src.adapters",
        "src.entrypoints",
        "sqlalchemy",
        "supabase",
        "litestar",
        "dependency_injector",
        "psycopg",
        "pydantic",
    ),
    "adapters": ("src.entrypoints", "litestar", "dependency_injector"),
    "bridge": (
        "src",
        "eventsourcing",
        "sqlalchemy",
        "litestar",
        "dependency_injector",
        "pydantic",
    ),
}
# The exceptions to FORBIDDEN, each exact (not its submodules).
ALLOWED: dict[str, tuple[str, ...]] = {"domain": ("phoenix_bridge.event_hash",)}
LAYER_DIRS = {"bridge": BRIDGE}


def imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def layer_files() -> list[tuple[str, Path]]:
    return [
        (layer, path)
        for layer in FORBIDDEN
        for path in sorted(LAYER_DIRS.get(layer, SRC / layer).rglob("*.py"))
    ]


def outward_imports(layer: str, names: list[str]) -> list[str]:
    return [
        name
        for name in names
        for forbidden in FORBIDDEN[layer]
        if (name == forbidden or name.startswith(forbidden + "."))
        and name not in ALLOWED.get(layer, ())
    ]


@pytest.mark.parametrize(
    ("layer", "path"), layer_files(), ids=lambda v: str(v).split(str(ROOT))[-1]
)
def test_no_layer_imports_outward(layer: str, path: Path) -> None:
    outward = outward_imports(layer, imported_modules(path))
    assert outward == [], f"{path.relative_to(ROOT)} ({layer}) imports {outward}"


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    offender = tmp_path / "offender.py"
    offender.write_text("from sqlalchemy import select\nimport src.adapters.sql.tables\n")
    assert imported_modules(offender) == ["sqlalchemy", "src.adapters.sql.tables"]


def test_the_domain_may_take_the_hash_from_the_bridge_and_nothing_else() -> None:
    assert outward_imports("domain", ["phoenix_bridge.event_hash"]) == []
    assert outward_imports("domain", ["phoenix_bridge", "phoenix_bridge.outbox"]) == [
        "phoenix_bridge",
        "phoenix_bridge.outbox",
    ]


def test_the_bridge_is_checked_too() -> None:
    checked = {path for layer, path in layer_files() if layer == "bridge"}
    assert BRIDGE / "bridge.py" in checked
    assert outward_imports("bridge", ["src.domain.events"]) == ["src.domain.events"]
