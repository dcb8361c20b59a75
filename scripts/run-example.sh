#!/usr/bin/env bash
# The main job: install what it needs, then tune a small CNN on scikit-learn's digits on local
# Ray (logs in /tmp/zoo_tune_logs). Extra arguments go to the example (e.g. --smoke-test).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/install.sh" torch,examples
exec "${ZOO_TUNE_VENV:-$root/.venv}/bin/python" "$root/examples/digits_cnn.py" "$@"
