"""A resumed fit reads the Parquet copy its first run staged when the frame is unchanged, and
stages again when the frame changed or cannot be told apart. Real Spark (``local[2]``)."""

from __future__ import annotations

import glob
import os

import pytest

from zoo_tune.data import ParquetTarget, load_staged, stage_data

pytestmark = pytest.mark.timeout(600)


def _files(folder):
    """``{name: mtime_ns}`` of the staged Parquet files under ``folder``."""
    return {p: os.stat(p).st_mtime_ns for p in glob.glob(f"{folder}/*.parquet/*.parquet")}


def _stage(df, folder, reuse, **kwargs):
    staged = stage_data(df, None, "torch", feature_cols=["x"], label_cols=["y"],
                        driver_budget_mb=0, validation_split=0.25)
    target = ParquetTarget(str(folder), str(folder), None, "local", reuse=reuse, **kwargs)
    return load_staged(staged, target)


def _source(spark, path, rows, seed):
    from pyspark.sql import functions as F

    (spark.range(rows, numPartitions=2)
     .select(F.rand(seed).cast("float").alias("x"), (F.col("id") % 2).alias("y"))
     .write.mode("overwrite").parquet(str(path)))
    return spark.read.parquet(str(path))


def test_an_unchanged_frame_is_read_where_the_first_run_staged_it(spark, tmp_path):
    df = _source(spark, tmp_path / "source", 500, seed=1)
    folder = tmp_path / "data"
    first = _stage(df, folder, reuse=False)
    written = _files(folder)
    assert written and os.path.exists(folder / "_data.stamp.json")
    again = _stage(spark.read.parquet(str(tmp_path / "source")), folder, reuse=True)
    assert _files(folder) == written  # nothing written again
    assert [p.rows for p in again] == [p.rows for p in first]
    assert sum(p.rows for p in again) == 500
    assert [p.uri for p in again] == [p.uri for p in first]


def test_a_changed_frame_is_staged_again(spark, tmp_path):
    folder = tmp_path / "data"
    _stage(_source(spark, tmp_path / "source", 500, seed=1), folder, reuse=False)
    written = _files(folder)
    # The source rewritten under the same path (new files, more rows).
    changed = _source(spark, tmp_path / "source", 600, seed=2)
    parts = _stage(changed, folder, reuse=True)
    assert _files(folder) != written and sum(p.rows for p in parts) == 600
    # Another filter on the same source is another plan.
    written = _files(folder)
    parts = _stage(changed.where("x > 0.5"), folder, reuse=True)
    assert _files(folder) != written and sum(p.rows for p in parts) < 600


def test_a_frame_of_local_rows_is_always_staged_again(spark, tmp_path):
    df = spark.createDataFrame([(float(i), i % 2) for i in range(200)], "x float, y long")
    folder = tmp_path / "data"
    _stage(df, folder, reuse=False)
    written = _files(folder)
    assert not os.path.exists(folder / "_data.stamp.json")  # its plan does not show its rows
    _stage(df, folder, reuse=True)
    assert _files(folder) != written


def test_a_copy_cut_short_is_staged_again(spark, tmp_path):
    df = _source(spark, tmp_path / "source", 500, seed=1)
    folder = tmp_path / "data"
    _stage(df, folder, reuse=False)
    os.remove(folder / "validation_data.parquet" / "_SUCCESS")  # its write never finished
    written = _files(folder)
    parts = _stage(df, folder, reuse=True)
    assert _files(folder) != written and sum(p.rows for p in parts) == 500


def test_a_table_that_will_stream_is_staged_shuffled(spark, tmp_path):
    """Sorted rows (here: by label) land in every file in a random order."""
    from pyspark.sql import functions as F

    df = (spark.range(4000, numPartitions=4)
          .select(F.col("id").cast("float").alias("x"), (F.col("id") >= 2000).cast("long")
                  .alias("y")))
    folder = tmp_path / "data"
    train, val = _stage(df, folder, reuse=False, stream_over_bytes=0)
    import pyarrow.parquet as pq

    for path in glob.glob(f"{folder}/data.parquet/*.parquet"):
        labels = pq.read_table(path).column(1).to_numpy()
        assert 0.3 < labels.mean() < 0.7  # both labels in each file, not one run of each
        assert (labels[1:] != labels[:-1]).sum() > len(labels) / 4  # and mixed inside
    assert train.rows + val.rows == 4000
