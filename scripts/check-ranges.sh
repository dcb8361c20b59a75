#!/usr/bin/env bash
# The other end of setup.py's ranges: a user's environment that already holds PyPI's newest
# torch (2.15.0) and pyspark 4 (4.3.0) keeps them when zoo_tune[spark,torch] is installed into
# it, and a tuning run works there (torch 2.15 trains the trials; pyspark 4 reads a DataFrame).
#   scripts/check-ranges.sh [DIR]   DIR: where the scratch venv goes (default: a temp dir,
#                                   removed at the end). Prints "ranges check: OK" last.
# CI installs the low ends (constraints.txt: torch 2.13.0, pyspark 3.5.7 in the venv, pyspark
# 4.3.0 from an overlay); this check downloads ~3 GB, so it runs by hand, not in CI (README
# "Versions" has its last result).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
TORCH=2.15.0
PYSPARK=4.3.0
scratch="${1:-$(mktemp -d /tmp/zoo-tune-ranges.XXXXXX)}"
cleanup() { [ -n "${1:-}" ] || rm -rf "$scratch"; }
trap 'cleanup "${1:-}"' EXIT
venv="$scratch/venv"
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
echo "the user's environment: torch==$TORCH pyspark==$PYSPARK"
"$venv/bin/pip" install --quiet "torch==$TORCH" "pyspark==$PYSPARK"
"$venv/bin/pip" install "$root[spark,torch]" 2>&1 | tee "$scratch/install.log" | tail -1
versions="$("$venv/bin/python" -c \
  'import importlib.metadata as m; print(m.version("torch"), m.version("pyspark"))')"
echo "after installing zoo_tune[spark,torch]: torch pyspark = $versions"
[ "$versions" = "$TORCH $PYSPARK" ] || { echo "ranges check: pip replaced them" >&2; exit 1; }
cd "$scratch"
timeout 600 "$venv/bin/python" - <<'EOF'
import logging

import numpy as np
from pyspark.sql import SparkSession

from zoo_tune import AutoEstimator, hp, init_context, stop_context

logging.basicConfig(level=logging.WARNING)
spark = SparkSession.builder.master("local[1]").getOrCreate()
rng = np.random.default_rng(0)
y = rng.integers(0, 3, size=600)
x = np.eye(3, 4)[y] * 2 + rng.normal(scale=0.6, size=(600, 4))
df = spark.createDataFrame([tuple(map(float, r)) + (int(t),) for r, t in zip(x, y)],
                           ["a", "b", "c", "d", "label"])
init_context("local", cores=2)
est = AutoEstimator.from_torch(model_creator=lambda c: __import__("torch").nn.Linear(4, 3),
                               optimizer="Adam", loss="CrossEntropyLoss", logs_dir="logs")
est.fit(df, feature_cols=[["a", "b", "c", "d"]], label_cols=["label"], validation_split=0.2,
        epochs=2, n_sampling=2, metric="accuracy", search_space={"lr": hp.uniform(0.01, 0.1)},
        verbose=0)
best = float(est.get_trial_table()["best_accuracy"].max())
stop_context()
spark.stop()
import pyspark
import torch

print(f"fit on torch {torch.__version__}, pyspark {pyspark.__version__}: best accuracy "
      f"{best:.3f}")
assert best > 0.8, best
EOF
echo "ranges check: OK"
