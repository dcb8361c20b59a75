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
fi
# setup.py declares ranges; constraints.txt fixes the versions CI runs (torch 2.13.0, ...).
# PyPI has no CPU-only torch wheel: this takes the CUDA build (~3 GB of nvidia-*/cuda-* wheels
# and triton), which runs on the CPU as well.
# uv (PyPI's, pinned in constraints.txt, installed into the venv) does the install: the same
# versions as pip in 50 s instead of 121 s for the test extra (2 cores, warm caches; 83 s
# with an empty uv cache), the files hard-linked from its cache (~/.cache/uv) when that is on
# the venv's file system. It compiles the bytecode as pip does: a process that may not write
# .pyc files (PYTHONDONTWRITEBYTECODE) would otherwise compile torch on every import.
# ZOO_TUNE_INSTALLER=pip: pip alone, as before.
if [ "${ZOO_TUNE_INSTALLER:-uv}" = uv ] &&
   "$venv/bin/pip" install --quiet --disable-pip-version-check -c "$root/constraints.txt" uv; then
  "$venv/bin/uv" pip install --quiet --python "$venv/bin/python" --compile-bytecode \
    -c "$root/constraints.txt" -e "$root[$extras]" pip setuptools wheel \
    --upgrade-package pip --upgrade-package setuptools --upgrade-package wheel
else
  "$venv/bin/pip" install --quiet --upgrade pip setuptools wheel
  "$venv/bin/pip" install --quiet -c "$root/constraints.txt" -e "$root[$extras]"
fi
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
