"""DataFrame columns -> trial arrays: every column kind, dtypes, splits and bad frames.

pandas frames and Spark frames on a real local Spark session; no Ray needed here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from zoo_tune.data import LocalArrays, load_staged, stage_data
from zoo_tune.errors import InvalidInputError, InvalidTypeError


def load(data, validation_data=None, **kwargs):
    staged = stage_data(data, validation_data, "torch", **kwargs)
    return load_staged(staged, None)


def frame_data(rows=50, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "a": rng.normal(size=rows),                              # double
        "n": rng.integers(0, 5, size=rows),                      # long
        "flag": rng.integers(0, 2, size=rows).astype(bool),       # boolean
        "arr": rng.normal(size=(rows, 3)),                       # array<double>
        "iarr": rng.integers(0, 9, size=(rows, 2)),              # array<long>
        "y": rng.integers(0, 3, size=rows),
        "t": rng.normal(size=rows),
    }


def pandas_frame(d):
    return pd.DataFrame({"a": d["a"], "n": d["n"], "flag": d["flag"], "arr": list(d["arr"]),
                         "iarr": list(d["iarr"]), "y": d["y"], "t": d["t"]})


@pytest.fixture(scope="module")
def data():
    return frame_data()


@pytest.fixture(params=["pandas", "spark"])
def frame(request, data):
    if request.param == "pandas":
        return pandas_frame(data)
    spark = request.getfixturevalue("spark")
    from pyspark.ml.linalg import Vectors

    rows = [(float(data["a"][i]), int(data["n"][i]), bool(data["flag"][i]),
             [float(v) for v in data["arr"][i]], [int(v) for v in data["iarr"][i]],
             Vectors.dense(data["arr"][i]), int(data["y"][i]), float(data["t"][i]))
            for i in range(len(data["a"]))]
    # One partition keeps the row order, so values can be compared row by row.
    return spark.createDataFrame(rows, ["a", "n", "flag", "arr", "iarr", "vec", "y", "t"])


def test_each_column_kind_maps_to_its_dtype_and_shape(frame, data):
    train, val = load(frame, feature_cols=["a", "n", "flag", "arr", "iarr", ["a", "t"]],
                      label_cols=["y", "t"], validation_split=None, driver_budget_mb=512)
    # No validation_split given for a frame: 20% is held out.
    assert val is not None and len(train.xs[0]) + len(val.xs[0]) == 50
    assert len(val.xs[0]) == 10
    assert train.multi_x and train.multi_y
    got = [(a.dtype.name, a.shape[1:]) for a in train.xs + train.ys]
    assert got == [("float32", ()), ("int64", ()), ("float32", ()), ("float32", (3,)),
                   ("int64", (2,)), ("float32", (2,)), ("int64", ()), ("float32", ())]


def test_values_match_the_frame_row_for_row(frame, data):
    (train, _val) = load(frame, feature_cols=["arr", ["a", "t"]], label_cols="y",
                         validation_split=0.5)
    mask = np.zeros(50, dtype=bool)
    mask[np.random.default_rng(0).permutation(50)[:25]] = True
    keep = ~mask
    np.testing.assert_allclose(train.xs[0], data["arr"][keep].astype(np.float32))
    np.testing.assert_allclose(train.xs[1], np.column_stack([data["a"], data["t"]])[keep]
                               .astype(np.float32))
    np.testing.assert_array_equal(train.ys[0], data["y"][keep])
    assert not train.multi_y


def test_spark_vector_column(spark, data):
    from pyspark.ml.linalg import Vectors

    df = spark.createDataFrame([(Vectors.dense(r), int(y)) for r, y in
                                zip(data["arr"], data["y"])], ["vec", "y"])
    train, val = load(df, validation_data=df, feature_cols=["vec"], label_cols=["y"])
    assert train.xs[0].dtype == np.float32 and train.xs[0].shape == (50, 3)
    np.testing.assert_allclose(train.xs[0], data["arr"].astype(np.float32), rtol=1e-6)
    np.testing.assert_array_equal(val.ys[0], data["y"])


def test_split_is_seeded_and_disjoint(data):
    ids = np.arange(50, dtype=np.float64)
    df = pd.DataFrame({"id": ids, "y": data["y"]})
    first = load(df, feature_cols=["id"], label_cols=["y"], validation_split=0.3)
    again = load(df, feature_cols=["id"], label_cols=["y"], validation_split=0.3)
    train_ids, val_ids = first[0].xs[0], first[1].xs[0]
    assert len(val_ids) == 15 and len(train_ids) == 35
    assert not set(train_ids) & set(val_ids)
    assert set(train_ids) | set(val_ids) == set(ids)
    np.testing.assert_array_equal(val_ids, again[1].xs[0])


def test_numpy_validation_split(data):
    train, val = load((data["arr"], data["y"]), validation_split=0.2)
    assert isinstance(train, LocalArrays) and len(train.xs[0]) == 40 and len(val.xs[0]) == 10


def test_spark_frame_is_read_through_arrow_batches_not_rows(spark, data, monkeypatch):
    """Instrumentation, not a fault: the driver must not fall back to toPandas or row collect."""
    from pyspark.sql import DataFrame

    def refuse(*_args, **_kwargs):
        raise AssertionError("rows went through toPandas/collect")

    df = spark.range(0, 5000, numPartitions=4).selectExpr("cast(id as double) as x",
                                                         "id % 3 as y")
    monkeypatch.setattr(DataFrame, "toPandas", refuse)
    monkeypatch.setattr(DataFrame, "toLocalIterator", refuse)
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "700")
    try:
        train, val = load(df, feature_cols=["x"], label_cols=["y"], validation_split=0.1)
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")
    xs = np.concatenate([train.xs[0], val.xs[0]])
    assert sorted(xs.tolist()) == list(range(5000))
    assert len(val.xs[0]) == 500
    np.testing.assert_array_equal(train.ys[0], train.xs[0].astype(np.int64) % 3)


# --- bad input ---------------------------------------------------------------------------------

def bad_frames(spark):
    good = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    return {
        "no feature_cols": (good, None, {"label_cols": ["y"]}, InvalidInputError,
                            "pass feature_cols"),
        "no label_cols": (good, None, {"feature_cols": ["x"]}, InvalidInputError,
                          "pass label_cols"),
        "unknown column": (good, None, {"feature_cols": ["x", "z"], "label_cols": ["y"]},
                           InvalidInputError, "names ['z'], which `data` does not have; its "
                           "columns are ['x', 'y']"),
        "string column": (pd.DataFrame({"x": ["a", "b"], "y": [0, 1]}), None,
                          {"feature_cols": ["x"], "label_cols": ["y"]}, InvalidTypeError,
                          "encode strings and categories first"),
        "nulls": (pd.DataFrame({"x": [1.0, None, np.nan, 4.0], "y": [0, 1, 0, 1]}), None,
                  {"feature_cols": ["x"], "label_cols": ["y"]}, InvalidInputError,
                  "missing values (null/NaN) in 'x': 2 rows"),
        "empty": (good.iloc[:0], None, {"feature_cols": ["x"], "label_cols": ["y"]},
                  InvalidInputError, "`data` has no rows"),
        "ragged": (pd.DataFrame({"x": [[1.0, 2.0], [3.0]], "y": [0, 1]}), None,
                   {"feature_cols": ["x"], "label_cols": ["y"]}, InvalidInputError,
                   "arrays of different lengths (1 to 2)"),
        "validation columns": (good, pd.DataFrame({"x": [1.0], "w": [0]}),
                               {"feature_cols": ["x"], "label_cols": ["y"]}, InvalidInputError,
                               "`label_cols` names ['y'], which `validation_data` does not "
                               "have; its columns are ['x', 'w']"),
        "validation types": (good, pd.DataFrame({"x": [1, 2], "y": [0, 1]}),
                             {"feature_cols": ["x"], "label_cols": ["y"]}, InvalidInputError,
                             "is scalar float32 in `data` but scalar int64 in"),
        "validation widths": (pd.DataFrame({"x": [[1.0, 2.0]] * 3, "y": [0, 1, 0]}),
                              pd.DataFrame({"x": [[1.0, 2.0, 3.0]] * 2, "y": [0, 1]}),
                              {"feature_cols": ["x"], "label_cols": ["y"]}, InvalidInputError,
                              "gives inputs/outputs of widths [3, None], but `data` gives "
                              "[2, None]"),
        "cols without frame": ((np.zeros((3, 1)), np.zeros(3)), None,
                               {"feature_cols": ["x"], "label_cols": ["y"]}, InvalidInputError,
                               "apply to DataFrame inputs only"),
        "frame and numpy": (good, (np.zeros((3, 1)), np.zeros(3)),
                            {"feature_cols": ["x"], "label_cols": ["y"]}, InvalidTypeError,
                            "must both be DataFrames"),
        "split and validation": (good, good, {"feature_cols": ["x"], "label_cols": ["y"],
                                              "validation_split": 0.2}, InvalidInputError,
                                 "either `validation_data` or `validation_split`"),
        "split out of range": (good, None, {"feature_cols": ["x"], "label_cols": ["y"],
                                            "validation_split": 1.0}, InvalidInputError,
                               "strictly between 0 and 1"),
        "split too small": (good, None, {"feature_cols": ["x"], "label_cols": ["y"],
                                         "validation_split": 0.1}, InvalidInputError,
                            "leaves 3 training and 0 validation rows"),
        "stacked array": (pd.DataFrame({"x": [[1.0], [2.0]], "z": [1.0, 2.0], "y": [0, 1]}),
                          None, {"feature_cols": [["x", "z"]], "label_cols": ["y"]},
                          InvalidTypeError, "takes scalar columns only; ['x'] are not scalar"),
        "bad cols type": (good, None, {"feature_cols": [1], "label_cols": ["y"]},
                          InvalidTypeError, "items must be column names"),
        "budget": (good, None, {"feature_cols": ["x"], "label_cols": ["y"],
                                "driver_budget_mb": -1}, InvalidInputError, "MiB >= 0"),
    }


@pytest.mark.parametrize("case", list(bad_frames(None)))
def test_bad_pandas_input(case):
    data, val, kwargs, error, message = bad_frames(None)[case]
    with pytest.raises(error) as info:
        load(data, val, **kwargs)
    assert message in str(info.value)
    assert isinstance(info.value, RuntimeError)


@pytest.mark.parametrize("case", ["string", "struct", "nulls", "nan", "null element", "empty",
                                  "ragged", "validation columns"])
def test_bad_spark_input(spark, case):
    cols = {"feature_cols": ["x"], "label_cols": ["y"]}
    val = None
    if case == "string":
        df = spark.createDataFrame([("a", 0)], "x string, y long")
        error, message = InvalidTypeError, "Column 'x' of `data` has type string"
    elif case == "struct":
        df = spark.createDataFrame([((1.0, 2.0), 0)], "x struct<p:double,q:double>, y long")
        error, message = InvalidTypeError, "has type struct<p:double,q:double>"
    elif case == "nulls":
        df = spark.createDataFrame([(1.0, 0), (None, 1), (None, 0)], "x double, y long")
        error, message = InvalidInputError, "'x': 2 rows"
    elif case == "nan":
        df = spark.createDataFrame([(float("nan"), 0), (1.0, 1)], "x double, y long")
        error, message = InvalidInputError, "'x': 1 rows"
    elif case == "null element":
        df = spark.createDataFrame([([1.0, None], 0), ([1.0, 2.0], 1)], "x array<double>, y long")
        error, message = InvalidInputError, "'x': 1 rows"
    elif case == "empty":
        df = spark.createDataFrame([], "x double, y long")
        error, message = InvalidInputError, "`data` has no rows"
    elif case == "ragged":
        df = spark.createDataFrame([([1.0, 2.0], 0), ([1.0], 1)], "x array<double>, y long")
        error, message = InvalidInputError, "arrays of different lengths (1 to 2)"
    else:
        df = spark.createDataFrame([(1.0, 0)], "x double, y long")
        val = spark.createDataFrame([(1.0, 0)], "x double, label long")
        error, message = InvalidInputError, "its columns are ['x', 'label']"
    with pytest.raises(error) as info:
        load(df, val, **cols)
    assert message in str(info.value)


def test_frame_over_budget_is_checked_on_the_executors_before_parquet(spark, tmp_path):
    from zoo_tune.data import ParquetTarget

    df = spark.createDataFrame([(1.0, 0), (None, 1), (2.0, 0)], "x double, y long")
    target = ParquetTarget(str(tmp_path / "data"), str(tmp_path / "data"), None, "local")
    staged = stage_data(df, None, "torch", feature_cols=["x"], label_cols=["y"],
                        driver_budget_mb=0)
    with pytest.raises(InvalidInputError, match="'x': 1 rows"):
        load_staged(staged, target)
    assert not (tmp_path / "data").exists()
    good = stage_data(df.dropna(), None, "torch", feature_cols=["x"], label_cols=["y"],
                      validation_split=0.5, driver_budget_mb=0)
    train, val = load_staged(good, target)
    assert (tmp_path / "data" / "data.parquet").is_dir()
    assert sorted(train.arrays()[0][0].tolist() + val.arrays()[0][0].tolist()) == [1.0, 2.0]
