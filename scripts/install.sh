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
# setup.py declares ranges; constraints.txt fixes the versions CI runs (torch 2.13.0, ...).
# PyPI has no CPU-only torch wheel: pip takes the CUDA build (~3 GB of nvidia-*/cuda-* wheels
# and triton), which runs on the CPU as well.
"$venv/bin/pip" install --quiet -c "$root/constraints.txt" -e "$root[$extras]"
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
# The venv is the Spark 3.5 line (RayDP's); the Spark 4 tests run pyspark 4 from an overlay
# directory first on PYTHONPATH (tests/cluster/test_spark4.py): pyspark and py4j, and what
# Spark Connect's client needs beside this venv's grpcio (the Connect refusal's test).
if [[ ",$extras," == *",test,"* || ",$extras," == *",all,"* ]]; then
  overlay="$venv/overlays/pyspark4"
  spark4=(pyspark==4.3.0 py4j==0.10.9.9 grpcio-status==1.85.3 googleapis-common-protos==1.76.0
          zstandard==0.25.0)
  if [ "$(cat "$overlay/RESOLVED" 2>/dev/null)" != "${spark4[*]}" ]; then
    rm -rf "$overlay"
    "$venv/bin/pip" install --quiet --no-deps --target "$overlay" "${spark4[@]}"
    echo "${spark4[*]}" > "$overlay/RESOLVED"
  fi
fi
echo "zoo_tune installed in $venv (extras: $extras)"
