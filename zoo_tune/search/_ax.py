"""Ax (``search_alg="ax"``) on Ax's own ``ax.api.Client``.

Ray Tune 2.60's ``AxSearch`` drives the older ``AxClient`` and reads ``Objective.metric``,
which ax-platform 1.3 removed, so it only ran with ax-platform below 1.3. This searcher speaks
the ``Client`` API Ax 1.x documents (``configure_experiment``, ``configure_optimization``,
``get_next_trials``, ``complete_trial``), so the extra names the current release.

Spaces: ``hp.uniform`` / ``hp.loguniform`` (float ranges, log-scaled), ``hp.randint`` /
``hp.lograndint`` (int ranges; Ray's upper bound is exclusive, Ax's inclusive), ``hp.choice``
of one value type (str, int, float or bool), and constants; grid search, quantised and
mixed-type choices are refused naming the parameter. Ax sees its own parameter names
(``p0``, ``p1``, ...) and one objective, so any config key and metric name works. Constants
come back as the space holds them: a list stays a list, a tuple a tuple, an empty dict an
empty dict.

Example:
    >>> from ray import tune
    >>> searcher = AxSearch({"lr": tune.loguniform(1e-4, 1e-1)}, metric="loss", mode="min",
    ...                     random_seed=0)  # doctest: +SKIP
    >>> 1e-4 <= searcher.suggest("t1")["lr"] <= 1e-1  # doctest: +SKIP
    True
"""

from __future__ import annotations

import copy
import logging
import math
import os
import tempfile
from collections.abc import Mapping
from typing import Any

from ray.tune.search.sample import Categorical, Float, Integer, LogUniform, Quantized
from ray.tune.search.variant_generator import parse_spec_vars

from zoo_tune.errors import InvalidInputError, unknown_choice
from zoo_tune.search._own import OwnSearcher
from zoo_tune.search._paths import Path, filled, named_paths, path_name, values_in

logger = logging.getLogger(__name__)

#: Ax's name for the one objective (the metric's own name may not parse in Ax's strings).
OBJECTIVE = "objective"
_TYPES = {str: "str", bool: "bool", int: "int", float: "float"}


def _parameters(spec: Mapping[str, Any]) -> tuple[list[Any], dict[str, Path]]:
    """``(Ax parameter configs, Ax name -> path in the space)`` of a Ray space's searched
    values; its constants stay where they are (see :mod:`zoo_tune.search._paths`)."""
    from ax.api.configs import ChoiceParameterConfig, RangeParameterConfig

    _, domains, grids = parse_spec_vars(dict(spec))
    if grids:
        raise InvalidInputError(f"search_alg 'ax' cannot take grid_search "
                                f"({path_name(grids[0][0])}): give it ranges and "
                                f"choices, or use the default random search.")
    named_paths((path for path, _ in domains), "search_alg 'ax'")  # no two share a name
    configs, paths = [], {}
    for i, (path, domain) in enumerate(domains):
        key, ax_name = path_name(path), f"p{i}"
        sampler = domain.get_sampler()
        if isinstance(sampler, Quantized):
            raise InvalidInputError(f"search_alg 'ax' takes no quantised values, but {key!r} "
                                    f"is quantised: use hp.randint, or search_alg='optuna'.")
        scaling = "log" if isinstance(sampler, LogUniform) else "linear"
        if isinstance(domain, Float):
            configs.append(RangeParameterConfig(name=ax_name, parameter_type="float",
                                                bounds=(float(domain.lower),
                                                        float(domain.upper)),
                                                scaling=scaling))
        elif isinstance(domain, Integer):
            if domain.upper - 1 <= domain.lower:
                raise InvalidInputError(f"search_alg 'ax' needs at least two values in {key!r}.")
            configs.append(RangeParameterConfig(name=ax_name, parameter_type="int",
                                                bounds=(int(domain.lower),
                                                        int(domain.upper) - 1),
                                                scaling=scaling))
        elif isinstance(domain, Categorical):
            kinds = {type(v) for v in domain.categories}
            if len(kinds) != 1 or next(iter(kinds)) not in _TYPES:
                raise InvalidInputError(
                    f"search_alg 'ax' needs the choices of {key!r} to be all str, all int, "
                    f"all float or all bool, but got {domain.categories!r}.")
            kind = _TYPES[kinds.pop()]
            # Numbers are ordered; labels are not (two choices are ordered in Ax anyway).
            ordered = kind in ("int", "float") or len(domain.categories) == 2
            configs.append(ChoiceParameterConfig(name=ax_name, values=list(domain.categories),
                                                 parameter_type=kind, is_ordered=ordered))
        else:
            raise InvalidInputError(f"search_alg 'ax' cannot search {key!r} "
                                    f"({type(domain).__name__}).")
        paths[ax_name] = tuple(path)
    return configs, paths


class AxSearch(OwnSearcher):
    """Bayesian optimisation with Ax's ``Client`` (ax-platform 1.x, 1.3 and newer included).

    Args:
        space: Ray Tune param space, or ``None`` to receive ``fit``'s.
        metric: The metric to optimise (``fit`` sets it).
        mode: ``"min"`` or ``"max"`` (``fit`` sets it).
        points_to_evaluate: Configs to try first, in order.
        random_seed: Seed of Ax's generation strategy.
        initialization_budget: Quasi-random (Sobol) trials before the model steers (Ax's
            default when ``None``).

    Example:
        >>> AxSearch(metric="acc", mode="max").metric  # doctest: +SKIP
        'acc'
    """

    def __init__(self, space: Mapping[str, Any] | None = None, metric: str | None = None,
                 mode: str | None = None, points_to_evaluate: list[dict] | None = None,
                 random_seed: int | None = None,
                 initialization_budget: int | None = None) -> None:
        import ax  # noqa: F401 - fail here, with the library named, when missing

        if mode is not None and mode not in ("min", "max"):
            raise unknown_choice("mode", mode, ("min", "max"))
        if initialization_budget is not None and (
                isinstance(initialization_budget, bool)
                or not isinstance(initialization_budget, int) or initialization_budget < 0):
            raise InvalidInputError(f"`initialization_budget` must be an int >= 0, but got "
                                    f"{initialization_budget!r}.")
        super().__init__(metric=metric, mode=mode)
        self._seed, self._budget = random_seed, initialization_budget
        self._points = [dict(p) for p in points_to_evaluate or []]
        self.client: Any = None
        self._paths: dict[str, Path] = {}  # Ax name -> path in the space
        self._space: dict[str, Any] = {}  # constants as given, domains where searched
        self._live: dict[str, int] = {}
        if space:
            self._setup(space)

    def _setup(self, space: Mapping[str, Any]) -> None:
        from ax.api.client import Client

        logging.getLogger("ax").setLevel(logging.WARNING)  # Ax logs every step at INFO
        configs, self._paths = _parameters(space)
        self._space = copy.deepcopy(dict(space))
        if not configs:
            raise InvalidInputError("search_alg 'ax' needs at least one range or choice in "
                                    "the search space.")
        self.client = Client(random_seed=self._seed)
        self.client.configure_experiment(parameters=configs, name="zoo_tune")
        if self._mode:
            self._configure_objective()
        if self._budget is not None:
            self.client.configure_generation_strategy(initialization_budget=self._budget)

    def _configure_objective(self) -> None:
        sign = "-" if self._mode == "min" else ""
        self.client.configure_optimization(objective=f"{sign}{OBJECTIVE}")

    def _has_space(self) -> bool:
        return self.client is not None

    def _mode_known(self) -> None:
        self._configure_objective()

    def _to_ax(self, config: Mapping[str, Any]) -> dict[str, Any]:
        given = values_in(config, self._paths)  # nested, or flat {"a/b": v}
        missing = [path_name(path) for name, path in self._paths.items() if name not in given]
        if missing:
            raise InvalidInputError(f"ax point {dict(config)} lacks {missing}.")
        return given

    def _to_config(self, parameters: Mapping[str, Any]) -> dict[str, Any]:
        return filled(self._space, {self._paths[n]: v for n, v in parameters.items()
                                    if n in self._paths})

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self.client is None:
            raise RuntimeError("AxSearch has no search space: pass `space` or let fit set it.")
        if not self._metric or not self._mode:
            raise RuntimeError("AxSearch has no metric/mode: pass them or let fit set them.")
        if self._points:
            parameters = self._to_ax(self._points.pop(0))
            index = self.client.attach_trial(parameters=parameters)
        else:
            trials = self.client.get_next_trials(max_trials=1)
            if not trials:  # Ax waits for results before it suggests more
                return None
            index, parameters = next(iter(trials.items()))
        self._live[trial_id] = index
        return self._to_config(parameters)

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None,
                          error: bool = False) -> None:
        index = self._live.pop(trial_id, None)
        if index is None:
            return
        value = _finite((result or {}).get(self._metric))
        if error:
            self.client.mark_trial_failed(trial_index=index)
        elif value is None:
            self.client.mark_trial_abandoned(trial_index=index)
        else:
            self.client.complete_trial(trial_index=index, raw_data={OBJECTIVE: value})

    def add_evaluated_point(self, parameters: dict[str, Any], value: float,
                            error: bool = False, pruned: bool = False,
                            intermediate_values: list[float] | None = None) -> None:
        if self.client is None:
            raise RuntimeError("AxSearch has no search space yet.")
        index = self.client.attach_trial(parameters=self._to_ax(parameters))
        value = _finite(value)
        if error or pruned or value is None:
            self.client.mark_trial_failed(trial_index=index)
        else:
            self.client.complete_trial(trial_index=index, raw_data={OBJECTIVE: value})

    def get_state(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k != "client"}
        if self.client is not None:
            with tempfile.TemporaryDirectory(prefix="zoo_tune_ax_") as tmp:
                path = os.path.join(tmp, "client.json")
                self.client.save_to_json_file(path)
                with open(path, encoding="utf-8") as f:
                    state["client_json"] = f.read()
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        state = dict(state)
        text = state.pop("client_json", None)
        self.__dict__.update(state)
        self.client = None
        if text is not None:
            from ax.api.client import Client

            with tempfile.TemporaryDirectory(prefix="zoo_tune_ax_") as tmp:
                path = os.path.join(tmp, "client.json")
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
                self.client = Client.load_from_json_file(path)


def _finite(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None
