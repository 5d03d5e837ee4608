#!/usr/bin/env bash
# Installs the project in .venv and runs every check: lint, format, types, then the whole
# test suite (unit, BDD, PostgreSQL integration, end-to-end). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
# The line above installs a copy of the bridge (a dependency cannot be editable); make it
# the source in clients/python, so the tests test what is there.
.venv/bin/python -m pip install --quiet --no-deps -e ./clients/python

echo "== ruff check" && .venv/bin/ruff check .
echo "== ruff format --check" && .venv/bin/ruff format --check .
echo "== mypy --strict" && .venv/bin/mypy
echo "== pytest" && .venv/bin/python -m pytest "$@"
