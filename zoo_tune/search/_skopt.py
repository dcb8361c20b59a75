"""Bayesian optimisation with scikit-optimize, as a Ray Tune ``Searcher``.

Ray Tune 2.x dropped its own scikit-optimize searcher; :class:`SkOptSearch` brings it back on
:class:`skopt.Optimizer`'s ask / tell interface, so ``fit(search_alg="skopt")`` works.

It reads the space Ray Tune hands it (the domains ``zoo_tune.hp`` builds) and translates each
domain into a skopt dimension:

=============================================  ==============================================
``hp.uniform`` / ``tune.uniform``              ``Real(lower, upper)``; ``upper`` excluded
``hp.loguniform`` / ``tune.loguniform``        ``Real(lower, upper, prior="log-uniform")``
``hp.randint`` / ``tune.randint``              ``Integer(lower, upper - 1)``
``tune.lograndint``                            ``Integer(lower, upper - 1, "log-uniform")``
``hp.quniform`` / ``hp.qloguniform`` /         ``Integer`` over the indices ``k`` of the
``hp.qrandint`` / ``tune.q*``                  multiples ``k * q`` in range, bounds as Ray's
``hp.choice`` / ``tune.choice``                ``Categorical`` over the categories' positions
constants                                      passed through unchanged
=============================================  ==============================================

Normal distributions (``hp.randn``, ``hp.qrandn``), ``sample_from`` functions (including
``hp.choice_n``) and ``grid_search`` have no skopt equivalent and are refused with an
:class:`~zoo_tune.errors.InvalidInputError` naming the parameter.

Example:
    >>> from zoo_tune import hp
    >>> from zoo_tune.search._skopt import SkOptSearch
    >>> searcher = SkOptSearch({"lr": hp.loguniform(1e-4, 1e-1), "units": hp.qrandint(8, 64, 8)},
    ...                        metric="loss", mode="min", random_state=0)
    >>> config = searcher.suggest("trial_1")
    >>> sorted(config), config["units"] % 8
    (['lr', 'units'], 0)
    >>> searcher.on_trial_complete("trial_1", {"loss": 0.25})
"""

from __future__ import annotations

import copy
import logging
import math
import numbers
import warnings
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
from ray.tune.search.sample import (
    Categorical,
    Domain,
    Float,
    Function,
    Integer,
    LogUniform,
    Normal,
    Quantized,
    Uniform,
)
from ray.tune.search.variant_generator import parse_spec_vars

from zoo_tune.errors import InvalidInputError, InvalidTypeError, missing_dependency
from zoo_tune.hp import Param, to_ray_space
from zoo_tune.search._own import OwnSearcher
from zoo_tune.search._paths import Path, clash, filled, flat_config, named_paths, path_name

try:
    import skopt
    from skopt.space import Categorical as SkCategorical
    from skopt.space import Dimension as SkDimension
    from skopt.space import Integer as SkInteger
    from skopt.space import Real as SkReal
except ImportError:  # pragma: no cover - exercised only without scikit-optimize
    skopt = None

__all__ = ["SkOptSearch"]

logger = logging.getLogger(__name__)

#: What SkOptSearch can search, for error messages.
_SUPPORTED = ("hp.uniform, hp.loguniform, hp.quniform, hp.qloguniform, hp.randint, hp.qrandint "
             "and hp.choice (or Ray Tune's uniform, loguniform, quniform, qloguniform, randint, "
             "qrandint, lograndint, qlograndint and choice); constants pass through unchanged")

_BASE_ESTIMATORS = ("GP", "RF", "ET")
#: skopt's other estimator names, and why they fail with scikit-learn >= 1.6 / numpy 2.
_BROKEN_ESTIMATORS = {
    "GBRT": "its GradientBoostingQuantileRegressor is not tagged a regressor and calls "
            "np.in1d, removed in numpy 2.4",
    "DUMMY": "skopt.Optimizer passes None to sklearn.base.is_regressor, which raises; "
             "use search_alg='random' for random search",
}
_ACQ_FUNCS = ("gp_hedge", "EI", "LCB", "PI")
_ACQ_OPTIMIZERS = ("auto", "sampling", "lbfgs")
_INITIAL_POINT_GENERATORS = ("random", "sobol", "halton", "hammersly", "lhs", "grid")
_PARALLEL_STRATEGIES = ("cl_min", "cl_mean", "cl_max")
_DUPLICATE_WARNING = "The objective has been evaluated at point"
_RANDOM_TRIES = 100


def _python(value: Any) -> Any:
    """Return ``value`` as a plain Python object when it is a numpy scalar."""
    return value.item() if isinstance(value, np.generic) else value


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _grid_index(bound: float, q: float, round_fn: Any) -> int:
    """Index of ``bound`` on the grid of multiples of ``q``, rounded inwards (as Ray does)."""
    scaled = bound / q
    nearest = round(scaled)
    if math.isclose(scaled, nearest):
        return int(nearest)
    return int(round_fn(scaled))


class _Dim:
    """How one searched parameter maps onto one skopt dimension, and back.

    Kinds:
        ``"real"``: a float in ``[lower, upper)``; ``dimension`` is a ``Real``.
        ``"grid"``: the multiples ``k * q`` for ``k`` in ``[lo, hi]``; the dimension is an
            ``Integer`` over ``k`` (a one-item ``Categorical`` when ``lo == hi``).
        ``"cat"``: ``categories[i]``; the dimension is a ``Categorical`` over positions ``i``.
        ``"native"``: a skopt dimension given directly in ``space``; values pass as they are.
    """

    def __init__(self, name: str, kind: str, dimension: Any, **info: Any) -> None:
        self.name = name
        self.path: Path = (name,)  # where the value goes in a config: _convert_space sets it
        self.kind = kind
        self.dimension = dimension
        self.lower: float = info.get("lower", 0.0)
        self.upper: float = info.get("upper", 0.0)
        self.q: float = info.get("q", 1)
        self.lo: int = info.get("lo", 0)
        self.hi: int = info.get("hi", 0)
        self.int_valued: bool = info.get("int_valued", True)
        self.categories: list[Any] = info.get("categories", [])

    def describe(self) -> str:
        if self.kind == "real":
            return f"a float in [{self.lower!r}, {self.upper!r})"
        if self.kind == "grid":
            return (f"a multiple of q={self.q!r} between {self._grid_value(self.lo)!r} and "
                    f"{self._grid_value(self.hi)!r}")
        if self.kind == "cat":
            return f"one of {self.categories!r}"
        return f"a value of {self.dimension!r}"

    def _grid_value(self, k: int) -> int | float:
        if self.int_valued:
            value = k * self.q
            return int(value) if isinstance(value, numbers.Integral) else int(round(value))
        # Decimal arithmetic gives 0.3 for 3 * 0.1 rather than 0.30000000000000004.
        return float(Decimal(k) * Decimal(repr(float(self.q))))

    def to_value(self, x: Any) -> Any:
        """Turn skopt's value for this dimension into the config value (plain Python)."""
        if self.kind == "real":
            # skopt's Real includes ``upper``; Ray's uniform and loguniform exclude it.
            below_upper = math.nextafter(self.upper, self.lower)
            return min(max(float(x), self.lower), below_upper)
        if self.kind == "grid":
            return self._grid_value(int(x))
        if self.kind == "cat":
            return _python(self.categories[int(x)])
        return _python(x)

    def to_point(self, value: Any) -> Any:
        """Turn a config value into skopt's value; raise ``ValueError(describe())`` if invalid."""
        if self.kind == "cat":
            return self._category_index(value)
        if self.kind == "native":
            if value not in self.dimension:
                raise ValueError(self.describe())
            return value
        if not _is_number(value) or not math.isfinite(value):
            raise ValueError(self.describe())
        if self.kind == "real":
            if not self.lower <= value <= self.upper:
                raise ValueError(self.describe())
            return float(value)
        scaled = value / self.q
        k = round(scaled)
        if not math.isclose(scaled, k, rel_tol=1e-9, abs_tol=1e-9) or not self.lo <= k <= self.hi:
            raise ValueError(self.describe())
        return int(k)

    def _category_index(self, value: Any) -> int:
        equal = [i for i, c in enumerate(self.categories) if _same(c, value)]
        # Prefer a category of the same type, so True does not pick 1 nor 1 pick 1.0.
        exact = [i for i in equal if type(self.categories[i]) is type(value)]
        if exact or equal:
            return (exact or equal)[0]
        raise ValueError(self.describe())


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # e.g. numpy arrays compare element-wise
        return a is b


def _unsupported(name: str, what: str) -> InvalidInputError:
    return InvalidInputError(
        f"Parameter {name!r}: search_alg 'skopt' (SkOptSearch) cannot search {what}; "
        f"scikit-optimize has no such dimension. It can search {_SUPPORTED}. Change this "
        f"parameter or use another search_alg (e.g. 'random' or 'hyperopt').")


def _domain_to_dim(name: str, domain: Domain) -> _Dim:
    """Translate one Ray Tune domain into a :class:`_Dim`, or refuse it."""
    if isinstance(domain, Function) or domain.is_function():
        raise _unsupported(name, "a sample_from function (hp.sample_from, hp.choice_n, "
                                 "tune.sample_from)")
    if domain.is_grid():
        raise _unsupported(name, "grid_search values (hp.grid_search, tune.grid_search)")
    sampler = domain.get_sampler()
    q = None
    if isinstance(sampler, Quantized):
        q, sampler = sampler.q, sampler.get_sampler()
    if isinstance(sampler, Normal):
        raise _unsupported(name, "a normal distribution (hp.randn, hp.qrandn, tune.randn, "
                                 "tune.qrandn)")
    log = isinstance(sampler, LogUniform)
    prior = "log-uniform" if log else "uniform"

    if isinstance(domain, Float) and isinstance(sampler, (Uniform, LogUniform)):
        lower, upper = float(domain.lower), float(domain.upper)
        if not (math.isfinite(lower) and math.isfinite(upper)):
            raise _unsupported(name, f"an unbounded float range ({lower}, {upper})")
        if q is None:
            if not lower < upper:
                raise InvalidInputError(f"Parameter {name!r}: the range [{lower}, {upper}) is "
                                        "empty.")
            return _Dim(name, "real", SkReal(lower, upper, prior=prior, name=name),
                        lower=lower, upper=upper)
        return _grid_dim(name, lower, upper, q, upper_included=True, log=log, int_valued=False)

    if isinstance(domain, Integer) and isinstance(sampler, (Uniform, LogUniform)):
        lower, upper = domain.lower, domain.upper
        if q is None:
            return _grid_dim(name, lower, upper, 1, upper_included=False, log=log,
                             int_valued=True)
        # Ray's quantised integers include ``upper`` except when q == 1.
        return _grid_dim(name, lower, upper, q, upper_included=q != 1, log=log,
                         int_valued=True)

    if isinstance(domain, Categorical) and isinstance(sampler, Uniform):
        categories = list(domain.categories)
        for category in categories:
            nested = isinstance(category, Domain) or (
                isinstance(category, Mapping) and any(parse_spec_vars(dict(category))[1:]))
            if nested:
                raise _unsupported(name, "a choice whose categories hold search domains "
                                         "themselves")
        if not categories:
            raise InvalidInputError(f"Parameter {name!r}: the choice has no categories.")
        return _Dim(name, "cat", SkCategorical(list(range(len(categories))), name=name),
                    categories=categories)

    raise _unsupported(name, f"a {type(domain).__name__} domain sampled by "
                             f"{type(sampler).__name__}")


def _grid_dim(name: str, lower: float, upper: float, q: float, *, upper_included: bool,
              log: bool, int_valued: bool) -> _Dim:
    if not _is_number(q) or q <= 0:
        raise InvalidInputError(f"Parameter {name!r}: the quantisation step q must be a "
                                f"positive number, but got {q!r}.")
    lo = _grid_index(lower, q, math.ceil)
    hi = _grid_index(upper, q, math.floor) - (0 if upper_included else 1)
    if hi < lo:
        bracket = "]" if upper_included else ")"
        raise InvalidInputError(f"Parameter {name!r}: no multiple of q={q!r} lies in "
                                f"[{lower!r}, {upper!r}{bracket}, so there is nothing to search.")
    if lo == hi:
        dimension = SkCategorical([lo], name=name)
    else:
        prior = "log-uniform" if log and lo >= 1 else "uniform"
        dimension = SkInteger(lo, hi, prior=prior, name=name)
    return _Dim(name, "grid", dimension, q=q, lo=lo, hi=hi, int_valued=int_valued)


def _convert_space(spec: Mapping[str, Any]) -> tuple[list[_Dim], dict[str, Any]]:
    """Return the searched dimensions and the constants of a (nested) search space.

    Both are named ``"outer/inner"`` after their path through the space's dicts, each
    dimension keeping its path (``_Dim.path``); a constant is a value there that is no dict,
    or an empty dict. The names serve points and messages only: configs are the space with the
    searched values put in (:func:`~zoo_tune.search._paths.filled`), constants as given.
    """
    if not isinstance(spec, Mapping):
        raise InvalidTypeError(f"SkOptSearch's search space must be a dict from parameter name "
                               f"to a domain or constant, but got {type(spec).__name__}.")
    spec = to_ray_space(spec)  # zoo_tune ``hp`` values -> Ray domains; Ray domains unchanged
    _, domain_vars, grid_vars = parse_spec_vars(spec)
    if grid_vars:
        _domain_to_dim(path_name(grid_vars[0][0]), grid_vars[0][1])
    leaves = _leaves(spec)
    searched = [(path, value) for path, value in leaves
                if isinstance(value, (Domain, SkDimension))]
    names = named_paths((path for path, _ in searched), "SkOptSearch")
    constant_paths = {path for path, _ in leaves} - set(names.values())
    for path, _ in domain_vars:  # Ray's parse_spec_vars goes into lists; _leaves does not
        if any(path[:i] in constant_paths for i in range(1, len(path))):
            raise InvalidInputError(f"Parameter {path_name(path)!r}: SkOptSearch cannot search "
                                    "a domain inside a list or tuple; use a dict of parameters "
                                    "instead.")
    dims: list[_Dim] = []
    natives: list[_Dim] = []  # after the domains, as before
    for (name, path), (_, value) in zip(names.items(), searched):
        if isinstance(value, SkDimension):
            if value.name is None:
                value = copy.copy(value)
                value.name = name
            dim = _Dim(name, "native", value)
        else:
            dim = _domain_to_dim(name, value)
        dim.path = path
        (natives if dim.kind == "native" else dims).append(dim)
    constants = {}
    for path, value in leaves:
        name = path_name(path)
        if name in names:
            if names[name] != path:
                raise clash("SkOptSearch", name, names[name], path)
            continue
        if _holds_param(value):
            raise InvalidInputError(f"Parameter {name!r}: SkOptSearch cannot search an hp value "
                                    "inside a list or tuple; use a dict of parameters instead.")
        constants[name] = value
    return dims + natives, constants


def _leaves(spec: Mapping[Any, Any]) -> list[tuple[Path, Any]]:
    """The values under a space's dicts by path (an empty dict is one): a level's, then the
    next's, the order Ray's ``flatten_dict`` gave the dimensions (and so skopt's points)."""
    leaves: list[tuple[Path, Any]] = []
    level: list[tuple[Path, Any]] = [((key,), value) for key, value in spec.items()]
    while level:
        deeper = []
        for path, value in level:
            if isinstance(value, Mapping) and value:
                deeper.extend(((*path, key), item) for key, item in value.items())
            else:
                leaves.append((path, value))
        level = deeper
    return leaves


def _holds_param(value: Any) -> bool:
    """Whether a zoo_tune ``hp`` value hides in a list or tuple (``to_ray_space`` skips those)."""
    if isinstance(value, Param):
        return True
    return isinstance(value, (list, tuple)) and any(_holds_param(v) for v in value)


class SkOptSearch(OwnSearcher):
    """Bayesian optimisation with scikit-optimize's ``Optimizer`` (ask / tell).

    The first ``n_initial_points`` configurations are drawn at random (or by
    ``initial_point_generator``); after that a surrogate model (``base_estimator``) fitted to
    the finished trials picks each next one by minimising ``acq_func``. skopt minimises, so for
    ``mode="max"`` the metric is negated before it is told.

    Concurrent trials get distinct configurations: while trials are still running, the next
    point is asked from a copy of the optimiser told a "constant liar" value
    (``parallel_strategy``) at each running trial's point, and a point equal to a running one is
    replaced by a random one. Trials that error, or finish without a finite number for
    ``metric``, are not told. Suggested values are plain Python ``int`` / ``float`` / the
    category objects themselves.

    The space comes either from Ray Tune (``param_space``, via ``set_search_properties``), or
    from ``space`` here; see the module docstring for what each domain becomes. Nested dicts are
    searched under ``"outer/inner"`` names and returned nested.

    Args:
        space: The search space, when not given to Ray Tune: a dict from name to a
            ``zoo_tune.hp`` value, a Ray Tune domain, a ``skopt.space`` dimension (searched and
            returned as skopt gives it) or a constant; dicts may nest. ``None`` (default) waits
            for Ray Tune's ``param_space``.
        metric: The result key to optimise. ``None`` waits for Ray Tune's ``TuneConfig``.
        mode: ``"min"`` or ``"max"``; ``None`` waits for Ray Tune's ``TuneConfig``.
        points_to_evaluate: Configurations (dicts, nested like the space) to try first, in this
            order, before asking skopt. A point may leave out parameters; those are drawn at
            random. Constants of the space may appear and are ignored.
        evaluated_rewards: The known metric values of ``points_to_evaluate``, one each: the
            points are then told to skopt up front as a warm start rather than run.
        base_estimator: skopt's surrogate model: ``"GP"`` (Gaussian process, default), ``"RF"``
            (random forest), ``"ET"`` (extra trees), or a scikit-learn regressor instance.
            skopt's ``"GBRT"`` and ``"DUMMY"`` are refused: scikit-optimize 0.10 fails on them
            with numpy 2 and scikit-learn >= 1.6.
        n_initial_points: How many points to draw before the model is first fitted (at least
            1); told ``points_to_evaluate`` and ``evaluated_rewards`` count towards it.
        initial_point_generator: How those initial points are drawn: ``"random"`` (default),
            ``"sobol"``, ``"halton"``, ``"hammersly"``, ``"lhs"`` or ``"grid"``.
        acq_func: The acquisition function: ``"gp_hedge"`` (default: picks among EI, LCB and PI
            by their past gains), ``"EI"``, ``"LCB"`` or ``"PI"``. skopt's ``"MES"``,
            ``"PVRS"``, ``"EIps"`` and ``"PIps"`` are refused (see the error for why).
        acq_optimizer: How the acquisition function is minimised: ``"auto"`` (default),
            ``"sampling"`` or ``"lbfgs"`` (GP only).
        acq_func_kwargs: Extra arguments of the acquisition function, e.g. ``{"xi": 0.01}`` or
            ``{"kappa": 1.96}``.
        acq_optimizer_kwargs: Extra arguments of the acquisition optimiser, e.g.
            ``{"n_points": 10000, "n_restarts_optimizer": 5}``.
        parallel_strategy: The constant-liar value told at running trials' points while asking
            for another: ``"cl_min"`` (default; the best value seen), ``"cl_mean"`` or
            ``"cl_max"`` (the worst, which spreads concurrent trials out most).
        random_state: Seed (``int``) for reproducible suggestions; ``None`` (default) for a
            fresh one.

    Raises:
        InvalidInputError: An argument breaks its rule, or the space holds a domain skopt
            cannot search (normal, ``sample_from``, ``grid_search``).
        InvalidTypeError: An argument has the wrong type.
        MissingDependencyError: scikit-optimize is not installed.

    Example:
        >>> from ray import tune
        >>> from zoo_tune import hp
        >>> from zoo_tune.search._skopt import SkOptSearch
        >>> searcher = SkOptSearch(metric="score", mode="max", n_initial_points=5,
        ...                        points_to_evaluate=[{"lr": 0.01, "layers": 2}],
        ...                        random_state=0)
        >>> def trainable(config):
        ...     tune.report({"score": -(config["lr"] - 0.02) ** 2 - config["layers"]})
        >>> tuner = tune.Tuner(  # doctest: +SKIP
        ...     trainable,
        ...     param_space=hp.to_ray_space({"lr": hp.loguniform(1e-4, 1e-1),
        ...                                  "layers": hp.qrandint(1, 4)}),
        ...     tune_config=tune.TuneConfig(search_alg=searcher, num_samples=20))
        >>> best = tuner.fit().get_best_result().config  # doctest: +SKIP
        >>> # or, through zoo_tune: fit(..., search_alg="skopt",
        >>> #                           search_alg_params={"n_initial_points": 5})
    """

    def __init__(
        self,
        space: Mapping[str, Any] | None = None,
        metric: str | None = None,
        mode: str | None = None,
        points_to_evaluate: Sequence[Mapping[str, Any]] | None = None,
        evaluated_rewards: Sequence[float] | None = None,
        base_estimator: Any = "GP",
        n_initial_points: int = 10,
        initial_point_generator: str = "random",
        acq_func: str = "gp_hedge",
        acq_optimizer: str = "auto",
        acq_func_kwargs: Mapping[str, Any] | None = None,
        acq_optimizer_kwargs: Mapping[str, Any] | None = None,
        parallel_strategy: str = "cl_min",
        random_state: int | None = None,
    ) -> None:
        if skopt is None:
            raise missing_dependency("search_alg='skopt'", "scikit-optimize", "searchers")
        _check_metric_mode(metric, mode)
        super().__init__(metric=metric, mode=mode)
        self._points_to_evaluate = _check_points(points_to_evaluate)
        self._evaluated_rewards = _check_rewards(evaluated_rewards, self._points_to_evaluate)
        self._optimizer_kwargs = _check_optimizer_args(
            base_estimator, n_initial_points, initial_point_generator, acq_func, acq_optimizer,
            acq_func_kwargs, acq_optimizer_kwargs, random_state)
        if parallel_strategy not in _PARALLEL_STRATEGIES:
            raise InvalidInputError(f"`parallel_strategy` must be one of {_PARALLEL_STRATEGIES}, "
                                    f"but got {parallel_strategy!r}.")
        self._parallel_strategy = parallel_strategy
        self._dims: list[_Dim] | None = None
        self._constants: dict[str, Any] = {}  # by "outer/inner" name: which a point may hold
        self._space: dict[str, Any] = {}  # constants as given, domains where searched
        self._optimizer: Any = None
        self._queue: list[list[Any]] = []  # points_to_evaluate not yet suggested
        self._warm_start: list[tuple[list[Any], float]] = []  # told once the mode is known
        self._pending: dict[str, list[Any]] = {}  # trial id -> skopt point, until complete
        if space:
            self._setup(space)

    # -- set-up ----------------------------------------------------------------------------

    def _setup(self, space: Mapping[str, Any]) -> None:
        dims, constants = _convert_space(space)
        if not dims:
            raise InvalidInputError("SkOptSearch's search space has no parameter to search "
                                    f"(only constants: {sorted(constants)}); add e.g. "
                                    "{'lr': hp.loguniform(1e-4, 1e-1)}.")
        names = [d.name for d in dims]
        try:
            optimizer = skopt.Optimizer([d.dimension for d in dims], **self._optimizer_kwargs)
        except ValueError as err:
            raise InvalidInputError(f"scikit-optimize refused SkOptSearch's settings: {err}") \
                from err
        self._dims, self._constants, self._optimizer = dims, constants, optimizer
        self._space = copy.deepcopy(to_ray_space(space))
        points = [self._config_to_point(p, f"points_to_evaluate[{i}]",
                                        fill=self._evaluated_rewards is None)
                  for i, p in enumerate(self._points_to_evaluate)]
        if self._evaluated_rewards is None:
            self._queue = points
        else:
            self._warm_start = list(zip(points, self._evaluated_rewards))
        logger.debug("SkOptSearch searches %s", names)

    def set_search_properties(self, metric: str | None, mode: str | None,
                              config: dict[str, Any], **spec: Any) -> bool:
        """Take metric, mode and the search space from Ray Tune.

        Returns ``False`` (and keeps its own space) when a space was given to the constructor;
        metric and mode still fill in those not set there.

        Raises:
            InvalidInputError: The space holds a domain skopt cannot search, or a bad mode.
        """
        _check_metric_mode(metric, mode)
        if self._dims is not None:
            self._metric = self._metric or metric
            self._mode = self._mode or mode
            return False
        self._metric = metric or self._metric
        self._mode = mode or self._mode
        self._setup(config)
        return True

    def _ready(self) -> None:
        if self._dims is None:
            raise InvalidInputError(
                "SkOptSearch has no search space: pass `space=` or give the Tuner a "
                "`param_space` with search domains.")
        if not self._metric or not self._mode:
            raise InvalidInputError(
                f"SkOptSearch needs a metric and a mode (got metric={self._metric!r}, "
                f"mode={self._mode!r}): pass them here or in Ray Tune's TuneConfig.")
        if self._warm_start:
            points, rewards = zip(*self._warm_start)
            self._warm_start = []
            self._optimizer.tell(list(points), [self._objective(r) for r in rewards])

    # -- conversions -----------------------------------------------------------------------

    def _objective(self, value: float) -> float:
        return -float(value) if self._mode == "max" else float(value)

    def _to_config(self, point: Sequence[Any]) -> dict[str, Any]:
        assert self._dims is not None
        return filled(self._space, {d.path: d.to_value(x) for d, x in zip(self._dims, point)})

    def _config_to_point(self, config: Mapping[str, Any], label: str,
                         fill: bool) -> list[Any]:
        assert self._dims is not None
        known = {d.name for d in self._dims}
        flat = flat_config(config, known | set(self._constants))  # a category may be a dict
        unknown = sorted(k for k in flat if k not in known and k not in self._constants)
        if unknown:
            raise InvalidInputError(f"{label} names parameters {unknown} that are not in the "
                                    f"search space; its parameters are {sorted(known)}.")
        missing = [d.name for d in self._dims if d.name not in flat]
        if missing and not fill:
            raise InvalidInputError(f"{label} leaves out parameters {missing}; give every "
                                    "searched parameter a value.")
        random = self._optimizer.space.rvs(random_state=self._optimizer.rng)[0] if missing \
            else None
        point = []
        for i, d in enumerate(self._dims):
            if d.name not in flat:
                point.append(random[i])
                continue
            try:
                point.append(d.to_point(flat[d.name]))
            except ValueError as err:
                raise InvalidInputError(f"{label}: parameter {d.name!r} must be {err}, but got "
                                        f"{flat[d.name]!r}.") from None
        return point

    @staticmethod
    def _key(point: Sequence[Any]) -> str:
        return repr([_python(x) for x in point])

    # -- ask -------------------------------------------------------------------------------

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        """Return the next configuration to try, and remember it under ``trial_id``.

        Raises:
            InvalidInputError: No search space, metric or mode has been set.
        """
        self._ready()
        if trial_id in self._pending:
            return self._to_config(self._pending[trial_id])
        point = self._queue.pop(0) if self._queue else self._ask()
        self._pending[trial_id] = point
        return self._to_config(point)

    def _ask(self) -> list[Any]:
        optimizer = self._optimizer
        running = list(self._pending.values())
        with warnings.catch_warnings():
            # skopt's own fallback for an already-told point; we only need the new point.
            warnings.filterwarnings("ignore", message=_DUPLICATE_WARNING)
            if running and optimizer.models:
                point = list(self._ask_with_lies(running))
            else:
                point = list(optimizer.ask())
        taken = {self._key(p) for p in running}
        tries = 0
        while self._key(point) in taken and tries < _RANDOM_TRIES:
            # skopt repeats its point until told; a running trial already has it.
            point = list(optimizer.space.rvs(random_state=optimizer.rng)[0])
            tries += 1
        return point

    def _ask_with_lies(self, running: list[list[Any]]) -> list[Any]:
        """Ask a copy of the optimiser told a constant-liar value at each running point."""
        optimizer = self._optimizer
        told = list(optimizer.yi)
        lie = {"cl_min": np.min, "cl_mean": np.mean, "cl_max": np.max}[self._parallel_strategy]
        kwargs = dict(self._optimizer_kwargs,
                      random_state=int(optimizer.rng.randint(0, np.iinfo(np.int32).max)))
        liar = skopt.Optimizer([d.dimension for d in self._dims or ()], **kwargs)
        liar.tell(list(optimizer.Xi) + running, told + [float(lie(told))] * len(running))
        return liar.ask()

    # -- tell ------------------------------------------------------------------------------

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None,
                          error: bool = False) -> None:
        """Tell skopt the trial's final ``metric``, unless it errored or has no such number."""
        point = self._pending.pop(trial_id, None)
        if point is None:
            logger.debug("SkOptSearch: completion of unknown trial %s ignored", trial_id)
            return
        if error or not result or self._metric not in result:
            logger.debug("SkOptSearch: trial %s not told (error=%s, no %r in result)",
                         trial_id, error, self._metric)
            return
        value = result[self._metric]
        if not _is_number(value) or not math.isfinite(value):
            logger.warning("SkOptSearch: trial %s reported %s=%r, not a finite number; it is "
                           "not told to skopt.", trial_id, self._metric, value)
            return
        self._optimizer.tell(point, self._objective(value))

    def add_evaluated_point(self, parameters: dict[str, Any], value: float, error: bool = False,
                            pruned: bool = False,
                            intermediate_values: list[float] | None = None) -> None:
        """Tell skopt a configuration evaluated outside this searcher (skipped if it failed).

        Raises:
            InvalidInputError: ``parameters`` does not fit the search space.
        """
        self._ready()
        if error or pruned or not _is_number(value) or not math.isfinite(value):
            return
        point = self._config_to_point(parameters, "add_evaluated_point", fill=False)
        self._optimizer.tell(point, self._objective(value))

    # -- state -----------------------------------------------------------------------------

    def _valid_state(self, state: Any) -> bool:
        return isinstance(state, dict) and "_optimizer" in state


def _check_metric_mode(metric: Any, mode: Any) -> None:
    if metric is not None and not isinstance(metric, str):
        raise InvalidTypeError(f"SkOptSearch optimises one metric: `metric` must be a str, "
                               f"but got {metric!r}.")
    if mode is not None and mode not in ("min", "max"):
        raise InvalidInputError(f"`mode` must be 'min' or 'max', but got {mode!r}.")


def _check_points(points: Any) -> list[dict[str, Any]]:
    if points is None:
        return []
    if isinstance(points, Mapping) or not isinstance(points, Sequence):
        raise InvalidTypeError(f"`points_to_evaluate` must be a list of config dicts, but got "
                               f"{type(points).__name__}.")
    for i, point in enumerate(points):
        if not isinstance(point, Mapping):
            raise InvalidTypeError(f"`points_to_evaluate[{i}]` must be a dict, but got "
                                   f"{type(point).__name__}: {point!r}.")
    return [copy.deepcopy(dict(p)) for p in points]


def _check_rewards(rewards: Any, points: list[dict[str, Any]]) -> list[float] | None:
    if rewards is None:
        return None
    if isinstance(rewards, (str, Mapping)) or not isinstance(rewards, Sequence):
        raise InvalidTypeError(f"`evaluated_rewards` must be a list of numbers, but got "
                               f"{type(rewards).__name__}.")
    if len(rewards) != len(points):
        raise InvalidInputError(f"`evaluated_rewards` needs one value per point of "
                                f"`points_to_evaluate`: got {len(rewards)} for {len(points)}.")
    for i, r in enumerate(rewards):
        if not _is_number(r) or not math.isfinite(r):
            raise InvalidInputError(f"`evaluated_rewards[{i}]` must be a finite number, but "
                                    f"got {r!r}.")
    return [float(r) for r in rewards]


def _check_optimizer_args(base_estimator: Any, n_initial_points: Any,
                          initial_point_generator: Any, acq_func: Any, acq_optimizer: Any,
                          acq_func_kwargs: Any, acq_optimizer_kwargs: Any,
                          random_state: Any) -> dict[str, Any]:
    """Validate skopt's arguments up front; return the ``skopt.Optimizer`` keyword arguments."""
    if isinstance(base_estimator, str):
        name = base_estimator.upper()
        if name in _BROKEN_ESTIMATORS:
            raise InvalidInputError(f"base_estimator={base_estimator!r} fails in scikit-optimize "
                                    f"0.10 with scikit-learn >= 1.6 and numpy 2 "
                                    f"({_BROKEN_ESTIMATORS[name]}); use one of "
                                    f"{_BASE_ESTIMATORS}.")
        if name not in _BASE_ESTIMATORS:
            raise InvalidInputError(f"`base_estimator` must be one of {_BASE_ESTIMATORS} or a "
                                    f"scikit-learn regressor, but got {base_estimator!r}.")
        base_estimator = name
    elif not (hasattr(base_estimator, "fit") and hasattr(base_estimator, "predict")):
        raise InvalidTypeError(f"`base_estimator` must be one of {_BASE_ESTIMATORS} or a "
                               f"scikit-learn regressor, but got {base_estimator!r}.")
    if isinstance(n_initial_points, bool) or not isinstance(n_initial_points, numbers.Integral):
        raise InvalidTypeError(f"`n_initial_points` must be an int, but got "
                               f"{n_initial_points!r}.")
    if n_initial_points < 1:
        raise InvalidInputError(f"`n_initial_points` must be at least 1, but got "
                                f"{n_initial_points!r}.")
    if isinstance(initial_point_generator, str):
        if initial_point_generator.lower() not in _INITIAL_POINT_GENERATORS:
            raise InvalidInputError(f"`initial_point_generator` must be one of "
                                    f"{_INITIAL_POINT_GENERATORS}, but got "
                                    f"{initial_point_generator!r}.")
        initial_point_generator = initial_point_generator.lower()
    if acq_func not in _ACQ_FUNCS:
        per_second = (" (the per-second variants need trial run times, which SkOptSearch "
                      "does not tell)")
        hint = {"EIps": per_second, "PIps": per_second,
                "MES": " (skopt's MES can loop without end and draws from numpy's global "
                       "random state)",
                "PVRS": " (skopt's PVRS builds an n_points x n_points covariance: gigabytes "
                        "at the default 10000 points)"}.get(acq_func, "")
        raise InvalidInputError(f"`acq_func` must be one of {_ACQ_FUNCS}, but got "
                                f"{acq_func!r}{hint}.")
    if acq_optimizer not in _ACQ_OPTIMIZERS:
        raise InvalidInputError(f"`acq_optimizer` must be one of {_ACQ_OPTIMIZERS}, but got "
                                f"{acq_optimizer!r}.")
    for label, kwargs in (("acq_func_kwargs", acq_func_kwargs),
                          ("acq_optimizer_kwargs", acq_optimizer_kwargs)):
        if kwargs is not None and not isinstance(kwargs, Mapping):
            raise InvalidTypeError(f"`{label}` must be a dict, but got "
                                   f"{type(kwargs).__name__}.")
    if random_state is not None and (isinstance(random_state, bool) or
                                     not isinstance(random_state, numbers.Integral)):
        raise InvalidTypeError(f"`random_state` must be an int seed or None, but got "
                               f"{random_state!r}.")
    return {
        "base_estimator": base_estimator,
        "n_initial_points": int(n_initial_points),
        "initial_point_generator": initial_point_generator,
        "acq_func": acq_func,
        "acq_optimizer": acq_optimizer,
        "acq_func_kwargs": dict(acq_func_kwargs) if acq_func_kwargs is not None else None,
        "acq_optimizer_kwargs": (dict(acq_optimizer_kwargs)
                                 if acq_optimizer_kwargs is not None else None),
        "random_state": None if random_state is None else int(random_state),
        # Only the latest model is needed; keeping them all bloats memory and checkpoints.
        "model_queue_size": 1,
    }
