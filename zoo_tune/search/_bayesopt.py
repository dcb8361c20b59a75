"""Bayesian optimisation (``search_alg="bayesopt"``) on bayesian-optimization's own API.

Ray Tune 2.60's ``BayesOptSearch`` builds ``bayes_opt.UtilityFunction``, which
bayesian-optimization 2.0 removed: with the release ``pip install bayesian-optimization``
gives today (3.x) every trial fails with ``AttributeError: module 'bayes_opt' has no
attribute 'UtilityFunction'``. This searcher speaks both APIs: 1.x (``suggest(utility)``,
still what pip resolves beside nevergrad, whose newest release pins
``bayesian-optimization==1.4.0``) and 2.x/3.x (an ``acquisition_function`` given to the
optimizer, ``suggest()``).

What it does, as Ray's did: the first ``random_search_steps`` suggestions are uniform random
points (a Gaussian process on two or three points steers badly), then each suggestion
maximises the acquisition function (upper confidence bound by default) over the results so
far. Differences: ``hp.loguniform`` is searched on the log scale (Ray's dropped the log), a
suggestion equal to one already running or evaluated is replaced by a random point (Ray's
waited, then ended the search), and a space it cannot search (integers, choices,
quantised floats) is refused naming the parameter. Constants come back as the space holds
them: a list stays a list, a tuple a tuple, an empty dict an empty dict.

Example:
    >>> from ray import tune
    >>> searcher = BayesOptSearch({"lr": tune.loguniform(1e-4, 1e-1)}, metric="loss",
    ...                           mode="min", random_state=0)
    >>> 1e-4 <= searcher.suggest("t1")["lr"] <= 1e-1
    True
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from ray.tune.search.sample import Domain, Float, LogUniform, Quantized, Uniform
from ray.tune.search.variant_generator import parse_spec_vars

from zoo_tune.errors import InvalidInputError, InvalidTypeError, unknown_choice
from zoo_tune.search._own import OwnSearcher
from zoo_tune.search._paths import Path, filled, named_paths, path_name, values_in

logger = logging.getLogger(__name__)

#: Acquisition functions by name, with the argument each takes.
ACQUISITIONS = {"ucb": "kappa", "ei": "xi", "poi": "xi"}


def _new_api() -> bool:
    """Whether the installed bayes_opt is 2.x or newer (no ``UtilityFunction``)."""
    import bayes_opt

    return not hasattr(bayes_opt, "UtilityFunction")


def _convert_space(spec: Mapping[str, Any]) -> tuple[dict[str, tuple[float, float]],
                                                       dict[str, bool], dict[str, Path]]:
    """``(bounds, is_log, paths)`` of a Ray Tune param space's searched ranges.

    Each range is named ``a/b`` after its path in the space (``("a", "b")``, or ``("a", 0)``
    for the first item of a list ``a``); ``paths`` maps the names back. Constants are left
    where they are (see :mod:`zoo_tune.search._paths`).
    """
    _, domains, grids = parse_spec_vars(dict(spec))
    if grids:
        raise InvalidInputError(
            f"search_alg 'bayesopt' cannot take grid_search ({path_name(grids[0][0])}): "
            f"give it hp.uniform / hp.loguniform ranges, or use the default random search.")
    paths = named_paths((path for path, _ in domains), "search_alg 'bayesopt'")
    bounds, log = {}, {}
    for name, (_, domain) in zip(paths, domains):
        sampler = domain.get_sampler() if isinstance(domain, Domain) else None
        if not isinstance(domain, Float) or isinstance(sampler, Quantized) or \
                not isinstance(sampler, (Uniform, LogUniform)):
            raise InvalidInputError(
                f"search_alg 'bayesopt' searches continuous ranges only (hp.uniform, "
                f"hp.loguniform), but {name!r} is {type(domain).__name__}"
                f"{'/' + type(sampler).__name__ if sampler is not None else ''}: use "
                f"search_alg='skopt' or 'optuna' for integers, choices and quantised values.")
        low, high = float(domain.lower), float(domain.upper)
        log[name] = isinstance(sampler, LogUniform)
        bounds[name] = (math.log(low), math.log(high)) if log[name] else (low, high)
    return bounds, log, paths


class BayesOptSearch(OwnSearcher):
    """Gaussian-process Bayesian optimisation with bayesian-optimization 1.x, 2.x or 3.x.

    Args:
        space: Ray Tune param space (``hp.uniform`` / ``hp.loguniform`` ranges, constants),
            or ``None`` to receive ``fit``'s.
        metric: The metric to optimise (``fit`` sets it).
        mode: ``"min"`` or ``"max"`` (``fit`` sets it).
        points_to_evaluate: Configs to try first, in order.
        acquisition: ``"ucb"`` (upper confidence bound, default), ``"ei"`` (expected
            improvement) or ``"poi"`` (probability of improvement).
        kappa: Exploration of ``"ucb"``.
        xi: Exploration of ``"ei"`` / ``"poi"``.
        utility_kwargs: Ray's spelling of the three above: ``{"kind", "kappa", "xi"}``.
        random_state: Seed of the random phase and of the optimizer.
        random_search_steps: Uniform random suggestions before the model steers.
        verbose: bayes_opt's own verbosity (0: silent).

    Example:
        >>> from ray import tune
        >>> s = BayesOptSearch({"x": tune.uniform(0, 1)}, metric="y", mode="max",
        ...                    random_search_steps=1, random_state=1)
        >>> s.on_trial_complete("a", {"y": 0.5, **s.suggest("a")})
        >>> 0 <= s.suggest("b")["x"] <= 1
        True
    """

    def __init__(self, space: Mapping[str, Any] | None = None, metric: str | None = None,
                 mode: str | None = None, points_to_evaluate: list[dict] | None = None,
                 acquisition: str = "ucb", kappa: float = 2.576, xi: float = 0.0,
                 utility_kwargs: Mapping[str, Any] | None = None, random_state: int = 42,
                 random_search_steps: int = 10, verbose: int = 0) -> None:
        import bayes_opt  # noqa: F401 - fail here, with the library named, when missing

        if utility_kwargs is not None:
            if not isinstance(utility_kwargs, Mapping):
                raise InvalidTypeError(f"`utility_kwargs` must be a dict with 'kind', 'kappa' "
                                       f"and/or 'xi', but got {utility_kwargs!r}.")
            extra = sorted(set(utility_kwargs) - {"kind", "kappa", "xi"})
            if extra:
                raise InvalidInputError(f"`utility_kwargs` takes 'kind', 'kappa' and 'xi', "
                                        f"not {extra}.")
            acquisition = utility_kwargs.get("kind", acquisition)
            kappa, xi = utility_kwargs.get("kappa", kappa), utility_kwargs.get("xi", xi)
        if acquisition not in ACQUISITIONS:
            raise unknown_choice("bayesopt acquisition", acquisition, ACQUISITIONS)
        for name, value in (("kappa", kappa), ("xi", xi)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not math.isfinite(value) or value < 0:
                raise InvalidInputError(f"`{name}` must be a finite number >= 0, but got "
                                        f"{value!r}.")
        if isinstance(random_search_steps, bool) or not isinstance(random_search_steps, int) \
                or random_search_steps < 1:
            raise InvalidInputError(f"`random_search_steps` must be an int >= 1, but got "
                                    f"{random_search_steps!r}.")
        if mode is not None and mode not in ("min", "max"):
            raise unknown_choice("mode", mode, ("min", "max"))
        super().__init__(metric=metric, mode=mode)
        self._acquisition, self._kappa, self._xi = acquisition, float(kappa), float(xi)
        self._random_state, self._random_steps, self._verbose = (
            random_state, random_search_steps, verbose)
        self._points = [dict(p) for p in points_to_evaluate or []]
        self._rng = np.random.RandomState(random_state)
        self._live: dict[str, dict[str, float]] = {}
        self._seen: set[tuple[float, ...]] = set()
        self._suggested = 0
        self._told = 0
        self.optimizer: Any = None
        self._bounds: dict[str, tuple[float, float]] = {}
        self._log: dict[str, bool] = {}
        self._paths: dict[str, Path] = {}
        self._space: dict[str, Any] = {}  # constants as given, domains where searched
        if space:
            self._setup(space)

    # -- space and optimizer -------------------------------------------------------------
    def _setup(self, space: Mapping[str, Any]) -> None:
        from bayes_opt import BayesianOptimization

        self._bounds, self._log, self._paths = _convert_space(space)
        self._space = copy.deepcopy(dict(space))
        if not self._bounds:
            raise InvalidInputError("search_alg 'bayesopt' needs at least one hp.uniform or "
                                    "hp.loguniform range in the search space.")
        kwargs: dict[str, Any] = {"f": None, "pbounds": dict(self._bounds),
                                  "verbose": self._verbose, "random_state": self._random_state,
                                  "allow_duplicate_points": True}
        if _new_api():
            from bayes_opt import acquisition

            kwargs["acquisition_function"] = (
                acquisition.UpperConfidenceBound(kappa=self._kappa)
                if self._acquisition == "ucb" else
                acquisition.ExpectedImprovement(xi=self._xi) if self._acquisition == "ei" else
                acquisition.ProbabilityOfImprovement(xi=self._xi))
        self.optimizer = BayesianOptimization(**kwargs)

    def _has_space(self) -> bool:
        return self.optimizer is not None

    # -- coordinates -------------------------------------------------------------------------
    def _to_internal(self, config: Mapping[str, Any]) -> dict[str, float]:
        given = values_in(config, self._paths)  # nested, or flat {"a/b": v}
        out = {}
        for name in self._paths:
            if name not in given:
                raise InvalidInputError(f"bayesopt point {dict(config)} lacks {name!r}.")
            value = float(given[name])
            out[name] = math.log(value) if self._log[name] else value
        return out

    def _to_config(self, internal: Mapping[str, float]) -> dict[str, Any]:
        values = {}
        for name, (low, high) in self._bounds.items():
            value = min(max(float(internal[name]), low), high)
            values[self._paths[name]] = math.exp(value) if self._log[name] else value
        return filled(self._space, values)

    def _key(self, internal: Mapping[str, float]) -> tuple[float, ...]:
        return tuple(round(float(internal[n]), 9) for n in self._bounds)

    def _random_point(self) -> dict[str, float]:
        return {n: float(self._rng.uniform(low, high)) for n, (low, high) in
                self._bounds.items()}

    # -- Searcher interface ------------------------------------------------------------------
    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self.optimizer is None:
            raise RuntimeError("BayesOptSearch has no search space: pass `space` or let fit "
                               "set it.")
        if not self._metric or not self._mode:
            raise RuntimeError("BayesOptSearch has no metric/mode: pass them or let fit set "
                               "them.")
        if self._points:
            internal = self._to_internal(self._points.pop(0))
        elif self._told < self._random_steps or len(self.optimizer.space) == 0:
            internal = self._random_point()
        else:
            internal = self._model_point()
            if self._key(internal) in self._seen:  # converged, or a pending twin
                internal = self._random_point()
        self._seen.add(self._key(internal))
        self._live[trial_id] = internal
        self._suggested += 1
        return self._to_config(internal)

    def _model_point(self) -> dict[str, float]:
        if _new_api():
            point = self.optimizer.suggest()
        else:
            from bayes_opt import UtilityFunction

            point = self.optimizer.suggest(UtilityFunction(
                kind=self._acquisition, kappa=self._kappa, xi=self._xi))
        return {n: float(point[n]) for n in self._bounds}

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None,
                          error: bool = False) -> None:
        internal = self._live.pop(trial_id, None)
        if internal is None or error or not result or self._metric not in result:
            return
        self._tell(internal, result[self._metric])

    def add_evaluated_point(self, parameters: dict[str, Any], value: float,
                            error: bool = False, pruned: bool = False,
                            intermediate_values: list[float] | None = None) -> None:
        if self.optimizer is None:
            raise RuntimeError("BayesOptSearch has no search space yet.")
        if not error and not pruned:
            internal = self._to_internal(parameters)
            self._seen.add(self._key(internal))
            self._tell(internal, value)

    def _tell(self, internal: dict[str, float], value: Any) -> None:
        try:
            value = float(value)
        except (TypeError, ValueError):
            return
        if not math.isfinite(value):
            return
        target = value if self._mode == "max" else -value
        self.optimizer.register(params=internal, target=target)
        self._told += 1
