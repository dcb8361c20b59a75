#!/usr/bin/env bash
# Petastorm for bench/big_data.py, in a folder of its own (not the venv).
#
#   scripts/petastorm-site.sh [DIR]     # default ~/.cache/zoo_tune/petastorm-site; prints DIR
#
# Petastorm (0.13.1, the newest) imports pyarrow.filesystem and pyarrow.hdfs, which pyarrow 16
# removed, and pins setuptools<70: it cannot live in zoo_tune's venv (pyarrow 25). This puts
# it with the last pyarrow it runs on (14.0.2) and the numpy 1 / pandas 2.1 that pyarrow was
# built for into DIR; bench/big_data.py puts DIR first on the Petastorm worker's PYTHONPATH
# only, so torch and pyspark still come from the venv.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$HOME/.cache/zoo_tune/petastorm-site}"
python="${PYTHON:-$here/.venv/bin/python}"
if [[ ! -f "$dir/.complete" ]]; then
    rm -rf "$dir"
    "$python" -m pip install --quiet --no-deps --target "$dir" \
        petastorm==0.13.1 pyarrow==14.0.2 numpy==1.26.4 pandas==2.1.4 pytz==2024.2 \
        dill==0.4.1 diskcache==5.6.3 future==1.0.0 >&2
    PYTHONPATH="$dir" "$python" -c "import petastorm.spark, petastorm.pytorch" >&2
    touch "$dir/.complete"
fi
echo "$dir"
