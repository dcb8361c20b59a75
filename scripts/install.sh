#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment and install zoo_tune into it.
#   scripts/install.sh [EXTRAS]      e.g. scripts/install.sh test   (default: torch,examples)
# The venv lives in $ZOO_TUNE_VENV (default: .venv in the repository root).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${ZOO_TUNE_VENV:-$root/.venv}"
extras="${1:-torch,examples}"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip setuptools wheel
fi
# torch==2.13.0 is pinned in setup.py. PyPI has no CPU-only wheel of it: pip takes the CUDA build
# (~3 GB of nvidia-*/cuda-* wheels and triton), which runs on the CPU as well.
"$venv/bin/pip" install --quiet -e "$root[$extras]"
# The tests also run zoo_tune's bayesopt searcher on the newest bayesian-optimization (3.x),
# which cannot be installed beside nevergrad (its newest release pins ==1.4.0): an overlay
# directory the test puts first on PYTHONPATH (tests/search/test_bayesopt.py).
if [[ ",$extras," == *",test,"* || ",$extras," == *",all,"* ]]; then
  overlay="$venv/overlays/bayes_opt"
  if [ ! -f "$overlay/RESOLVED" ]; then
    rm -rf "$overlay"
    "$venv/bin/pip" install --quiet --no-deps --target "$overlay" bayesian-optimization colorama
    PYTHONPATH="$overlay" "$venv/bin/python" -c \
      "import importlib.metadata as m; print(m.version('bayesian-optimization'))" \
      > "$overlay/RESOLVED.tmp"
    mv "$overlay/RESOLVED.tmp" "$overlay/RESOLVED"
  fi
fi
echo "zoo_tune installed in $venv (extras: $extras)"
