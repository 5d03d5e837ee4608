"""The schema file's block of the shipped catalogue: what the app modules and the default
settings make of it (``--write`` puts it in the file; a test checks it is there)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from src.adapters.sql.catalogue import block_of, render, with_block
from src.adapters.sql.database import REPOSITORY_SCHEMA_DIR, SCHEMA_FILE
from src.application.rule_book import rule_book
from src.domain.apps import default_catalogue
from src.entrypoints.settings import Settings


def shipped_block() -> str:
    catalogue = default_catalogue()
    defaults = Settings(_env_file=None, database_url="sqlite:///unused.db")
    return render(rule_book(catalogue, catalogue.experiments, defaults.nudge_settings))


def main(argv: Sequence[str] | None = None) -> int:
    path = REPOSITORY_SCHEMA_DIR / SCHEMA_FILE
    text = path.read_text(encoding="utf-8")
    block = shipped_block()
    if block_of(text) == block:
        print(f"{path}: the shipped catalogue is up to date")
        return 0
    if "--write" not in (sys.argv[1:] if argv is None else argv):
        print(f"{path}: the shipped catalogue differs from the modules; run with --write")
        return 1
    path.write_text(with_block(text, block), encoding="utf-8")
    print(f"{path}: the shipped catalogue rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
