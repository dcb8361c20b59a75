"""Glue between a fit (or a stored experiment) and its :class:`~zoo_tune.tracking.Tracker`.

Example:
    >>> log_experiment(AutoEstimator.load("/tmp/zoo_tune_logs/digits"),
    ...                "sqlite:///mlflow.db")  # doctest: +SKIP
    'f1e2...'
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping
from typing import Any

import zoo_tune
from zoo_tune.tracking._layout import parent_params
from zoo_tune.tracking._model import save_model
from zoo_tune.tracking._tracker import Tracker

logger = logging.getLogger("zoo_tune.tracking")


def start_tracker(uri: str, experiment: str, name: str, experiment_uri: str,
                  meta: Mapping[str, Any]) -> Tracker:
    """Build and start the tracker of the zoo_tune experiment ``name``.

    Args:
        uri: The tracking URI.
        experiment: The MLflow experiment's name.
        name: The zoo_tune experiment's name (the parent run's name).
        experiment_uri: Where the zoo_tune experiment is stored (a parent tag).
        meta: The experiment's ``zoo_tune_experiment.json`` content (metric, mode, epochs,
            search space, and its ``setup``: searcher, scheduler, cluster mode, samples).
    """
    setup = dict(meta.get("setup") or {})
    space = meta.get("search_space")
    params = parent_params(
        space_text=space if isinstance(space, str) else json.dumps(space, sort_keys=True),
        metric=str(meta.get("metric")), mode=str(meta.get("mode")),
        epochs=int(meta.get("epochs") or 0), search_alg=setup.get("search_alg"),
        scheduler=setup.get("scheduler"), cluster_mode=str(setup.get("cluster_mode", "?")),
        n_sampling=int(setup.get("n_sampling", 0)))
    tags = {"zoo_tune.version": zoo_tune.__version__, "zoo_tune.experiment": experiment_uri}
    tracker = Tracker(uri, experiment, name, params=params, tags=tags)
    tracker.start()
    return tracker


def finish_tracker(tracker: Tracker, estimator: Any, xs: list[Any] | None) -> None:
    """Log the trial table, the best config and the best model (signature from ``xs``)."""
    folder = tempfile.mkdtemp(prefix="zoo_tune_mlflow_model_")
    try:
        model_dir = save_model(estimator.get_best_model(), estimator.backend.framework, xs,
                               folder)
    except Exception as err:  # noqa: BLE001 - tracking never costs the fit its result
        logger.warning("MLflow: the best model could not be saved for logging (%s).", err)
        model_dir = None
    tracker.finish(estimator._records, estimator._metric, estimator._best, model_dir,
                   owned=folder)


def log_experiment(estimator: Any, uri: str, experiment: str | None = None) -> str | None:
    """Log a finished (or loaded) experiment to MLflow, the same layout as a live fit.

    Args:
        estimator: A fitted or loaded :class:`~zoo_tune.AutoEstimator`.
        uri: The tracking URI.
        experiment: The MLflow experiment (default: the zoo_tune experiment's name).

    Returns:
        The parent run's id, or ``None`` when the server never answered.
    """
    from zoo_tune.storage import resolve_storage
    from zoo_tune.tracking._check import check_tracking

    check_tracking(uri, experiment)
    store = resolve_storage(estimator.experiment_path)
    meta: dict[str, Any] = {}
    if store.exists("zoo_tune_experiment.json"):
        meta = json.loads(store.read_bytes("zoo_tune_experiment.json").decode("utf-8"))
    name = estimator.experiment_path.rstrip("/").rsplit("/", 1)[-1]
    tracker = start_tracker(uri, experiment or name, name, estimator.experiment_path, meta)
    status = "FAILED"
    try:
        finish_tracker(tracker, estimator, None)
        status = "FINISHED"
    finally:
        tracker.close(status)
    return tracker.parent_run_id
