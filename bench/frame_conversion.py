"""Spark DataFrame -> trial arrays: zoo_tune's Arrow path against ``df.toPandas()``.

One frame of ``--rows`` rows x ``--cols`` float columns plus an integer label (``spark.range``
with seeded ``rand`` columns cast to float, cached and counted before timing) on a local Spark
session (``local[2]``). Each contender runs in its own Python process, so its driver peak RSS
is its own:

- ``zoo_tune``: what ``fit(df, feature_cols=[[f0..fN]], label_cols=["label"])`` does before
  any trial: one aggregation job (rows, nulls, widths), Arrow batches collected and copied
  once into an ``(n, cols)`` float32 array and the label array, with the seeded 20% validation
  split made while copying;
- ``toPandas``: ``df.toPandas()`` alone (not even the conversion of the pandas frame to the
  arrays a model takes).

Both run with Spark's defaults and with ``spark.sql.execution.arrow.pyspark.enabled=true``
(zoo_tune does not depend on that setting). Reported: wall seconds, rows/s, the driver's
(Python process's) peak RSS over its RSS just before the conversion, and the data's Arrow
size (float32 features + int64 label). Goals: zoo_tune >= 3x the rows/s of the default
``toPandas``, no slower than the Arrow ``toPandas``, driver peak < 2x the Arrow size.

    .venv/bin/python bench/frame_conversion.py                  # 1 M rows x 32 floats
    .venv/bin/python bench/frame_conversion.py --repeat 3
    .venv/bin/python bench/frame_conversion.py --smoke          # 20 000 rows
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from _common import (
    Timer,
    claim_stdout,
    emit,
    local_spark,
    machine,
    markdown_table,
    merge_repeats,
    peak_rss_mb,
    run_worker,
)

METHODS = ("zoo_tune", "toPandas")
CONFS = ("default", "arrow")


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def session() -> Any:
    """A local Spark session (``local[2]``, 4 GB driver)."""
    return local_spark("frame_conversion", {"spark.driver.memory": "4g",
                                            "spark.driver.maxResultSize": "4g"})


def measure(spark: Any, method: str, conf: str, rows: int, cols: int) -> dict[str, Any]:
    """Build the frame, then time one conversion on ``spark``."""
    from pyspark.sql import functions as F

    spark.conf.set("spark.sql.execution.arrow.pyspark.enabled",
                   "true" if conf == "arrow" else "false")
    features = [f"f{i}" for i in range(cols)]
    df = spark.range(rows, numPartitions=4).select(
        *(F.rand(seed=i).cast("float").alias(name) for i, name in enumerate(features)),
        (F.col("id") % 3).alias("label")).cache()
    assert df.count() == rows
    import pandas  # noqa: F401 - both contenders' imports happen before the baseline
    import pyarrow  # noqa: F401

    import zoo_tune.data  # noqa: F401

    baseline = _rss_mb()
    with Timer() as t:
        if method == "toPandas":
            out = df.toPandas()
            converted = len(out)
        else:
            from zoo_tune.data import load_staged, stage_data

            staged = stage_data(df, None, "torch", feature_cols=[features],
                                label_cols=["label"])
            train, val = load_staged(staged, None)
            converted = len(train.xs[0]) + len(val.xs[0])
            assert train.xs[0].shape[1] == cols and train.xs[0].dtype.name == "float32"
    peak = peak_rss_mb()
    df.unpersist()
    assert converted == rows, (converted, rows)
    arrow_mb = rows * (cols * 4 + 8) / 2**20
    return {"method": method, "conf": conf, "rows": rows, "cols": cols, "wall_s": t.s,
            "rows_per_s": rows / t.s, "baseline_rss_mb": baseline, "peak_rss_mb": peak,
            "peak_over_baseline_mb": peak - baseline, "arrow_mb": arrow_mb,
            "peak_over_arrow": (peak - baseline) / arrow_mb}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=None, help="rows (1 000 000; smoke 20 000)")
    parser.add_argument("--cols", type=int, default=32, help="float feature columns")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--confs", nargs="+", choices=CONFS, default=list(CONFS))
    parser.add_argument("--repeat", type=int, default=1, help="runs per case (median kept)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per worker")
    parser.add_argument("--smoke", action="store_true", help="a tiny run (20 000 rows)")
    parser.add_argument("--markdown", help="write the Markdown table here, not to stderr")
    parser.add_argument("--isolation", choices=("process", "shared"), default=None,
                        help="process (default): each case in its own Python, so peak RSS is "
                             "its own; shared (--smoke default): all cases on one session")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rows is None:
        args.rows = 20_000 if args.smoke else 1_000_000
    if args.isolation is None:
        args.isolation = "shared" if args.smoke else "process"
    return args


def goals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's three goals, where the run has the contenders they compare."""
    by = {(r["method"], r["conf"]): r for r in rows}
    out: dict[str, Any] = {}
    for conf in CONFS:
        ours = by.get(("zoo_tune", conf))
        if ours is None:
            continue
        if ("toPandas", "default") in by:
            out[f"speedup_vs_topandas_default[{conf}]"] = (
                ours["rows_per_s"] / by[("toPandas", "default")]["rows_per_s"])
        if ("toPandas", "arrow") in by:
            out[f"speedup_vs_topandas_arrow[{conf}]"] = (
                ours["rows_per_s"] / by[("toPandas", "arrow")]["rows_per_s"])
        out[f"peak_over_arrow[{conf}]"] = ours["peak_over_arrow"]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    claim_stdout()
    if args.worker:
        (method,), (conf,) = args.methods, args.confs
        spark = session()
        emit(measure(spark, method, conf, args.rows, args.cols), None, None)
        spark.stop()
        return 0
    runs = []
    spark = session() if args.isolation == "shared" else None
    for _ in range(args.repeat):
        for conf in args.confs:
            for method in args.methods:
                if spark is not None:
                    runs.append(measure(spark, method, conf, args.rows, args.cols))
                    continue
                runs.append(run_worker(__file__, ["--methods", method, "--confs", conf,
                                                  "--rows", str(args.rows),
                                                  "--cols", str(args.cols)], args.timeout))
    if spark is not None:
        spark.stop()
    rows = merge_repeats(runs, ["method", "conf"])
    result = {"benchmark": "frame_conversion", "machine": machine(), "rows": args.rows,
              "cols": args.cols, "isolation": args.isolation,
              "arrow_mb": rows[0]["arrow_mb"], "results": rows, "goals": goals(rows)}
    table = markdown_table(
        ["contender", "arrow.pyspark.enabled", "wall s", "rows/s", "driver peak over base MiB",
         "peak / Arrow size"],
        [[r["method"], r["conf"] == "arrow", r["wall_s"], r["rows_per_s"],
          r["peak_over_baseline_mb"], r["peak_over_arrow"]] for r in rows])
    emit(result, table, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
