"""zoo_tune's AxSearch on ax.api.Client: the Searcher contract with the newest ax-platform."""

from __future__ import annotations

import importlib.metadata
import math

import pytest

pytest.importorskip("ax")

from tests.search import _helpers  # noqa: E402
from zoo_tune import hp  # noqa: E402
from zoo_tune.errors import InvalidInputError  # noqa: E402
from zoo_tune.search import create_search_alg  # noqa: E402
from zoo_tune.search._ax import AxSearch  # noqa: E402

SPACE = {"x": hp.uniform(-2, 2), "lr": hp.loguniform(1e-4, 1e-1), "n": hp.randint(1, 4),
         "opt": hp.choice(["sgd", "adam", "rms"]), "nest": {"k": 7}}


def searcher_on(space=SPACE, metric="val-loss", mode="min", **kwargs):
    searcher = AxSearch(**{"random_seed": 0, "initialization_budget": 3, **kwargs})
    assert searcher.set_search_properties(metric, mode, hp.to_ray_space(space))
    return searcher


def bowl(config):
    return (config["x"] - 1) ** 2 + (math.log10(config["lr"]) + 2) ** 2 + \
        (config.get("opt") != "adam")


def run(searcher, objective, n, metric="val-loss"):
    return _helpers.run(searcher, objective, n, metric)


def test_suggestions_lie_in_the_space_with_types_and_constants():
    searcher = searcher_on()
    for i in range(5):
        c = searcher.suggest(f"t{i}")
        assert -2 <= c["x"] <= 2 and 1e-4 <= c["lr"] <= 1e-1
        assert c["n"] in (1, 2, 3) and type(c["n"]) is int  # randint's upper bound excluded
        assert c["opt"] in ("sgd", "adam", "rms") and c["nest"] == {"k": 7}
        searcher.on_trial_complete(f"t{i}", {"val-loss": bowl(c)})


@pytest.mark.parametrize("space,pattern", [
    ({"g": hp.grid_search([1, 2])}, "grid_search"),
    ({"q": hp.quniform(0, 1, 0.1)}, "quantised"),
    ({"c": hp.choice(["a", 1])}, "all str, all int"),
    ({"k": 3}, "at least one range or choice"),
])
def test_spaces_it_cannot_search_are_refused_naming_the_parameter(space, pattern):
    with pytest.raises(InvalidInputError, match=pattern):
        searcher_on(space)


def test_the_model_improves_on_its_quasi_random_start():
    values = run(searcher_on(), bowl, 12)
    assert min(values[3:]) < min(values[:3]), values


def test_max_mode_is_maximised():
    values = run(searcher_on(metric="acc", mode="max"), lambda c: -bowl(c), 12, metric="acc")
    assert max(values[3:]) > max(values[:3]), values


def test_points_to_evaluate_come_first_in_order():
    points = [{"x": 0.5, "lr": 0.001, "n": 2, "opt": "sgd"},
              {"x": -1.0, "lr": 0.05, "n": 3, "opt": "rms"}]
    searcher = searcher_on(points_to_evaluate=points)
    got = [searcher.suggest(f"t{i}") for i in range(2)]
    assert [(c["x"], c["n"], c["opt"]) for c in got] == [(0.5, 2, "sgd"), (-1.0, 3, "rms")]


def test_errored_and_metricless_trials_are_not_told_as_results():
    searcher = searcher_on()
    for i, (result, error) in enumerate([(None, True), ({"other": 1.0}, False),
                                         ({"val-loss": float("nan")}, False)]):
        searcher.suggest(f"t{i}")
        searcher.on_trial_complete(f"t{i}", result, error=error)
    statuses = {t.index: t.status.name for t in searcher.client._experiment.trials.values()}
    assert statuses == {0: "FAILED", 1: "ABANDONED", 2: "ABANDONED"}


def test_save_and_restore_continue_the_same_experiment(tmp_path):
    first = searcher_on()
    run(first, bowl, 4)
    first.save(str(tmp_path / "ax.pkl"))
    second = AxSearch()
    second.restore(str(tmp_path / "ax.pkl"))
    assert len(second.client._experiment.trials) == 4
    config = second.suggest("next")
    assert -2 <= config["x"] <= 2 and config["nest"] == {"k": 7}
    assert len(second.client._experiment.trials) == 5


def test_registry_builds_it_by_name_and_checks_params():
    searcher = create_search_alg("ax", {"random_seed": 1}, "acc", "max")
    assert isinstance(searcher, AxSearch) and (searcher.metric, searcher.mode) == ("acc", "max")
    with pytest.raises(InvalidInputError, match="random_sead"):
        create_search_alg("ax", {"random_sead": 1}, "acc", "max")
    with pytest.raises(InvalidInputError, match="initialization_budget"):
        AxSearch(initialization_budget=-1)


def test_the_installed_ax_is_the_newest_release():
    """No silent downgrade: the test install has what `pip install ax-platform` gives."""
    newest = _helpers.newest_on_pypi("ax-platform")
    if newest is None:
        pytest.skip("PyPI does not answer here")
    assert importlib.metadata.version("ax-platform") == newest
