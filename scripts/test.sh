#!/usr/bin/env bash
# The test command: install what the tests need, lint, then run the whole test suite.
# Extra arguments go to pytest (e.g. scripts/test.sh -m "not slow" -x).
# The docs site is built strictly first (scripts/docs.sh build: broken links fail the run).
# Three pytest-xdist workers run the three groups of tests/_groups.py side by side
# (ZOO_TUNE_TEST_WORKERS=0: one process, in file order).
# At the end pytest prints the time per test module, the 20 slowest tests and one line with
# the total, the install's own time, the lowest free disk and the threads left alive.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
start=$(date +%s)
"$root/scripts/install.sh" test
export ZOO_TUNE_INSTALL_S=$(( $(date +%s) - start ))
echo "install: ${ZOO_TUNE_INSTALL_S} s"
venv="${ZOO_TUNE_VENV:-$root/.venv}"
cd "$root"
"$venv/bin/ruff" check zoo_tune tests examples bench docs/_hooks
"$root/scripts/docs.sh" build
workers="${ZOO_TUNE_TEST_WORKERS:-3}"
parallel=()
if [ "$workers" != 0 ]; then parallel=(-n "$workers" --dist loadscope); fi
exec "$venv/bin/python" -m pytest "${parallel[@]}" "$@"
