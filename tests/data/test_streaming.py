"""Staged tables streamed part by part: every row once per epoch, a new order each epoch, the
in-memory path's metrics; Spark's staged Parquet sized for it. Real Spark (``local[2]``),
real Parquet on local disk and on a real HDFS."""

from __future__ import annotations

import glob
import json
import os
import uuid

import numpy as np
import pytest

from zoo_tune import AutoEstimator, hp
from zoo_tune.data import (
    CachedTable,
    ParquetTarget,
    TableStream,
    load_staged,
    prepare_input,
    stage_data,
)
from zoo_tune.data import _spark_frames as spark_frames
from zoo_tune.data import _stream as stream_module
from zoo_tune.metrics import BUILTIN_METRICS, resolve_metric

pytestmark = pytest.mark.timeout(600)

ROWS = 3000
WIDTH = 4
CLASSIFICATION = ("accuracy", "auc", "precision", "recall", "f1")
REGRESSION = ("r2", "mse", "rmse", "mae", "msle", "mape", "smape", "mspe")


def _frame(spark, rows=ROWS, partitions=5):
    """Row ``i``: features ``[i, sin i, cos i, i % 7]``, a class label, a positive target."""
    from pyspark.sql import functions as F

    i = F.col("id")
    return (spark.range(rows, numPartitions=partitions)
            .select(F.array(i.cast("float"), F.sin(i).cast("float"), F.cos(i).cast("float"),
                            (i % 7).cast("float")).alias("x"),
                    (F.sin(i * 0.37) > 0).cast("long").alias("label"),
                    (F.abs(F.sin(i)) * 3 + 0.5).cast("float").alias("target")))


@pytest.fixture
def small_groups(monkeypatch):
    """Row groups of a few hundred rows and several files, so a small frame has many parts."""
    monkeypatch.setattr(spark_frames, "ROW_GROUP_BYTES", 4096)
    monkeypatch.setattr(spark_frames, "FILE_BYTES", 20_000)


def _staged_table(spark, tmp_path, label="label"):
    # With a validation frame: `data` is staged whole (no split of its rows).
    staged = stage_data(_frame(spark), _frame(spark, rows=10, partitions=1), "torch",
                        feature_cols=["x"], label_cols=[label], driver_budget_mb=0)
    target = ParquetTarget(str(tmp_path / "data"), str(tmp_path / "data"), None, "local")
    table, _ = load_staged(staged, target)
    return table


def _ids(batches):
    return np.concatenate([xs[0][:, 0] for xs, _ in batches]).astype(np.int64)


def test_spark_writes_sized_row_groups_and_files(spark, tmp_path, small_groups):
    import pyarrow.parquet as pq

    table = _staged_table(spark, tmp_path)
    files = sorted(glob.glob(str(tmp_path / "data" / "data.parquet" / "*.parquet")))
    # 3000 rows x 24 cast bytes = 72 000 bytes: ceil(72 000 / 20 000) = 4 files, not the
    # frame's 5 partitions (coalesced by size); each file holds several row groups.
    assert len(files) == 4
    groups = [pq.ParquetFile(f).metadata.num_row_groups for f in files]
    assert all(g >= 2 for g in groups), groups
    assert table.rows == ROWS and table.nbytes == ROWS * (WIDTH * 4 + 8)
    assert len(table.parts()) == sum(groups)


def test_every_row_once_per_epoch_in_a_new_order(spark, tmp_path, small_groups):
    table = prepare_input(_staged_table(spark, tmp_path), node_cache_mb=0)
    assert table.placement == "stream"
    stream = TableStream(table, seed=11)
    orders = []
    for epoch in (1, 2, 3):
        stream.set_epoch(epoch)
        batches = list(stream.batches(64, shuffle=True))
        # Batches straddle parts: all full but the last, as many as in memory.
        assert [len(ys[0]) for _, ys in batches[:-1]] == [64] * (len(batches) - 1)
        assert len(batches) == -(-ROWS // 64)
        ids = _ids(batches)
        assert sorted(ids.tolist()) == list(range(ROWS))  # every row exactly once
        for xs, ys in batches:  # the rows stay whole: label and features of one row
            assert np.array_equal(ys[0], (np.sin(xs[0][:, 0].astype(np.float64) * 0.37) > 0))
        orders.append(ids)
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])
    stream.set_epoch(2)  # the order is the trial's seed and the epoch: a retry repeats it
    assert np.array_equal(_ids(stream.batches(64, shuffle=True)), orders[1])
    other = TableStream(table, seed=12)
    other.set_epoch(2)
    assert not np.array_equal(_ids(other.batches(64, shuffle=True)), orders[1])
    # Unshuffled (validation): the table's own order, the in-memory arrays' order.
    xs, _ = table.read_all()
    assert np.array_equal(_ids(stream.batches(256, shuffle=False)), xs[0][:, 0].astype(int))


def _chunked(table, k=3):
    """The table as a node cache holds it: ``k`` chunks of whole rows, features first."""
    xs, ys = table.read_all()
    return CachedTable(table, [list(c) for c in zip(*(np.array_split(a, k) for a in xs + ys))],
                       seed=11)


def test_a_chunked_cached_table_shuffles_all_rows_each_epoch(spark, tmp_path, small_groups):
    chunked = _chunked(_staged_table(spark, tmp_path))
    assert chunked.rows == ROWS and len(chunked.chunks) == 3
    orders = []
    for epoch in (1, 2):
        chunked.set_epoch(epoch)
        batches = list(chunked.batches(64, shuffle=True))
        assert [len(ys[0]) for _, ys in batches[:-1]] == [64] * (len(batches) - 1)
        ids = _ids(batches)
        assert sorted(ids.tolist()) == list(range(ROWS))
        for xs, ys in batches:  # features and labels of one row stay together
            assert np.array_equal(ys[0], (np.sin(xs[0][:, 0].astype(np.float64) * 0.37) > 0))
        # One permutation of all rows: a batch draws from every chunk, not from one.
        spans = [len(set(np.searchsorted(chunked.starts, _ids([b]), side="right")))
                 for b in batches[:-1]]
        assert min(spans) == 3
        orders.append(ids)
    assert not np.array_equal(orders[0], orders[1])
    xs, _ = chunked.table.read_all()
    assert np.array_equal(_ids(chunked.batches(256, shuffle=False)), xs[0][:, 0].astype(int))


def test_read_ahead_is_bounded(spark, tmp_path, small_groups, monkeypatch):
    """At most READ_AHEAD parts are read beyond the one being cut into batches."""
    table = prepare_input(_staged_table(spark, tmp_path), node_cache_mb=0)
    reads = []
    real = type(table).read_part

    def counting(self, part):
        reads.append(part)
        return real(self, part)

    monkeypatch.setattr(type(table), "read_part", counting)
    stream = TableStream(table, seed=1)
    stream.set_epoch(1)
    parts = table.parts()
    order = stream_module.epoch_order(len(parts), 1, 1)
    ends = np.cumsum([parts[i].rows for i in order])  # last row (+1) of each part read
    ahead, consumed = [], 0
    for xs, _ in stream.batches(32, shuffle=True):
        consumed += len(xs[0])
        started = int(np.searchsorted(ends, consumed, side="left")) + 1  # parts cut into
        ahead.append(len(reads) - started)
    assert len(reads) == len(parts) > 4
    assert max(ahead) <= stream_module.READ_AHEAD, ahead


def test_a_failed_read_is_raised_to_the_reader(spark, tmp_path, small_groups):
    table = prepare_input(_staged_table(spark, tmp_path), node_cache_mb=0)
    stream = TableStream(table, seed=1)
    for f in glob.glob(str(tmp_path / "data" / "data.parquet" / "*.parquet"))[1:]:
        os.remove(f)  # the storage lost files after the trial listed the parts
    with pytest.raises((FileNotFoundError, OSError)):
        list(stream.batches(64, shuffle=True))


# --- metrics: each built-in metric is the in-memory path's, on the same rows ----------------

def _torch_model(kind):
    import torch

    def make(config):
        torch.manual_seed(0)
        if kind == "classification":
            return torch.nn.Sequential(torch.nn.Linear(WIDTH, 2))
        return torch.nn.Sequential(torch.nn.Linear(WIDTH, 1), torch.nn.Softplus())

    return make


def _sources(table):
    """The table streamed, chunked as a node cache holds it, and as in-memory arrays (as
    ``materialize`` gives each)."""
    stream = TableStream(prepare_input(table, node_cache_mb=0), seed=3)
    xs, ys = table.read_all()
    return [stream, _chunked(table)], (xs, ys, False, False)


@pytest.mark.parametrize("kind,label,metrics,loss", [
    ("classification", "label", CLASSIFICATION + ("loss",), "CrossEntropyLoss"),
    ("regression", "target", REGRESSION + ("mean_loss",), "MSELoss"),
])
def test_torch_metrics_on_a_stream_equal_the_in_memory_path(spark, tmp_path, small_groups,
                                                            kind, label, metrics, loss):
    from zoo_tune.estimator._torch import TorchBackend

    table = _staged_table(spark, tmp_path, label)
    sources, arrays = _sources(table)
    backend = TorchBackend(_torch_model(kind), "SGD", loss)
    config = {"batch_size": 100}
    state = backend.build(config)
    for name in metrics:
        spec = resolve_metric(name)
        in_memory = backend.evaluate(state, arrays, config, spec)
        for source in sources:  # the same rows in the same batches: exact
            assert backend.evaluate(state, source, config, spec) == in_memory, name
        assert np.isfinite(in_memory), name
    assert set(metrics) - {"loss", "mean_loss"} <= set(BUILTIN_METRICS)


def _keras_model(kind):
    def make(config):
        import keras

        keras.utils.set_random_seed(0)
        if kind == "classification":
            model = keras.Sequential([keras.Input((WIDTH,)), keras.layers.Dense(2)])
            model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                          optimizer="sgd", metrics=["accuracy"])
        else:
            model = keras.Sequential([keras.Input((WIDTH,)),
                                      keras.layers.Dense(1, activation="softplus")])
            model.compile(loss="mse", optimizer="sgd")
        return model

    return make


@pytest.mark.parametrize("kind,label,metrics", [
    ("classification", "label", CLASSIFICATION + ("loss",)),
    ("regression", "target", REGRESSION + ("mean_loss",)),
])
def test_keras_metrics_on_a_stream_equal_the_in_memory_path(spark, tmp_path, small_groups,
                                                            kind, label, metrics):
    from zoo_tune.estimator._keras import KerasBackend

    table = _staged_table(spark, tmp_path, label)
    sources, arrays = _sources(table)
    backend = KerasBackend(_keras_model(kind))
    config = {"batch_size": 100}
    model = backend.build(config)
    for name in metrics:
        spec = resolve_metric(name)
        in_memory = backend.evaluate(model, arrays, config, spec)
        for source in sources:
            value = backend.evaluate(model, source, config, spec)
            assert value == pytest.approx(in_memory, rel=1e-6, abs=1e-9), name
        assert np.isfinite(in_memory), name


# --- end to end: a fit streams, each trial sees every row once per epoch ---------------------

def _recording_model(folder):
    """A linear model that writes the row ids of each training batch (``x[:, 0]``) and marks
    where an evaluation began, to a file of its own under ``folder``."""
    import torch

    class Recording(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.body = torch.nn.Linear(WIDTH, 2)
            self.path = os.path.join(folder, f"{uuid.uuid4().hex}.jsonl")

        def forward(self, x):
            with open(self.path, "a") as f:
                f.write(json.dumps({"train": self.training,
                                    "ids": x[:, 0].long().tolist()}) + "\n")
            return self.body(x / 3000.0)

    def make(config):
        return Recording()

    return make


def _epochs_seen(folder):
    """Per trial file: the ids each epoch trained on (the batches between evaluations)."""
    out = []
    for path in glob.glob(os.path.join(folder, "*.jsonl")):
        epochs, current = [], []
        for line in open(path):
            record = json.loads(line)
            if record["train"]:
                current += record["ids"]
            elif current:
                epochs.append(current)
                current = []
        if epochs:
            out.append(epochs)
    return out


def _fit_streamed(df, val, logs_dir, folder, name, lrs, **kwargs):
    est = AutoEstimator.from_torch(model_creator=_recording_model(folder), optimizer="SGD",
                                   loss="CrossEntropyLoss", logs_dir=logs_dir, name=name)
    est.fit(df, validation_data=val, feature_cols=["x"], label_cols=["label"], epochs=3,
            metric="accuracy", search_space={"lr": hp.grid_search(lrs), "batch_size": 64},
            verbose=0, **kwargs)
    return est


def _check_streamed_fit(est, folder, meta, rows):
    assert meta["data"]["data"]["kind"] == "stream"
    assert meta["data"]["validation_data"]["kind"] == "stream"
    assert meta["data"]["data"]["rows"] == rows
    seen = _epochs_seen(folder)
    assert len(seen) == 2 and all(len(epochs) == 3 for epochs in seen)
    for epochs in seen:
        for ids in epochs:
            assert sorted(ids) == list(range(rows))  # every row once per epoch
        assert epochs[0] != epochs[1] != epochs[2]  # in a new order each epoch
    assert seen[0][0] != seen[1][0]  # and each trial its own
    table = est.get_trial_table()
    assert set(table["status"]) == {"TERMINATED"}
    return table


def test_a_fit_streams_from_local_parquet_with_the_in_memory_metrics(spark, tmp_path,
                                                                    small_groups, ray_local):
    df, val = _frame(spark), _frame(spark, rows=500, partitions=2)
    folder = str(tmp_path / "seen")
    os.makedirs(folder)
    streamed = _fit_streamed(df, val, str(tmp_path), folder, "streamed", [0.0, 0.0],
                             driver_budget_mb=0, node_cache_mb=0)
    meta = json.loads((tmp_path / "streamed" / "zoo_tune_experiment.json").read_text())
    table = _check_streamed_fit(streamed, folder, meta, ROWS)
    # lr 0: the seeded model never changes, so every epoch's accuracy is the in-memory
    # path's on the same validation rows (collected into numpy arrays, no Parquet).
    memory_folder = str(tmp_path / "seen_memory")
    os.makedirs(memory_folder)
    in_memory = _fit_streamed(df, val, str(tmp_path), memory_folder, "in_memory", [0.0])
    meta = json.loads((tmp_path / "in_memory" / "zoo_tune_experiment.json").read_text())
    assert meta["data"]["data"]["kind"] == "arrays"
    expected = in_memory.get_trial_table()["accuracy_history"][0]
    for history in table["accuracy_history"]:
        assert list(history) == list(expected)
    rates = [r for r in _results(tmp_path / "streamed", "rows_per_s")]
    assert rates and all(r > 0 for r in rates)


def _results(experiment, key):
    for path in glob.glob(str(experiment / "trial_*" / "result.json")):
        for line in open(path):
            value = json.loads(line).get(key)
            if value is not None:
                yield value


def test_keras_fit_streams_with_the_in_memory_metrics(spark, tmp_path, small_groups, ray_local):
    import keras

    def make(config):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((WIDTH,)), keras.layers.Rescaling(1 / 3000.0),
                                  keras.layers.Dense(2)])
        model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      optimizer=keras.optimizers.SGD(learning_rate=config["lr"]))
        return model

    df, val = _frame(spark), _frame(spark, rows=500, partitions=2)
    histories = {}
    for name, kwargs in (("streamed", {"driver_budget_mb": 0, "node_cache_mb": 0}),
                         ("in_memory", {})):
        est = AutoEstimator.from_keras(model_creator=make, logs_dir=str(tmp_path), name=name)
        est.fit(df, validation_data=val, feature_cols=["x"], label_cols=["label"], epochs=2,
                metric="auc", search_space={"lr": hp.grid_search([0.0]), "batch_size": 64},
                verbose=0, **kwargs)
        meta = json.loads((tmp_path / name / "zoo_tune_experiment.json").read_text())
        assert meta["data"]["data"]["kind"] == ("stream" if kwargs else "arrays")
        histories[name] = list(est.get_trial_table()["auc_history"][0])
    assert histories["streamed"] == pytest.approx(histories["in_memory"], rel=1e-6)
    assert len(histories["streamed"]) == 2


@pytest.mark.hdfs
def test_a_fit_streams_from_hdfs(spark, tmp_path, small_groups, ray_local, hdfs_cluster):
    from hdfs_native import Client

    uri, _ = hdfs_cluster
    df, val = _frame(spark, rows=1200), _frame(spark, rows=300, partitions=2)
    folder = str(tmp_path / "seen")
    os.makedirs(folder)
    est = _fit_streamed(df, val, f"{uri}/user/zt/stream", folder, "streamed", [0.0, 0.05],
                        driver_budget_mb=0, node_cache_mb=0)
    meta = json.loads(Client(uri).read("/user/zt/stream/streamed/zoo_tune_experiment.json")
                      .read())
    assert meta["data"]["data"]["uri"].startswith(f"{uri}/user/zt/stream/streamed/data/")
    _check_streamed_fit(est, folder, meta, 1200)
