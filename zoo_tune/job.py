"""Tuning jobs described in YAML, run by ``zoo-tune run JOB.yaml`` (no driver script needed).

Example job (``conf/digits_job.yaml``)::

    framework: torch
    model: examples.digits_cnn:model_creator   # module:attribute, config -> model
    optimizer: Adam
    loss: NLLLoss
    data: examples.digits_cnn:load_data         # returns (train, validation) or train
    logs_dir: /tmp/zoo_tune_logs
    name: digits_yaml
    cluster: {cluster_mode: local}
    search_space:
      lr: {loguniform: [0.001, 0.01]}
      channels: {choice: [8, 16]}
      hidden: {grid_search: [32, 64]}
    fit: {epochs: 3, n_sampling: 2, metric: accuracy, scheduler: asha}

``data`` (and ``validation_data``, optional) may instead read a Spark source, files or a
catalog table (:mod:`zoo_tune._job_data`); the cluster mode must then give a SparkSession
(a Spark mode or ``raydp``), and the columns go in the source, not in ``fit``::

    data:
      format: parquet                    # parquet | csv | orc | json; or `table: db.name`
      path: hdfs://127.0.0.1:9000/data/digits.parquet
      options: {mergeSchema: "true"}     # optional DataFrameReader options
      feature_cols: [pixels]
      label_cols: [label]
    validation_data: {format: parquet, path: hdfs://127.0.0.1:9000/data/digits_val.parquet}
    cluster: {cluster_mode: yarn-client, num_nodes: 2}

A search-space value is a constant, or a one-key mapping from an ``hp`` function to its
arguments: a list (positional; for ``choice`` and ``grid_search`` the list is the categories)
or a mapping (keyword arguments).
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from zoo_tune import hp
from zoo_tune._job_data import SOURCE_KEYS, SparkSource, check_cluster_mode
from zoo_tune.errors import InvalidInputError

#: Top-level job keys -> what they hold.
JOB_KEYS: dict[str, str] = {
    "framework": "torch or keras",
    "model": "module:attribute of the model creator config -> model",
    "optimizer": "torch: optimizer name or module:attribute creator",
    "loss": "torch: loss name or module:attribute creator",
    "data": "module:attribute returning (train, validation) or train, or a Spark source "
            "{format, path, options} / {table}, with feature_cols and label_cols",
    "validation_data": "Spark source like data (data must be one); columns default to data's",
    "logs_dir": "where results go (path or hdfs:// / s3:// URI)",
    "remote_dir": "storage instead of logs_dir",
    "name": "experiment folder name",
    "resources_per_trial": "e.g. {cpu: 1}",
    "keep_checkpoints": "best checkpoints kept per trial",
    "cluster": "init_context arguments, e.g. {cluster_mode: local, cores: 2}",
    "search_space": "hyper-parameter -> constant or {hp_function: arguments}",
    "fit": "AutoEstimator.fit arguments (epochs, n_sampling, metric, search_alg, ...)",
}
REQUIRED = ("model", "data", "search_space")
HP_FUNCTIONS = ("uniform", "quniform", "loguniform", "qloguniform", "randn", "qrandn",
                "randint", "qrandint", "choice", "choice_n", "grid_search")


@dataclass
class Job:
    """A validated job: everything needed to build the estimator and call fit."""

    path: str
    spec: dict[str, Any]
    search_space: dict[str, Any]
    data_source: SparkSource | None = None
    validation_source: SparkSource | None = None


class _Lines:
    """Line numbers of YAML mapping keys, by key path."""

    def __init__(self, text: str) -> None:
        import yaml

        self.lines: dict[tuple[str, ...], int] = {}
        root = yaml.compose(text)
        if root is not None:
            self._walk(root, ())

    def _walk(self, node: Any, path: tuple[str, ...]) -> None:
        import yaml

        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = (*path, str(key.value))
                self.lines[sub] = key.start_mark.line + 1
                self._walk(value, sub)

    def at(self, *path: str) -> str:
        line = self.lines.get(tuple(path))
        return f"line {line}, " if line else ""


def _error(job_path: str, lines: _Lines, path: tuple[str, ...], message: str) -> InvalidInputError:
    return InvalidInputError(f"{job_path}: {lines.at(*path)}key {'.'.join(path)!r}: {message}")


def import_object(ref: str) -> Any:
    """Import ``module:attribute`` (the job folder and the working directory are searched)."""
    if not isinstance(ref, str) or ":" not in ref:
        raise InvalidInputError(f"expected 'module:attribute', got {ref!r}")
    module_name, attr = ref.split(":", 1)
    module = importlib.import_module(module_name)
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    # Ray workers cannot import modules from the job's folder: ship their code by value.
    import cloudpickle
    import ray.cloudpickle

    if module_name.split(".")[0] not in sys.builtin_module_names and not module_name.startswith(
            ("zoo_tune", "torch", "tensorflow", "keras")):
        for pickler in (cloudpickle, ray.cloudpickle):
            pickler.register_pickle_by_value(module)
    return obj


def _hp_value(job_path: str, lines: _Lines, path: tuple[str, ...], value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in HP_FUNCTIONS:
        fn_name, args = next(iter(value.items()))
        fn: Callable[..., Any] = getattr(hp, fn_name)
        try:
            if isinstance(args, dict):
                return fn(**args)
            if fn_name in ("choice", "grid_search") and isinstance(args, list):
                return fn(args)
            return fn(*(args if isinstance(args, list) else [args]))
        except (TypeError, ValueError) as err:
            raise _error(job_path, lines, path, str(err)) from err
    if isinstance(value, dict):
        unknown = [k for k in value if k in hp.__all__ and k not in HP_FUNCTIONS]
        if len(value) == 1 and unknown:
            raise _error(job_path, lines, path, f"{unknown[0]!r} is not usable in YAML; hp "
                                                f"functions: {list(HP_FUNCTIONS)}")
        return {k: _hp_value(job_path, lines, (*path, k), v) for k, v in value.items()}
    return value


def load_job(path: str) -> Job:
    """Read and validate a job file; every error names the line and key.

    Raises:
        InvalidInputError: unreadable YAML, unknown or missing keys, bad hp arguments,
            unknown fit arguments, a malformed Spark source in ``data`` / ``validation_data``
            or one with a cluster mode that gives no SparkSession.
    """
    import yaml

    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        spec = yaml.safe_load(text)
        lines = _Lines(text)
    except yaml.YAMLError as err:
        raise InvalidInputError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(spec, dict):
        raise InvalidInputError(f"{path}: a job is a mapping of keys {sorted(JOB_KEYS)}.")
    for key in spec:
        if key not in JOB_KEYS:
            raise _error(path, lines, (str(key),), f"unknown key. Valid keys: {sorted(JOB_KEYS)}")
    for key in REQUIRED:
        if key not in spec:
            raise InvalidInputError(f"{path}: missing required key {key!r} "
                                    f"({JOB_KEYS[key]}). Required keys: {list(REQUIRED)}.")
    framework = spec.get("framework", "torch")
    if framework not in ("torch", "keras"):
        raise _error(path, lines, ("framework",), f"must be 'torch' or 'keras', got "
                                                  f"{framework!r}")
    from zoo_tune.estimator import AutoEstimator

    fit_args = inspect.signature(AutoEstimator.fit).parameters
    allowed_fit = sorted(k for k in fit_args if k not in ("self", "data", "validation_data",
                                                           "search_space"))
    fit = spec.get("fit") or {}
    if not isinstance(fit, dict):
        raise _error(path, lines, ("fit",), "must be a mapping of fit arguments")
    for key in fit:
        if key not in allowed_fit:
            raise _error(path, lines, ("fit", str(key)), f"unknown fit argument. Valid: "
                                                         f"{allowed_fit}")
    space = spec["search_space"]
    if not isinstance(space, dict):
        raise _error(path, lines, ("search_space",), "must be a mapping of hyper-parameters")
    search_space = {k: _hp_value(path, lines, ("search_space", str(k)), v)
                    for k, v in space.items()}
    return Job(path, spec, search_space, *_sources(path, lines, spec, fit))


def _sources(path: str, lines: _Lines, spec: dict[str, Any],
             fit: dict[str, Any]) -> tuple[SparkSource | None, SparkSource | None]:
    """The Spark sources of ``data`` and ``validation_data`` (None, None: data is a function)."""
    def error(keys: tuple[str, ...], message: str) -> InvalidInputError:
        return _error(path, lines, keys, message)

    data, val = spec["data"], spec.get("validation_data")
    if not isinstance(data, dict):
        if val is not None:
            raise error(("validation_data",), "takes a Spark source, so 'data' must be one too; "
                                              "a 'data' function returns (train, validation)")
        return None, None
    source = SparkSource.parse(data, "data", error=error)
    if val is not None and not isinstance(val, dict):
        raise error(("validation_data",), f"must be a Spark source like 'data' (keys "
                                          f"{list(SOURCE_KEYS)}), got {val!r}")
    val_source = None if val is None else SparkSource.parse(
        val, "validation_data", columns_of=source, error=error)
    for key in ("feature_cols", "label_cols"):
        if key in fit:
            raise error(("fit", key), f"goes in data.{key} (and validation_data.{key}) when "
                                      f"data is a Spark source")
    cluster = spec.get("cluster") or {}
    if not isinstance(cluster, dict):
        raise error(("cluster",), "must be a mapping of init_context arguments")
    check_cluster_mode(cluster.get("cluster_mode"), error)
    return source, val_source


def run_job(job: Job) -> Any:
    """Build the estimator a job describes, run ``fit`` and return the estimator.

    A Spark source in ``data`` is read after ``init_context``, with its SparkSession.
    """
    from zoo_tune import AutoEstimator, init_context, stop_context

    folder = os.path.dirname(os.path.abspath(job.path))
    for entry in (os.getcwd(), folder, os.path.dirname(folder)):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    spec = job.spec

    def resolve(key: str) -> Any:
        value = spec.get(key)
        return import_object(value) if isinstance(value, str) and ":" in value else value

    common = {k: spec[k] for k in ("logs_dir", "remote_dir", "name", "resources_per_trial",
                                   "keep_checkpoints") if k in spec}
    if spec.get("framework", "torch") == "keras":
        est = AutoEstimator.from_keras(model_creator=resolve("model"), **common)
    else:
        est = AutoEstimator.from_torch(model_creator=resolve("model"),
                                       optimizer=resolve("optimizer") or "Adam",
                                       loss=resolve("loss") or "CrossEntropyLoss", **common)
    columns: dict[str, Any] = {}
    if job.data_source is None:
        data = resolve("data")
        data = data() if callable(data) else data
        train, val = (data if isinstance(data, tuple) and len(data) == 2
                      and isinstance(data[0], tuple) else (data, None))
    ctx = init_context(**(spec.get("cluster") or {}))
    try:
        if job.data_source is not None:
            train = job.data_source.read(ctx.spark)
            val = None if job.validation_source is None else job.validation_source.read(ctx.spark)
            columns = job.data_source.fit_columns()
        est.fit(train, validation_data=val, search_space=job.search_space, **columns,
                **(spec.get("fit") or {}))
    finally:
        stop_context()
    return est
