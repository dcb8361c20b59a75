"""zoo_tune's BayesOptSearch: the Searcher contract, on bayes_opt 1.x (this venv: nevergrad
pins 1.4.0) and, in a subprocess, on the newest release pip installs alone (3.x; the overlay
scripts/install.sh puts in ``.venv/overlays/bayes_opt``)."""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("bayes_opt")

from ray import tune  # noqa: E402

from tests.search._helpers import newest_on_pypi, run  # noqa: E402
from zoo_tune import hp  # noqa: E402
from zoo_tune.errors import InvalidInputError  # noqa: E402
from zoo_tune.search import create_search_alg  # noqa: E402
from zoo_tune.search._bayesopt import BayesOptSearch  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OVERLAY = Path(sys.prefix) / "overlays" / "bayes_opt"
SPACE = {"x": hp.uniform(-2, 2), "lr": hp.loguniform(1e-4, 1e-1), "nest": {"k": 7}, "c": "hi"}


def searcher_on(space=SPACE, metric="loss", mode="min", **kwargs):
    searcher = BayesOptSearch(**{"random_search_steps": 3, "random_state": 0, **kwargs})
    assert searcher.set_search_properties(metric, mode, hp.to_ray_space(space))
    return searcher


def bowl(config):
    """Minimum 0 at x = 1, lr = 1e-2."""
    return (config["x"] - 1) ** 2 + (math.log10(config["lr"]) + 2) ** 2


def test_suggestions_lie_in_the_space_with_constants_kept():
    searcher = searcher_on()
    for i in range(8):
        config = searcher.suggest(f"t{i}")
        assert -2 <= config["x"] <= 2 and 1e-4 <= config["lr"] <= 1e-1
        assert config["nest"] == {"k": 7} and config["c"] == "hi"
        searcher.on_trial_complete(f"t{i}", {"loss": bowl(config)})


#: Constants of every kind, exactly as trials must receive them (the issue: a list came back
#: as a dict keyed "0", "1", "2", from flattening the space down to list items).
CONSTANTS = {
    "list": [1, 2, 3],
    "nested_list": [[1, 2], [3], []],
    "list_of_dicts": [{"a": 1}, {"b": [2, None]}],
    "empty_list": [],
    "dict": {"a": 1, "b": "two"},
    "nested_dict": {"a": {"b": {"c": [1, 2], "d": None}}, "e": 0.5},
    "empty_dict": {},
    "dict_with_int_keys": {1: "one", 2: ["two"]},
    "tuple": (1, "a", (2.5, None)),
    "str": "hi",
    "str_with_slash": "a/b",
    "int": 3,
    "float": 0.25,
    "none": None,
    "bool": True,
}


def same(got, want):
    """Equal, with the same types all the way down (a tuple is no list, True no 1); the order
    of a dict's keys aside."""
    if type(got) is not type(want):
        return False
    if isinstance(want, dict):
        return got.keys() == want.keys() and all(same(got[k], want[k]) for k in want)
    if isinstance(want, (list, tuple)):
        return len(got) == len(want) and all(map(same, got, want))
    return got == want


def scribble(value):
    """Change every dict and list in ``value`` in place, as a careless trial might."""
    for item in list(value.values() if isinstance(value, dict) else value):
        if isinstance(item, (dict, list, tuple)):
            scribble(item)
    if isinstance(value, dict):
        value["scribbled"] = True
    elif isinstance(value, list):
        value.append("scribbled")


#: Each searcher's settings for a cheap test: two suggestions, both before any model is fitted
#: (a model-guided config is built by the same code from the searched values).
CHEAP = {"bayesopt": {"random_search_steps": 2, "random_state": 0},
         "skopt": {"n_initial_points": 2, "random_state": 0},
         "ax": {"initialization_budget": 2, "random_seed": 0}}


@pytest.mark.parametrize("name", sorted(CHEAP))
def test_constants_of_every_kind_come_back_exactly_as_given(name):
    """At the top level and nested in a dict, from bayesopt, skopt and ax alike; every kind in
    one space, so one searcher each (Ax's takes a while to start)."""
    pytest.importorskip({"bayesopt": "bayes_opt"}.get(name, name))
    constants = copy.deepcopy(CONSTANTS)  # the space's own: a trial must not reach them
    space = {"x": hp.uniform(0, 5), **constants, "nest": {"y": hp.uniform(0, 1), **constants}}
    searcher = create_search_alg(name, CHEAP[name], "loss", "min")
    assert searcher.set_search_properties("loss", "min", hp.to_ray_space(space))
    for i in range(2):
        config = searcher.suggest(f"t{i}")
        wrong = [f"{where}{kind}: {got.get(kind, '<missing>')!r}"
                 for where, got in [("", config), ("nest/", config.get("nest", {}))]
                 for kind, value in CONSTANTS.items() if not same(got.get(kind), value)]
        assert not wrong, "\n".join(wrong)
        assert config.keys() == space.keys() and config["nest"].keys() == space["nest"].keys()
        assert 0 <= config["x"] <= 5 and 0 <= config["nest"]["y"] <= 1
        scribble(config)  # changes no other trial's config
        if i == 0:  # the second stays running: no model is fitted
            searcher.on_trial_complete("t0", {"loss": (config["x"] - 1) ** 2})


def test_searched_values_inside_a_list_stay_in_the_list():
    searcher = searcher_on({"layers": [hp.uniform(1, 2), 8, {"w": hp.uniform(3, 4)}]},
                           points_to_evaluate=[{"layers": [1.5, 8, {"w": 3.5}]}])
    assert searcher.suggest("t0") == {"layers": [1.5, 8, {"w": pytest.approx(3.5)}]}
    first, eight, inner = searcher.suggest("t1")["layers"]
    assert 1 <= first <= 2 and eight == 8 and 3 <= inner["w"] <= 4


@pytest.mark.usefixtures("ray_local")  # the session's Ray: never shut down here
def test_constants_reach_the_trials_of_a_fit(small_job):
    """Through AutoEstimator.fit: every trial's config holds the constants as given."""
    # fit's search_space takes neither empty dicts nor non-str keys (hp.validate_space)
    constants = {k: v for k, v in CONSTANTS.items()
                 if k not in ("empty_dict", "dict_with_int_keys")}
    est = small_job(name="bayesopt_constants", search_alg="bayesopt",
                    search_alg_params={"random_search_steps": 2, "random_state": 0},
                    search_space={"lr": hp.uniform(0.005, 0.2), "momentum": 0.9, **constants})
    table = est.get_trial_table()
    assert (table["status"] == "TERMINATED").all(), table["error"].tolist()
    for config in table["config"]:
        assert {k: config[k] for k in constants} == constants, config
        assert all(same(config[k], v) for k, v in constants.items()), config


def test_loguniform_is_searched_on_the_log_scale():
    searcher = searcher_on(random_search_steps=400)
    lrs = [searcher.suggest(f"t{i}")["lr"] for i in range(400)]
    # Uniform in log10 between -4 and -1: the median near 10**-2.5 (a linear draw: ~0.05).
    assert 10**-2.8 < float(np.median(lrs)) < 10**-2.2


@pytest.mark.parametrize("name,value,what", [
    ("n", hp.randint(1, 5), "Integer"), ("c", hp.choice(["a", "b"]), "Categorical"),
    ("q", hp.quniform(0, 1, 0.1), "Float"),
])
def test_spaces_it_cannot_search_are_refused_naming_the_parameter(name, value, what):
    with pytest.raises(InvalidInputError, match=rf"'{name}' is {what}.*skopt"):
        searcher_on({"x": hp.uniform(0, 1), name: value})


def test_grid_and_empty_spaces_are_refused():
    with pytest.raises(InvalidInputError, match="grid_search"):
        searcher_on({"x": hp.uniform(0, 1), "g": hp.grid_search([1, 2])})
    with pytest.raises(InvalidInputError, match="at least one"):
        searcher_on({"c": 3})


def test_beats_random_search_on_a_bowl():
    """Same 25 trials, same seed: the model's best is better than pure random draws'."""
    guided = min(run(searcher_on(random_search_steps=5), bowl, 25))
    random = min(run(searcher_on(random_search_steps=25), bowl, 25))
    assert guided < random and guided < 0.1, (guided, random)


def test_max_mode_is_maximised():
    searcher = searcher_on(metric="score", mode="max", random_search_steps=5)
    best = max(run(searcher, lambda c: -bowl(c), 25, metric="score"))
    assert best > -0.1
    assert math.isclose(float(searcher.optimizer.max["target"]), best)


def test_points_to_evaluate_come_first_in_order():
    points = [{"x": 0.5, "lr": 0.001}, {"x": -1.0, "lr": 0.05}]
    searcher = searcher_on(points_to_evaluate=points)
    got = [searcher.suggest(f"t{i}") for i in range(2)]
    assert [(c["x"], c["lr"]) for c in got] == [(0.5, pytest.approx(0.001)),
                                                (-1.0, pytest.approx(0.05))]
    assert got[0]["c"] == "hi"


def test_concurrent_suggests_are_distinct_after_the_random_phase():
    searcher = searcher_on(random_search_steps=3)
    run(searcher, bowl, 6)
    live = [searcher.suggest(f"p{i}") for i in range(4)]  # nothing told in between
    assert len({(c["x"], c["lr"]) for c in live}) == 4


def test_errored_nan_or_metricless_trials_are_not_told():
    searcher = searcher_on()
    for i, result in enumerate([None, {"other": 1.0}, {"loss": float("nan")},
                                {"loss": float("inf")}]):
        searcher.suggest(f"t{i}")
        searcher.on_trial_complete(f"t{i}", result, error=result is None)
    assert len(searcher.optimizer.space) == 0
    searcher.suggest("ok")
    searcher.on_trial_complete("ok", {"loss": 1.5})
    assert len(searcher.optimizer.space) == 1


def test_save_and_restore_continue_with_the_same_state(tmp_path):
    first = searcher_on()
    run(first, bowl, 6)
    first.save(str(tmp_path / "s.pkl"))
    second = BayesOptSearch()
    second.restore(str(tmp_path / "s.pkl"))
    assert second.suggest("next") == first.suggest("next")
    assert len(second.optimizer.space) == 6


def test_a_state_saved_by_another_version_is_refused_not_misread(tmp_path):
    import pickle

    first = searcher_on()
    run(first, bowl, 2)
    state = first.get_state()
    del state["_paths"]  # what a zoo_tune before constants kept their paths saved
    (tmp_path / "old.pkl").write_bytes(pickle.dumps(state))
    with pytest.raises(InvalidInputError, match=r"another zoo_tune version .*'_paths'"):
        BayesOptSearch().restore(str(tmp_path / "old.pkl"))


def test_metric_mode_and_space_come_from_either_side():
    given = BayesOptSearch(hp.to_ray_space({"x": hp.uniform(0, 1)}), metric="m", mode="max")
    assert given.set_search_properties("other", "min", {}) is False  # keeps its own
    assert (given.metric, given.mode) == ("m", "max")
    with pytest.raises(RuntimeError, match="no search space"):
        BayesOptSearch(metric="m", mode="max").suggest("t")


@pytest.mark.parametrize("kwargs,message", [
    ({"acquisition": "lcb"}, "Unknown bayesopt acquisition 'lcb'"),
    ({"kappa": -1}, "`kappa` must be a finite number >= 0"),
    ({"xi": float("nan")}, "`xi` must be"),
    ({"random_search_steps": 0}, "`random_search_steps` must be an int >= 1"),
    ({"utility_kwargs": {"kind": "ei", "beta": 1}}, r"not \['beta'\]"),
    ({"mode": "best"}, "Unknown mode 'best'"),
])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        BayesOptSearch(**kwargs)


def test_rays_utility_kwargs_spelling_is_understood():
    searcher = BayesOptSearch(utility_kwargs={"kind": "ei", "xi": 0.1})
    assert (searcher._acquisition, searcher._xi) == ("ei", 0.1)


def test_registry_builds_it_by_name_with_fit_metric():
    searcher = create_search_alg("bayesopt", {"random_search_steps": 2}, "acc", "max")
    assert isinstance(searcher, BayesOptSearch)
    assert (searcher.metric, searcher.mode, searcher._random_steps) == ("acc", "max", 2)
    with pytest.raises(InvalidInputError, match="random_search_step"):
        create_search_alg("bayesopt", {"random_search_step": 2}, "acc", "max")


@pytest.mark.usefixtures("ray_local")  # the session's Ray: never shut down here
def test_runs_through_ray_tune(tmp_path):
    tuner = tune.Tuner(
        lambda config: {"loss": bowl(config)},
        param_space=hp.to_ray_space(SPACE),
        tune_config=tune.TuneConfig(search_alg=BayesOptSearch(random_search_steps=2),
                                    metric="loss", mode="min", num_samples=5),
        run_config=tune.RunConfig(storage_path=str(tmp_path), verbose=0))
    results = tuner.fit()
    assert len(results) == 5 and not results.errors
    assert all(-2 <= r.config["x"] <= 2 for r in results)


NEWEST_SCRIPT = """
import importlib.metadata as md, json, sys
import torch._dynamo  # before TensorFlow, as tests/conftest.py does
import bayes_opt
import numpy as np
from tests._helpers import sgd_creator, small_linear
from zoo_tune import AutoEstimator, hp, init_context, stop_context

rng = np.random.default_rng(0)
y = rng.integers(0, 3, size=240)
x = (np.eye(3, 4)[y] * 2 + rng.normal(scale=0.6, size=(240, 4))).astype(np.float32)
init_context(cluster_mode="local", cores=2, object_store_memory=200 * 1024**2)
est = AutoEstimator.from_torch(model_creator=small_linear, optimizer=sgd_creator,
                               loss="CrossEntropyLoss", logs_dir=sys.argv[2], name="bo")
# The Orca manual's section 4.2, as written.
est.fit((x[:200], y[:200]), validation_data=(x[200:], y[200:]), epochs=1, n_sampling=4,
        metric="mean_loss", metric_mode="min", search_alg="bayesopt", verbose=0,
        search_space={"width": hp.uniform(0, 20), "height": hp.uniform(-100, 100),
                      "lr": 0.05, "momentum": 0.9})
table = est.get_trial_table()
stop_context()
print(json.dumps({"version": md.version("bayesian-optimization"),
                  "has_utility": hasattr(bayes_opt, "UtilityFunction"),
                  "file": bayes_opt.__file__, "statuses": table["status"].tolist()}))
"""


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_newest_bayes_opt_release_runs_the_manuals_example(tmp_path):
    """bayes_opt as `pip install bayesian-optimization` gives it today (the overlay), where
    Ray 2.60's own BayesOptSearch fails on every trial."""
    if not (OVERLAY / "bayes_opt").is_dir():
        pytest.fail(f"no {OVERLAY}: scripts/install.sh test installs it")
    env = {**os.environ, "PYTHONPATH": f"{OVERLAY}{os.pathsep}{ROOT}",
           "RAY_AUTH_MODE": "disabled"}
    out = subprocess.run([sys.executable, "-c", NEWEST_SCRIPT, str(ROOT), str(tmp_path)],
                         capture_output=True, text=True, timeout=280, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-4000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert int(got["version"].split(".")[0]) >= 3 and not got["has_utility"], got
    assert got["file"].startswith(str(OVERLAY)), got
    assert got["statuses"] == ["TERMINATED"] * 4, got
    recorded = (OVERLAY / "RESOLVED").read_text().strip()
    assert got["version"] == recorded  # what pip resolved at install time, not older
    newest = newest_on_pypi("bayesian-optimization")
    assert newest is None or got["version"] == newest, (got, newest)  # None: PyPI unreachable


def test_this_venv_has_the_newest_bayes_opt_nevergrad_allows():
    """Why the test install has bayes_opt 1.4.0: nevergrad's newest release pins it."""
    import importlib.metadata as md

    pytest.importorskip("nevergrad")
    pins = [r for r in md.requires("nevergrad") or [] if r.startswith("bayesian-optimization")]
    assert pins, md.requires("nevergrad")
    pinned = pins[0].split("==")[1].split(";")[0].strip() if "==" in pins[0] else None
    installed = md.version("bayesian-optimization")
    assert pinned is None or installed == pinned, (pins, installed)
