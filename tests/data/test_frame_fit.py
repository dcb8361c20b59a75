"""``fit`` on pandas and Spark DataFrames end to end: real Ray, real Spark, torch and Keras."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from zoo_tune import AutoEstimator, hp

pytestmark = pytest.mark.usefixtures("ray_local")


def blob_rows(rows=400, width=4, seed=0):
    """Three well separated classes in ``width`` dimensions."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=rows)
    centers = np.zeros((3, width))
    centers[0, 0] = centers[1, 1 % width] = centers[2, 2 % width] = 2.0
    return (centers[y] + rng.normal(scale=0.6, size=(rows, width))).astype(np.float32), y


def torch_two_inputs(config):
    """forward(features, extra): a vector column and a scalar column as two inputs."""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3))

        def forward(self, features, extra):
            return self.body(torch.cat([features, extra.unsqueeze(1)], dim=1))

    return Net()


def test_torch_on_a_spark_frame_with_vector_and_scalar_columns(spark, tmp_path):
    from pyspark.ml.linalg import Vectors

    x, y = blob_rows()
    rows = [(Vectors.dense(x[i].astype(float)), float(x[i, 0] * 0.5), int(y[i]))
            for i in range(len(y))]
    df = spark.createDataFrame(rows, ["features", "extra", "label"]).repartition(3)
    est = AutoEstimator.from_torch(model_creator=torch_two_inputs, optimizer="Adam",
                                   loss="CrossEntropyLoss", logs_dir=str(tmp_path), name="sdf")
    est.fit(df, feature_cols=["features", "extra"], label_cols=["label"], epochs=3,
            metric="accuracy", search_space={"lr": hp.grid_search([0.02, 0.1])}, verbose=0)
    table = est.get_trial_table()
    assert len(table) == 2 and set(table["status"]) == {"TERMINATED"}
    assert table["best_accuracy"].max() > 0.9
    meta = json.loads((tmp_path / "sdf" / "zoo_tune_experiment.json").read_text())
    # No validation_data: the seeded 20% split, never the training rows.
    # 4 float32 features + 1 float32 input + an int64 label: 28 bytes a row.
    assert meta["data"] == {"data": {"kind": "arrays", "rows": 320, "bytes": 320 * 28},
                            "validation_data": {"kind": "arrays", "rows": 80, "bytes": 80 * 28}}


def test_torch_on_a_pandas_frame_with_stacked_columns(tmp_path):
    x, y = blob_rows()
    train = pd.DataFrame({f"f{i}": x[:300, i] for i in range(4)} | {"label": y[:300]})
    val = pd.DataFrame({f"f{i}": x[300:, i] for i in range(4)} | {"label": y[300:]})

    def model(config):
        from torch import nn

        return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))

    est = AutoEstimator.from_torch(model_creator=model, optimizer="Adam",
                                   loss="CrossEntropyLoss", logs_dir=str(tmp_path))
    est.fit(train, validation_data=val, feature_cols=[["f0", "f1", "f2", "f3"]],
            label_cols="label", epochs=2, metric="accuracy",
            search_space={"lr": hp.grid_search([0.05])}, verbose=0)
    best = est.get_best_model()
    import torch

    with torch.no_grad():
        pred = best(torch.from_numpy(x[300:])).argmax(1).numpy()
    accuracy = float((pred == y[300:]).mean())
    assert accuracy == pytest.approx(est.get_trial_table()["best_accuracy"].max())
    assert accuracy > 0.9


def keras_two_in_two_out(config):
    import keras

    a = keras.Input(shape=(32,), name="a")
    b = keras.Input(shape=(64,), name="b")
    h = keras.layers.Dense(16, activation="relu")(keras.layers.Concatenate()([a, b]))
    cls = keras.layers.Dense(3, activation="softmax", name="cls")(h)
    reg = keras.layers.Dense(1, name="reg")(h)
    model = keras.Model([a, b], [cls, reg])
    model.compile(optimizer=keras.optimizers.Adam(config["lr"]),
                  loss=["sparse_categorical_crossentropy", "mse"])
    return model


def test_keras_two_feature_columns_two_labels_from_spark(spark, tmp_path):
    rng = np.random.default_rng(1)
    rows = 300
    y = rng.integers(0, 3, size=rows)
    a = rng.normal(scale=0.5, size=(rows, 32))
    a[np.arange(rows), y] += 2.0
    b = rng.normal(size=(rows, 64))
    target = b[:, 0] * 0.5
    df = spark.createDataFrame(
        [(a[i].tolist(), b[i].tolist(), int(y[i]), float(target[i])) for i in range(rows)],
        "a array<double>, b array<double>, cls long, reg double")
    est = AutoEstimator.from_keras(model_creator=keras_two_in_two_out, logs_dir=str(tmp_path),
                                   name="multi")
    est.fit(df, feature_cols=["a", "b"], label_cols=["cls", "reg"], validation_split=0.25,
            epochs=4, metric="loss", search_space={"lr": hp.grid_search([0.01, 0.03])},
            verbose=0)
    table = est.get_trial_table()
    assert len(table) == 2 and set(table["status"]) == {"TERMINATED"}
    # The loss went down: the two inputs reached the model and the two targets the losses.
    assert all(h[-1] < h[0] for h in table["loss_history"])
    model = est.get_best_model()
    assert [tuple(t.shape) for t in model.inputs] == [(None, 32), (None, 64)]
    cls_pred, _ = model.predict([a.astype(np.float32), b.astype(np.float32)], verbose=0)
    assert float((cls_pred.argmax(1) == y).mean()) > 0.8


def one_linear_layer(config):
    from torch import nn

    return nn.Sequential(nn.Linear(4, 3))


def refuse_driver_collect(monkeypatch):
    """Instrumentation, not a fault: the driver-side collect path must not run at all."""
    from zoo_tune.data import _spark_frames

    def refuse(*_args, **_kwargs):
        raise AssertionError("the driver collected a frame over its budget")

    monkeypatch.setattr(_spark_frames, "collect_batches", refuse)


def test_frame_over_the_driver_budget_goes_through_parquet(spark, tmp_path, monkeypatch):
    refuse_driver_collect(monkeypatch)
    x, y = blob_rows(rows=400)
    df = spark.createDataFrame([(x[i].tolist(), int(y[i])) for i in range(400)],
                               "features array<float>, label long")
    est = AutoEstimator.from_torch(model_creator=one_linear_layer, optimizer="Adam",
                                   loss="CrossEntropyLoss", logs_dir=str(tmp_path), name="pq")
    est.fit(df, feature_cols=["features"], label_cols=["label"], driver_budget_mb=0.001,
            epochs=3, metric="accuracy", search_space={"lr": hp.grid_search([0.1])}, verbose=0)
    meta = json.loads((tmp_path / "pq" / "zoo_tune_experiment.json").read_text())
    uris = [meta["data"][k]["uri"] for k in ("data", "validation_data")]
    # Small enough for the node cache: one copy per Ray node.
    assert [meta["data"][k]["kind"] for k in ("data", "validation_data")] == ["node_cache"] * 2
    assert [meta["data"][k]["source"] for k in ("data", "validation_data")] == ["parquet"] * 2
    assert sum(meta["data"][k]["rows"] for k in ("data", "validation_data")) == 400
    assert uris == [f"file://{tmp_path}/pq/data/data.parquet",
                    f"file://{tmp_path}/pq/data/validation_data.parquet"]
    import pyarrow.parquet as pq

    train = pq.read_table(str(tmp_path / "pq" / "data" / "data.parquet"))
    val = pq.read_table(str(tmp_path / "pq" / "data" / "validation_data.parquet"))
    assert train.num_rows + val.num_rows == 400 and 40 < val.num_rows < 130
    assert est.get_trial_table()["best_accuracy"].max() > 0.9


@pytest.mark.hdfs
def test_parquet_staging_on_hdfs_is_read_by_trials_from_hdfs(spark, hdfs_cluster, monkeypatch):
    from hdfs_native import Client

    uri, _ = hdfs_cluster
    refuse_driver_collect(monkeypatch)
    x, y = blob_rows(rows=300)
    df = spark.createDataFrame([(x[i].tolist(), int(y[i])) for i in range(300)],
                               "features array<float>, label long")
    est = AutoEstimator.from_torch(model_creator=one_linear_layer, optimizer="Adam",
                                   loss="CrossEntropyLoss", logs_dir=f"{uri}/user/zt/frames",
                                   name="pq")
    est.fit(df, validation_data=df.limit(60), feature_cols=["features"], label_cols=["label"],
            driver_budget_mb=0, epochs=3, metric="accuracy",
            search_space={"lr": hp.grid_search([0.1])}, verbose=0)
    hdfs = Client(uri)
    files = [s.path for s in hdfs.list_status("/user/zt/frames/pq/data/data.parquet")]
    assert any(p.endswith(".parquet") for p in files)
    meta = json.loads(hdfs.read("/user/zt/frames/pq/zoo_tune_experiment.json").read())
    assert meta["data"]["data"] == {"kind": "node_cache", "source": "parquet",
                                    "rows": 300, "bytes": 300 * (4 * 4 + 8),
                                    "uri": f"{uri}/user/zt/frames/pq/data/data.parquet"}
    assert meta["data"]["validation_data"]["source"] == "parquet"
    assert est.get_trial_table()["best_accuracy"].max() > 0.9
