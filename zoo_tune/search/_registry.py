"""Name -> Ray Tune searcher table, with parameter checking and lazy imports."""

from __future__ import annotations

from typing import Any

from zoo_tune._registry import Entry, check_params, construct, takes
from zoo_tune.errors import InvalidTypeError, unknown_choice

_RAY = "ray.tune.search"

#: Every search algorithm name fit's ``search_alg`` accepts.
SEARCH_ALGS: dict[str, Entry] = {
    "random": Entry(f"{_RAY}.basic_variant", "BasicVariantGenerator"),
    "variant_generator": Entry(f"{_RAY}.basic_variant", "BasicVariantGenerator"),
    # zoo_tune's own: Ray 2.60's needs bayes_opt.UtilityFunction, gone since 2.0.
    "bayesopt": Entry("zoo_tune.search._bayesopt", "BayesOptSearch", ("bayes_opt",),
                      "bayesian-optimization", "searchers"),
    "hyperopt": Entry(f"{_RAY}.hyperopt", "HyperOptSearch", ("hyperopt",), "hyperopt",
                      "searchers"),
    "optuna": Entry(f"{_RAY}.optuna", "OptunaSearch", ("optuna",), "optuna", "searchers"),
    # zoo_tune's own on ax.api.Client: Ray 2.60's reads Objective.metric, gone in Ax 1.3.
    "ax": Entry("zoo_tune.search._ax", "AxSearch", ("ax",), "ax-platform", "ax"),
    "nevergrad": Entry(f"{_RAY}.nevergrad", "NevergradSearch", ("nevergrad",), "nevergrad",
                       "searchers"),
    "skopt": Entry("zoo_tune.search._skopt", "SkOptSearch", ("skopt",), "scikit-optimize",
                   "searchers"),
    "zoopt": Entry(f"{_RAY}.zoopt", "ZOOptSearch", ("zoopt",), "zoopt", "searchers"),
    # HEBO pins numpy<1.25: no zoo_tune extra can install it beside numpy 2.
    "hebo": Entry(f"{_RAY}.hebo", "HEBOSearch", ("hebo",), "HEBO"),
    "bohb": Entry(f"{_RAY}.bohb", "TuneBOHB", ("hpbandster", "ConfigSpace"),
                  "hpbandster ConfigSpace", "searchers"),
}


def search_alg_class(name: str) -> type:
    """Return the searcher class registered under ``name`` (case-insensitive)."""
    if not isinstance(name, str) or name.lower() not in SEARCH_ALGS:
        raise unknown_choice("search_alg", name, SEARCH_ALGS)
    return SEARCH_ALGS[name.lower()].load(f"search_alg={name!r}")


def _defaults(name: str, n_sampling: int) -> dict[str, Any]:
    """Arguments a searcher cannot run without, filled so that the bare name works."""
    if name == "zoopt":  # ZOOpt needs its evaluation budget up front
        return {"budget": n_sampling if n_sampling > 0 else 100}
    if name == "nevergrad":
        return {"optimizer": "OnePlusOne"}
    return {}


def _nevergrad_optimizer(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    import nevergrad as ng

    names = sorted(ng.optimizers.registry)
    if value not in names:
        raise unknown_choice("nevergrad optimizer", value, names)
    return ng.optimizers.registry[value]


def create_search_alg(search_alg: Any, params: Any, metric: str, mode: str,
                      n_sampling: int = 1) -> Any:
    """Build the Ray Tune search algorithm for ``fit``.

    Args:
        search_alg: ``None`` (random search), a name of :data:`SEARCH_ALGS`, or a Ray Tune
            ``Searcher`` / ``SearchAlgorithm`` instance (used as given; its metric and mode
            are filled in when it has none).
        params: ``search_alg_params``: the class's own arguments besides metric and mode.
            ``zoopt`` gets ``budget=n_sampling`` and ``nevergrad`` ``optimizer="OnePlusOne"``
            unless given; a nevergrad optimizer may be named by its registry name.
        metric: The metric name the searcher optimises.
        mode: ``"min"`` or ``"max"``.
        n_sampling: ``fit``'s trial count, for searchers that need a budget.

    Returns:
        A searcher instance.

    Raises:
        InvalidInputError: unknown name, unknown parameter key, or a value the searcher class
            rejects when built (``InvalidTypeError`` for a wrong type).
        MissingDependencyError: the searcher's library is not installed.

    Example:
        >>> create_search_alg("hyperopt", {"n_initial_points": 5}, "accuracy", "max")
        ... # doctest: +SKIP
    """
    from ray.tune.search import SearchAlgorithm, Searcher

    if isinstance(search_alg, (Searcher, SearchAlgorithm)):
        if params:
            raise InvalidTypeError("`search_alg_params` only applies to a search_alg given by "
                                   "name; configure a Searcher instance directly.")
        if isinstance(search_alg, Searcher) and search_alg.metric is None:
            # Tune would set its space later but not its metric, which fit owns.
            search_alg._metric, search_alg._mode = metric, mode
        return search_alg
    name = "random" if search_alg is None else search_alg
    if not isinstance(name, str):
        raise InvalidTypeError(f"`search_alg` must be a name among {sorted(SEARCH_ALGS)} or a "
                               f"Ray Tune Searcher, but got {type(name).__name__}.")
    cls = search_alg_class(name)
    kwargs = {**_defaults(name.lower(), n_sampling),
              **check_params(cls, params, "search_alg_params", f"search_alg {name!r}")}
    if "optimizer" in kwargs and name.lower() == "nevergrad":
        kwargs["optimizer"] = _nevergrad_optimizer(kwargs["optimizer"])
    if takes(cls, "metric"):
        kwargs.update(metric=metric, mode=mode)
    return construct(cls, kwargs, params, "search_alg_params", f"search_alg {name!r}")
