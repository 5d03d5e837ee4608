#!/usr/bin/env bash
# Re-creates requirements.lock: the exact versions of the service's runtime dependencies,
# as a clean venv of this Python resolves them (`pip install .`, no dev tools). The Docker
# image installs from it (`pip install --no-deps -r requirements.lock`), so a build next
# month gets the versions tested today. tests/unit/test_requirements_lock.py fails when
# pyproject.toml asks for something the lock does not hold: run this script then.
set -euo pipefail
cd "$(dirname "$0")/.."

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
python3 -m venv "$scratch/venv"
"$scratch/venv/bin/python" -m pip install --quiet --upgrade pip
"$scratch/venv/bin/python" -m pip install --quiet .
{
    echo "# The service's runtime dependencies, pinned: made by scripts/lock.sh with"
    echo "# $("$scratch/venv/bin/python" --version) on $(uname -m); installed by the Dockerfile."
    echo "# The service and its bridge (phoenix-flywheel, phoenix-event-bridge) come from the"
    echo "# source tree, not from here."
    "$scratch/venv/bin/python" -m pip freeze --exclude-editable \
        | grep -v -E '^phoenix-(flywheel|event-bridge)( @|==)' \
        | LC_ALL=C sort -f
} > requirements.lock
echo "requirements.lock: $(grep -c '==' requirements.lock) packages"
