"""Dependencies point inward (STYLE.md): a layer that imports outward fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

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
}


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
    return [(layer, path) for layer in FORBIDDEN for path in sorted((SRC / layer).rglob("*.py"))]


@pytest.mark.parametrize(("layer", "path"), layer_files(), ids=lambda v: str(v).split("src/")[-1])
def test_no_layer_imports_outward(layer: str, path: Path) -> None:
    outward = [
        name
        for name in imported_modules(path)
        for forbidden in FORBIDDEN[layer]
        if name == forbidden or name.startswith(forbidden + ".")
    ]
    assert outward == [], f"{path.relative_to(SRC)} ({layer}) imports {outward}"


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    offender = tmp_path / "offender.py"
    offender.write_text("from sqlalchemy import select\nimport src.adapters.sql_tables\n")
    assert imported_modules(offender) == ["sqlalchemy", "src.adapters.sql_tables"]
