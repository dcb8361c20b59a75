#!/usr/bin/env bash
# The test command: install what the tests need, lint, then run the whole test suite.
# Extra arguments go to pytest (e.g. scripts/test.sh -m "not slow" -x).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install.sh" test
venv="${ZOO_TUNE_VENV:-$root/.venv}"
cd "$root"
"$venv/bin/ruff" check zoo_tune tests examples bench
exec "$venv/bin/python" -m pytest "$@"
