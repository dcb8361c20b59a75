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
from collections.abc import Callable, Mapping
from typing import Any

import zoo_tune
from zoo_tune._experiment import read_meta
from zoo_tune.tracking._layout import parent_params
from zoo_tune.tracking._model import save_model
from zoo_tune.tracking._tracker import IDS_FILE, Tracker

logger = logging.getLogger("zoo_tune.tracking")


def start_tracker(uri: str, experiment: str, name: str, experiment_uri: str,
                  meta: Mapping[str, Any], store: Any = None, ids_file: str = IDS_FILE,
                  restore: bool = True) -> Tracker:
    """Build and start the tracker of the zoo_tune experiment ``name``.

    Args:
        uri: The tracking URI.
        experiment: The MLflow experiment's name.
        name: The zoo_tune experiment's name (the parent run's name).
        experiment_uri: Where the zoo_tune experiment is stored (a parent tag).
        meta: The experiment's ``zoo_tune_experiment.json`` content (metric, mode, epochs,
            search space, and its ``setup``: searcher, scheduler, cluster mode, samples).
        store: The storage holding ``ids_file``, where the run ids are kept (``None``: not
            kept).
        ids_file: The path of the run ids file inside ``store``.
        restore: Go on in the runs ``ids_file`` names when they are on ``uri`` (a resumed
            fit, ``zoo-tune results --mlflow``); else open new ones.
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
    restored = None
    if store is not None and restore and store.exists(ids_file):
        try:
            restored = json.loads(store.read_bytes(ids_file).decode("utf-8"))
        except ValueError as err:
            logger.warning("MLflow: %s is not valid JSON (%s); opening new runs.", ids_file, err)
    save = None if store is None else (lambda data: store.write_bytes(ids_file, data))
    tracker = Tracker(uri, experiment, name, params=params, tags=tags, save_ids=save,
                      restored=restored)
    tracker.start()
    return tracker


def finish_tracker(tracker: Tracker, estimator: Any,
                   xs: list[Any] | Callable[[], list[Any] | None] | None) -> None:
    """Log the trial table, the best config and the best model (signature from ``xs``, a
    callable giving the model inputs' first rows, or ``None``). Never raises: tracking never
    costs the fit its result."""
    folder = tempfile.mkdtemp(prefix="zoo_tune_mlflow_model_")
    try:
        rows = xs() if callable(xs) else xs
        model_dir = save_model(estimator.get_best_model(), estimator.backend.framework, rows,
                               folder)
    except Exception as err:  # noqa: BLE001
        logger.warning("MLflow: the best model could not be saved for logging (%s).", err)
        model_dir = None
    try:
        tracker.finish(estimator._records, estimator._metric, estimator._best, model_dir,
                       owned=folder)
    except Exception as err:  # noqa: BLE001
        logger.warning("MLflow: the results could not be queued (%s: %s).",
                       type(err).__name__, err)


def log_experiment(estimator: Any, uri: str, experiment: str | None = None) -> str | None:
    """Log a finished (or loaded) experiment to MLflow, the same layout as a live fit.

    When the experiment was logged to ``uri`` before (live, with calls dropped in an outage,
    or by an earlier call), this goes on in the same runs and sends only the epochs missing
    there.

    Args:
        estimator: A fitted or loaded :class:`~zoo_tune.AutoEstimator`.
        uri: The tracking URI.
        experiment: The MLflow experiment (default: the zoo_tune experiment's name).

    Returns:
        The parent run's id, or ``None`` when the server never answered.
    """
    from zoo_tune.tracking._check import check_tracking

    check_tracking(uri, experiment)
    # The experiment's own storage and files, as fit reads and writes them.
    store = estimator._storage
    name = estimator.experiment_path.rstrip("/").rsplit("/", 1)[-1]
    meta = read_meta(store, name) or {}
    tracker = start_tracker(uri, experiment or name, name, estimator.experiment_path, meta,
                            store, f"{name}/{IDS_FILE}")
    status = "FAILED"
    try:
        finish_tracker(tracker, estimator, None)
        status = "FINISHED"
    finally:
        tracker.close(status)
    return tracker.parent_run_id
