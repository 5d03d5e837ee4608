#!/usr/bin/env bash
# Installs the project in .venv and runs every check: lint, format, types, then the whole
# test suite (unit, BDD, PostgreSQL integration, end-to-end). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'

echo "== ruff check" && .venv/bin/ruff check .
echo "== ruff format --check" && .venv/bin/ruff format --check .
echo "== mypy --strict" && .venv/bin/mypy
echo "== pytest" && .venv/bin/python -m pytest "$@"
