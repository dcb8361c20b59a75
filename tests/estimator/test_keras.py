"""AutoEstimator.from_keras end to end on real local Ray with real TensorFlow training."""

from __future__ import annotations

import functools
import os

import numpy as np
import pytest

from zoo_tune import AutoEstimator, hp
from zoo_tune.errors import InvalidInputError, InvalidTypeError

pytestmark = pytest.mark.usefixtures("ray_local")
tf = pytest.importorskip("tensorflow")


def dense(config):
    model = tf.keras.Sequential([tf.keras.Input((4,)),
                                 tf.keras.layers.Dense(config.get("hidden", 8), activation="relu"),
                                 tf.keras.layers.Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy",
                  optimizer=tf.keras.optimizers.Adam(config.get("lr", 0.01)),
                  metrics=["sparse_categorical_accuracy"])
    return model


def dataset_creator(config, x, y):
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(config.get("batch_size", 32))


def test_numpy_fit_best_model_is_best_epoch_checkpoint(tmp_path, blobs):
    (x, y), (xv, yv) = blobs
    est = AutoEstimator.from_keras(model_creator=dense, logs_dir=str(tmp_path), name="keras_np")
    est.fit((x, y), validation_data=(xv, yv), epochs=3, metric="accuracy", n_sampling=2,
            search_space={"lr": hp.loguniform(3e-2, 1e-1), "hidden": hp.choice([8, 16])},
            verbose=0)
    table = est.get_trial_table()
    assert len(table) == 2 and set(table["status"]) == {"TERMINATED"}
    best_row = table.loc[table["best_accuracy"].idxmax()]
    assert est.get_best_config() == best_row["config"]
    model = est.get_best_model()
    with np.load(os.path.join(best_row["checkpoint"], "weights.npz")) as saved:
        for i, weight in enumerate(model.get_weights()):
            np.testing.assert_array_equal(weight, saved[f"arr_{i}"])
    accuracy = float((model.predict(xv, verbose=0).argmax(1) == yv).mean())
    assert accuracy == pytest.approx(best_row["best_accuracy"])
    assert accuracy > 0.7


def test_dataset_creator_and_compiled_metric(tmp_path, blobs):
    (x, y), (xv, yv) = blobs
    est = AutoEstimator.from_keras(model_creator=dense, logs_dir=str(tmp_path))
    est.fit(functools.partial(dataset_creator, x=x, y=y),
            validation_data=functools.partial(dataset_creator, x=xv, y=yv),
            epochs=2, metric="sparse_categorical_accuracy", metric_mode="max", n_sampling=2,
            search_space={"batch_size": hp.choice([16, 32]), "lr": hp.choice([0.01, 0.05])},
            verbose=0)
    table = est.get_trial_table()
    assert len(table) == 2
    best = table["best_sparse_categorical_accuracy"].max()
    assert 0.7 < best <= 1.0
    model = est.get_best_model()
    accuracy = float((model.predict(xv, verbose=0).argmax(1) == yv).mean())
    assert accuracy == pytest.approx(best, abs=1e-6)


def two_in_two_out(config):
    a, b = tf.keras.Input((2,), name="a"), tf.keras.Input((2,), name="b")
    h = tf.keras.layers.Dense(8, activation="relu")(tf.keras.layers.Concatenate()([a, b]))
    cls = tf.keras.layers.Dense(3, activation="softmax", name="cls")(h)
    reg = tf.keras.layers.Dense(1, name="reg")(h)
    model = tf.keras.Model([a, b], [cls, reg])
    model.compile(loss=["sparse_categorical_crossentropy", "mse"],
                  optimizer=tf.keras.optimizers.Adam(config["lr"]))
    return model


def test_multi_input_multi_output(tmp_path, blobs):
    (x, y), (xv, yv) = blobs
    est = AutoEstimator.from_keras(model_creator=two_in_two_out, logs_dir=str(tmp_path))
    est.fit(([x[:, :2], x[:, 2:]], [y, x.sum(axis=1)]), epochs=2, metric="loss",
            validation_data=([xv[:, :2], xv[:, 2:]], [yv, xv.sum(axis=1)]),
            search_space={"lr": hp.choice([0.01, 0.02])}, n_sampling=2, verbose=0)
    table = est.get_trial_table()
    assert all(len(h) == 2 and np.isfinite(h).all() for h in table["loss_history"])
    model = est.get_best_model()
    assert len(model.inputs) == 2 and len(model.outputs) == 2


def test_unknown_compiled_metric_fails_before_trials(tmp_path, blobs):
    (x, y), _ = blobs
    est = AutoEstimator.from_keras(model_creator=dense, logs_dir=str(tmp_path), name="never")
    with pytest.raises(InvalidInputError, match="sparse_categorical_accuracy"):
        est.fit((x, y), metric="top_k_accuracy", metric_mode="max",
                search_space={"lr": hp.choice([0.01])}, verbose=0)
    assert not (tmp_path / "never").exists()


def test_uncompiled_or_wrong_model_is_fatal_before_trials(tmp_path, blobs):
    (x, y), _ = blobs

    def uncompiled(config):
        return tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(3)])

    est = AutoEstimator.from_keras(model_creator=uncompiled, logs_dir=str(tmp_path))
    with pytest.raises(InvalidInputError, match="not compiled"):
        est.fit((x, y), search_space={"lr": hp.choice([0.01])}, verbose=0)
    est = AutoEstimator.from_keras(model_creator=lambda c: "a model", logs_dir=str(tmp_path))
    with pytest.raises(InvalidTypeError, match="Received: 'a model' of type str"):
        est.fit((x, y), search_space={"lr": hp.choice([0.01])}, verbose=0)
