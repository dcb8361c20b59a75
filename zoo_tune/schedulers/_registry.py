"""Name -> Ray Tune scheduler table, with parameter checking."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo_tune._registry import Entry, check_params, construct, takes
from zoo_tune.errors import InvalidInputError, InvalidTypeError, unknown_choice

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


_NUMERIC_KINDS = ("uniform", "quniform", "loguniform", "qloguniform", "randint", "qrandint")


def _mutations(space: Mapping[str, Any]) -> dict[str, Any]:
    """PBT's ``hyperparam_mutations`` from the search space: every sampled, non-grid value."""
    from zoo_tune.hp import Param

    return {k: v.to_ray() for k, v in space.items()
            if isinstance(v, Param) and v.kind not in ("grid_search", "sample_from", "choice_n")}


def _bounds(space: Mapping[str, Any]) -> dict[str, list[float]]:
    """PB2's ``hyperparam_bounds`` from the search space's numeric ranges."""
    from zoo_tune.hp import Param

    return {k: [v.args["lower"], v.args["upper"]] for k, v in space.items()
            if isinstance(v, Param) and v.kind in _NUMERIC_KINDS}


def _defaults(cls: type, name: str, epochs: int, space: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults in epochs (Ray's are in seconds or 100+ iterations) and from the space."""
    out: dict[str, Any] = {}
    if takes(cls, "time_attr"):
        out["time_attr"] = "training_iteration"
    if takes(cls, "max_t"):
        out["max_t"] = epochs
    if name == "median_stopping_rule":
        out["grace_period"] = 1
    if takes(cls, "perturbation_interval"):
        out["perturbation_interval"] = max(1, epochs // 4)
    if takes(cls, "hyperparam_bounds"):
        out["hyperparam_bounds"] = _bounds(space)
    elif takes(cls, "hyperparam_mutations"):
        out["hyperparam_mutations"] = _mutations(space)
    return out


def _check_derived(name: str, kwargs: dict[str, Any]) -> None:
    """PBT and PB2 need something to perturb: say so before Ray's own TuneError would."""
    needs = {"hyperparam_bounds": "numeric range (hp.uniform, hp.randint, ...)",
             "hyperparam_mutations": "sampled value (hp.uniform, hp.choice, ...)"}
    for key, what in needs.items():
        if key in kwargs and not kwargs[key] and not kwargs.get("custom_explore_fn"):
            raise InvalidInputError(f"scheduler={name!r} needs `{key}`: the search space must "
                                    f"hold at least one {what} to derive it from, or pass "
                                    f"scheduler_params={{{key!r}: ...}}, but got none.")


def create_scheduler(scheduler: Any, params: Any, metric: str, mode: str, epochs: int = 1,
                     space: Mapping[str, Any] | None = None) -> Any:
    """Build the Ray Tune trial scheduler for ``fit``.

    Args:
        scheduler: ``None`` (FIFO), a name of :data:`SCHEDULERS`, or a Ray Tune
            ``TrialScheduler`` instance (used as given; metric and mode filled in when unset).
        params: ``scheduler_params``: the class's own arguments besides metric and mode.
            Defaults count in epochs: ``time_attr="training_iteration"``, ``max_t=epochs``,
            median stopping ``grace_period=1``, PBT/PB2 ``perturbation_interval=epochs//4``
            (at least 1); PBT mutates every sampled value of the search space and PB2 searches
            its numeric ranges, unless told otherwise.
        metric: The metric name.
        mode: ``"min"`` or ``"max"``.
        epochs: ``fit``'s epochs per trial.
        space: ``fit``'s search space.

    Raises:
        InvalidInputError: unknown name, unknown parameter key, a missing required argument,
            or a value the scheduler class rejects (``InvalidTypeError`` for a wrong type).

    Example:
        >>> create_scheduler("asha", {"grace_period": 1}, "accuracy", "max", epochs=10)
        ... # doctest: +SKIP
    """
    from ray.tune.schedulers import TrialScheduler

    if isinstance(scheduler, TrialScheduler):
        if params:
            raise InvalidTypeError("`scheduler_params` only applies to a scheduler given by "
                                   "name; configure a TrialScheduler instance directly.")
        scheduler.set_search_properties(metric, mode)  # no-op when it has its own
        return scheduler
    name = "fifo" if scheduler is None else scheduler
    if not isinstance(name, str):
        raise InvalidTypeError(f"`scheduler` must be a name among {sorted(SCHEDULERS)} or a "
                               f"Ray Tune TrialScheduler, but got {type(name).__name__}.")
    cls = scheduler_class(name)
    kwargs = check_params(cls, params, "scheduler_params", f"scheduler {name!r}")
    kwargs = {**_defaults(cls, name.lower(), epochs, space or {}), **kwargs}
    _check_derived(name, kwargs)
    if takes(cls, "metric"):
        kwargs.update(metric=metric, mode=mode)
    return construct(cls, kwargs, params, "scheduler_params", f"scheduler {name!r}")
