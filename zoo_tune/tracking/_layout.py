"""What a fit looks like in MLflow: the parent run's and each child run's params, tags,
metrics and status. Pure functions, shared by the live callback and ``zoo-tune results
--mlflow``.

Example:
    >>> child_params({"lr": 0.01, "net": {"width": 8}})
    {'lr': '0.01', 'net/width': '8'}
    >>> run_status("ERROR")
    'FAILED'
    >>> epoch_metrics({"accuracy": 0.9, "epoch": 1, "training_iteration": 1, "pid": 7})
    {'accuracy': 0.9}
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

#: MLflow's longest param value (characters); longer values are cut, marked with "...".
MAX_PARAM_CHARS = 6000
#: Tag holding the parent run's id on a child run (MLflow's own nesting key).
PARENT_TAG = "mlflow.parentRunId"
#: Tag holding Ray Tune's trial id on a child run.
TRIAL_TAG = "zoo_tune.trial_id"

#: Result keys Ray Tune or zoo_tune add to every report: not the user's metrics.
_BOOKKEEPING = frozenset({
    "epoch", "training_iteration", "timestamp", "time_this_iter_s", "time_total_s",
    "time_since_restore", "iterations_since_restore", "timesteps_since_restore",
    "timesteps_total", "episodes_total", "pid", "done", "trial_id", "date", "hostname",
    "node_ip", "config", "checkpoint_dir_name", "should_checkpoint", "experiment_tag",
})


def _text(value: Any) -> str:
    text = str(value)
    return text if len(text) <= MAX_PARAM_CHARS else text[:MAX_PARAM_CHARS - 3] + "..."


def child_params(config: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """A trial's config as MLflow params: nested dicts flattened with ``/``."""
    params: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            params.update(child_params(value, name + "/"))
        else:
            params[name] = _text(value)
    return params


def parent_params(*, space_text: str, metric: str, mode: str, epochs: int,
                  search_alg: Any, scheduler: Any, cluster_mode: str,
                  n_sampling: int) -> dict[str, str]:
    """The parent run's params: how the search was set up."""
    return {"search_space": _text(space_text), "metric": metric, "mode": mode,
            "epochs": str(epochs), "search_alg": choice_name(search_alg),
            "scheduler": choice_name(scheduler), "cluster_mode": cluster_mode,
            "n_sampling": str(n_sampling)}


def choice_name(choice: Any) -> str:
    """A searcher or scheduler as given: its name, else its class name; None: ``default``.

    Example:
        >>> choice_name("hyperopt"), choice_name(None)
        ('hyperopt', 'default')
    """
    if choice is None:
        return "default"
    return choice if isinstance(choice, str) else type(choice).__name__


def epoch_metrics(result: Mapping[str, Any]) -> dict[str, float]:
    """The user-facing numbers of one epoch's result (finite or NaN; no bookkeeping keys)."""
    return {key: float(value) for key, value in result.items()
            if key not in _BOOKKEEPING and isinstance(value, numbers.Real)
            and not isinstance(value, bool) and (math.isfinite(value) or value != value)}


def run_status(tune_status: str) -> str:
    """MLflow's status for how a trial ended: ``FINISHED``, ``FAILED`` or ``KILLED`` (a trial
    still pending or running when the fit stopped: time budget, interrupt)."""
    return {"TERMINATED": "FINISHED", "ERROR": "FAILED"}.get(tune_status, "KILLED")
