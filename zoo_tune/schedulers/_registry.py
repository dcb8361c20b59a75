"""Name -> Ray Tune scheduler table, with parameter checking."""

from __future__ import annotations

from typing import Any

from zoo_tune._registry import Entry, check_params, takes
from zoo_tune.errors import InvalidTypeError, unknown_choice

_RAY = "ray.tune.schedulers"
_ASHA = Entry(f"{_RAY}.async_hyperband", "AsyncHyperBandScheduler")

#: Every scheduler name fit's ``scheduler`` accepts (matched case-insensitively).
SCHEDULERS: dict[str, Entry] = {
    "fifo": Entry(f"{_RAY}.trial_scheduler", "FIFOScheduler"),
    "hyperband": Entry(f"{_RAY}.hyperband", "HyperBandScheduler"),
    "async_hyperband": _ASHA,
    "asynchyperband": _ASHA,
    "asha": _ASHA,
    "median_stopping_rule": Entry(f"{_RAY}.median_stopping_rule", "MedianStoppingRule"),
    "hb_bohb": Entry(f"{_RAY}.hb_bohb", "HyperBandForBOHB"),
    "pbt": Entry(f"{_RAY}.pbt", "PopulationBasedTraining"),
    "pbt_replay": Entry(f"{_RAY}.pbt", "PopulationBasedTrainingReplay"),
    "pb2": Entry(f"{_RAY}.pb2", "PB2", ("GPy", "sklearn"), "GPy scikit-learn", "searchers"),
}


def scheduler_class(name: str) -> type:
    """Return the scheduler class registered under ``name`` (case-insensitive)."""
    if not isinstance(name, str) or name.lower() not in SCHEDULERS:
        raise unknown_choice("scheduler", name, SCHEDULERS)
    return SCHEDULERS[name.lower()].load(f"scheduler={name!r}")


def create_scheduler(scheduler: Any, params: Any, metric: str, mode: str) -> Any:
    """Build the Ray Tune trial scheduler for ``fit``.

    Args:
        scheduler: ``None`` (FIFO), a name of :data:`SCHEDULERS`, or a Ray Tune
            ``TrialScheduler`` instance (used as given).
        params: ``scheduler_params``: the class's own arguments besides metric and mode;
            ``time_attr`` defaults to ``"training_iteration"`` (one iteration = one epoch).
        metric: The metric name.
        mode: ``"min"`` or ``"max"``.

    Raises:
        InvalidInputError: unknown name or unknown parameter key.
    """
    from ray.tune.schedulers import TrialScheduler

    if isinstance(scheduler, TrialScheduler):
        if params:
            raise InvalidTypeError("`scheduler_params` only applies to a scheduler given by "
                                   "name; configure a TrialScheduler instance directly.")
        return scheduler
    name = "fifo" if scheduler is None else scheduler
    if not isinstance(name, str):
        raise InvalidTypeError(f"`scheduler` must be a name among {sorted(SCHEDULERS)} or a "
                               f"Ray Tune TrialScheduler, but got {type(name).__name__}.")
    cls = scheduler_class(name)
    kwargs = check_params(cls, params, "scheduler_params", f"scheduler {name!r}")
    if takes(cls, "time_attr"):
        kwargs.setdefault("time_attr", "training_iteration")
    if takes(cls, "metric"):
        kwargs.update(metric=metric, mode=mode)
    return cls(**kwargs)
