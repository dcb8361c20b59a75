"""Keras backend: a compiled ``tf.keras`` model from ``model_creator(config)``."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from zoo_tune.errors import InvalidInputError, InvalidTypeError
from zoo_tune.estimator._backend import batch_size_of, is_arrays, is_batched, metric_value
from zoo_tune.metrics import MetricSpec

_WEIGHTS = "weights.npz"


def compiled_metric_names(model: Any) -> list[str]:
    """Names ``model.evaluate(return_dict=True)`` reports: ``loss`` and compiled metrics."""
    names = ["loss"]
    config = model.get_compile_config() or {}
    metrics = config.get("metrics") or []
    if isinstance(metrics, dict):  # per-output metrics
        metrics = [m for ms in metrics.values() for m in (ms if isinstance(ms, list) else [ms])]
    for m in metrics:
        if isinstance(m, str):
            names.append(m)
        elif isinstance(m, dict):
            names.append(m.get("config", {}).get("name") or m.get("class_name", ""))
    return names


def _x(xs: list[np.ndarray], multi: bool) -> Any:
    return xs if multi else xs[0]


def _split_element(element: Any) -> tuple[Any, Any]:
    if not isinstance(element, (list, tuple)) or len(element) != 2:
        raise InvalidInputError("A tf.data.Dataset from the data creator must yield (x, y) "
                                f"pairs, but yielded {type(element).__name__}.")
    return element[0], element[1]


def _as_list(value: Any) -> list[np.ndarray]:
    if isinstance(value, (list, tuple)):
        return [np.asarray(v) for v in value]
    if isinstance(value, dict):
        return [np.asarray(v) for v in value.values()]
    return [np.asarray(value)]


class KerasBackend:
    """Trains the compiled ``tf.keras`` model ``model_creator(config)`` returns.

    Args:
        model_creator: ``config -> keras.Model``, compiled with its loss and optimizer.
    """

    framework = "keras"

    def __init__(self, model_creator: Callable[[dict], Any]) -> None:
        self.model_creator = model_creator
        self._threads_set = False

    def _model(self, config: dict[str, Any]) -> Any:
        import keras

        model = self.model_creator(config)
        if not isinstance(model, keras.Model):
            raise InvalidTypeError(f"Expected `model_creator` to return a compiled keras.Model. "
                                   f"Received: {model!r} of type {type(model).__name__}.")
        if not getattr(model, "compiled", False) and getattr(model, "optimizer", None) is None:
            raise InvalidInputError("`model_creator` returned a keras.Model that is not "
                                    "compiled: call model.compile(loss=..., optimizer=...) "
                                    "before returning it.")
        return model

    def check_on_driver(self, config: dict[str, Any], metric: MetricSpec) -> None:
        model = self._model(config)
        if metric.source == "framework":
            names = compiled_metric_names(model)
            if metric.name not in names:
                raise InvalidInputError(f"Unknown metric {metric.name!r}: the model reports "
                                        f"{names} and the built-in metrics are computed by "
                                        f"zoo_tune; compile the metric into the model or pick "
                                        f"one of these.")

    def set_threads(self, cpus: int) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow's first import
        import tensorflow as tf

        if self._threads_set:
            return
        try:  # only possible before TensorFlow runs its first op in this process
            tf.config.threading.set_intra_op_parallelism_threads(max(1, cpus))
            tf.config.threading.set_inter_op_parallelism_threads(max(1, cpus))
        except RuntimeError:
            pass
        self._threads_set = True

    def cuda_usable(self) -> tuple[bool, str]:
        from zoo_tune.estimator._device import tensorflow_cuda_usable

        return tensorflow_cuda_usable()

    def build(self, config: dict[str, Any], device: str = "cpu", precision: str = "32") -> Any:
        """The model; TensorFlow places it on the trial's GPU by itself when ``device`` is
        ``"cuda"`` (it sees only that GPU: ``CUDA_VISIBLE_DEVICES``), on the CPU otherwise
        (no GPU visible). ``precision`` is always ``"32"`` (``check_precision``)."""
        import keras

        keras.backend.clear_session()  # reused workers must not pile up old graphs
        return self._model(config)

    def train_epoch(self, model: Any, data: Any, config: dict[str, Any]) -> None:
        if is_batched(data):
            model.fit(data.tf_dataset(batch_size_of(config), shuffle=True), epochs=1,
                      verbose=0)
        elif is_arrays(data):
            xs, ys, multi_x, multi_y = data
            model.fit(_x(xs, multi_x), _x(ys, multi_y), batch_size=batch_size_of(config),
                      epochs=1, verbose=0, shuffle=True)
        else:
            model.fit(data, epochs=1, verbose=0)

    def evaluate(self, model: Any, data: Any, config: dict[str, Any], metric: MetricSpec) -> float:
        batch = max(batch_size_of(config), 256)
        if is_batched(data):
            return self._evaluate_batched(model, data, batch, metric)
        if metric.fn is None:
            if is_arrays(data):
                xs, ys, multi_x, multi_y = data
                out = model.evaluate(_x(xs, multi_x), _x(ys, multi_y), batch_size=batch,
                                     verbose=0, return_dict=True)
            else:
                out = model.evaluate(data, verbose=0, return_dict=True)
            name = "loss" if metric.name == "mean_loss" else metric.name
            return float(out[name])
        if is_arrays(data):
            xs, ys, multi_x, _ = data
            preds = _as_list(model.predict(_x(xs, multi_x), batch_size=batch, verbose=0))
            return metric_value(metric, list(ys), preds)
        trues: list[list[np.ndarray]] = []
        outs: list[list[np.ndarray]] = []
        for element in data:
            x, y = _split_element(element)
            outs.append(_as_list(model(x, training=False)))
            trues.append(_as_list(y))
        return metric_value(metric, [np.concatenate(c) for c in zip(*trues)],
                            [np.concatenate(c) for c in zip(*outs)])

    @staticmethod
    def _evaluate_batched(model: Any, stream: Any, batch: int, metric: MetricSpec) -> float:
        """The metric on a streamed or chunked table, in its own order and the in-memory
        path's batches: compiled metrics through ``evaluate``, zoo_tune's from every
        prediction."""
        if metric.fn is None:
            out = model.evaluate(stream.tf_dataset(batch, shuffle=False), verbose=0,
                                 return_dict=True)
            return float(out["loss" if metric.name == "mean_loss" else metric.name])
        trues: list[list[np.ndarray]] = []
        outs: list[list[np.ndarray]] = []
        for xs, ys in stream.batches(batch, shuffle=False):
            outs.append(_as_list(model.predict_on_batch(_x(xs, stream.multi_x))))
            trues.append(list(ys))
        return metric_value(metric, [np.concatenate(c) for c in zip(*trues)],
                            [np.concatenate(c) for c in zip(*outs)])

    def save(self, model: Any, directory: str) -> None:
        weights = model.get_weights()
        np.savez(os.path.join(directory, _WEIGHTS), *weights)

    @staticmethod
    def _read(directory: str) -> list[np.ndarray]:
        with np.load(os.path.join(directory, _WEIGHTS)) as f:
            return [f[f"arr_{i}"] for i in range(len(f.files))]

    def restore(self, model: Any, directory: str) -> None:
        model.set_weights(self._read(directory))

    def load_model(self, config: dict[str, Any], directory: str | None) -> Any:
        model = self._model(config)
        if directory is not None:
            model.set_weights(self._read(directory))
        return model
