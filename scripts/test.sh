#!/usr/bin/env bash
# Installs the project in .venv and runs the checks; extra arguments go to pytest.
#
#   scripts/test.sh            every check: lint, format, types, then the whole test suite
#                              (unit, BDD, SQLite and PostgreSQL integration, the bridge's
#                              tests, end-to-end). .ci/run runs this.
#   scripts/test.sh --quick    lint, format, types, then the tests that need no PostgreSQL
#                              and start no server: unit, BDD and integration on SQLite.
#                              PostgreSQL is not needed, nor reached: the tests' server
#                              address points at a closed port.
#   scripts/test.sh --bridge   the bridge's own tests (clients/python/tests); they run the
#                              service against PostgreSQL, as the full suite does.
set -euo pipefail
cd "$(dirname "$0")/.."

tier=all
case "${1:-}" in
  --quick) tier=quick; shift ;;
  --bridge) tier=bridge; shift ;;
esac

python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
# The line above installs a copy of the bridge (a dependency cannot be editable); make it
# the source in clients/python, so the tests test what is there.
.venv/bin/python -m pip install --quiet --no-deps -e ./clients/python

if [ "$tier" = bridge ]; then
  echo "== ruff check (bridge)" && .venv/bin/ruff check clients/python
  echo "== ruff format --check (bridge)" && .venv/bin/ruff format --check clients/python
  echo "== mypy --strict (bridge)" && .venv/bin/mypy -p phoenix_bridge
  echo "== pytest (bridge)" && exec .venv/bin/python -m pytest clients/python/tests "$@"
fi

echo "== ruff check" && .venv/bin/ruff check .
echo "== ruff format --check" && .venv/bin/ruff format --check .
echo "== mypy --strict" && .venv/bin/mypy

if [ "$tier" = quick ]; then
  # Port 1 is closed: a test needing PostgreSQL that is not marked ``postgres`` would be
  # skipped here, named in the summary, instead of using a server that happens to run.
  export PHOENIX_TEST_POSTGRES_URL="postgresql://postgres@127.0.0.1:1/postgres"
  echo "== pytest (quick: no PostgreSQL, no server)"
  exec .venv/bin/python -m pytest -m "not postgres and not e2e" "$@"
fi

echo "== pytest" && exec .venv/bin/python -m pytest "$@"
