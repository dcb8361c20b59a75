#!/usr/bin/env bash
# README's MLflow screenshot: a 4-trial fit logged to a local `mlflow server`, the UI's
# experiment page taken with headless Chromium (Debian's chromium package, installed here when
# missing).
#   scripts/mlflow-screenshot.sh [OUT.png]      (default docs/mlflow_runs.png)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${ZOO_TUNE_VENV:-$root/.venv}"
out="${1:-$root/docs/mlflow_runs.png}"
# shellcheck source=scripts/_chromium.sh
. "$root/scripts/_chromium.sh"
ensure_chromium
exec "$venv/bin/python" "$root/scripts/mlflow_screenshot.py" "$out"
