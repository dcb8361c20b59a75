"""SkOptSearch: space conversion, ask/tell bookkeeping, and a small real Ray Tune run.

Most tests drive the Searcher directly (``set_search_properties`` / ``suggest`` /
``on_trial_complete``); only the last needs Ray.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

pytest.importorskip("skopt")

from ray import tune  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from zoo_tune import hp  # noqa: E402
from zoo_tune.errors import InvalidInputError, MissingDependencyError  # noqa: E402
from zoo_tune.search import create_search_alg  # noqa: E402
from zoo_tune.search._skopt import SkOptSearch, _convert_space  # noqa: E402

#: Cheap GP settings: one acquisition function minimised over 500 random candidates.
FAST = {"acq_func": "EI", "acq_optimizer": "sampling", "acq_optimizer_kwargs": {"n_points": 500}}

SPACE = {
    "u": hp.uniform(0, 1),
    "lu": hp.loguniform(1e-4, 1e-1),
    "qu": hp.quniform(0, 1, 0.25),
    "qlu": hp.qloguniform(0.1, 10, 0.1),
    "ri": hp.randint(2, 5),
    "qri": hp.qrandint(0, 10, 5),
    "qri1": hp.qrandint(1, 3),
    "c": hp.choice(["a", 1, [1, 2]]),
    "nest": {"x": hp.uniform(-1, 1), "k": 7},
    "const": "hello",
}


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """GP fits on a few points: BLAS threads only fight each other on a small machine."""
    with threadpool_limits(limits=1):
        yield


def searcher_on(space, metric="loss", mode="min", **kwargs):
    searcher = SkOptSearch(**{**FAST, **kwargs})
    assert searcher.set_search_properties(metric, mode, hp.to_ray_space(space))
    return searcher


def run(searcher, objective, n, prefix="t"):
    """Suggest and complete ``n`` trials one at a time; return the configs and values."""
    configs, values = [], []
    for i in range(n):
        config = searcher.suggest(f"{prefix}{i}")
        value = objective(config)
        searcher.on_trial_complete(f"{prefix}{i}", {"loss": value})
        configs.append(config)
        values.append(value)
    return configs, values


def assert_in_space(config):
    """Every value lies in SPACE's domain, is quantised, and is a plain Python value."""
    assert 0 <= config["u"] < 1 and type(config["u"]) is float
    assert 1e-4 <= config["lu"] < 1e-1 and type(config["lu"]) is float
    assert config["qu"] in (0.0, 0.25, 0.5, 0.75, 1.0) and type(config["qu"]) is float
    k = round(config["qlu"] / 0.1)
    assert 0.1 <= config["qlu"] <= 10 and math.isclose(config["qlu"], k * 0.1)
    assert type(config["qlu"]) is float
    assert config["ri"] in (2, 3, 4) and type(config["ri"]) is int
    assert config["qri"] in (0, 5, 10) and type(config["qri"]) is int
    assert config["qri1"] in (1, 2, 3) and type(config["qri1"]) is int
    assert config["c"] in ("a", 1, [1, 2])
    assert -1 <= config["nest"]["x"] < 1 and config["nest"]["k"] == 7
    assert config["const"] == "hello"


# -- space conversion ----------------------------------------------------------------------


def test_each_domain_kind_becomes_the_matching_skopt_dimension():
    from skopt.space import Categorical, Integer, Real

    dims, constants = _convert_space(hp.to_ray_space(
        {**SPACE, "lri": tune.lograndint(1, 100), "one": hp.qrandint(3, 3)}))
    by_name = {d.name: d.dimension for d in dims}
    assert constants == {"nest/k": 7, "const": "hello"}
    assert set(by_name) == {"u", "lu", "qu", "qlu", "ri", "qri", "qri1", "c", "nest/x", "lri",
                            "one"}

    def bounds(dim):
        return (dim.low, dim.high, dim.prior)

    assert isinstance(by_name["u"], Real) and bounds(by_name["u"]) == (0, 1, "uniform")
    assert bounds(by_name["lu"]) == (1e-4, 1e-1, "log-uniform")
    assert isinstance(by_name["ri"], Integer) and bounds(by_name["ri"]) == (2, 4, "uniform")
    # Quantised: an Integer over the grid indices k of the values k * q.
    assert isinstance(by_name["qu"], Integer) and bounds(by_name["qu"]) == (0, 4, "uniform")
    assert bounds(by_name["qlu"]) == (1, 100, "log-uniform")
    assert bounds(by_name["qri"]) == (0, 2, "uniform")
    assert bounds(by_name["qri1"]) == (1, 3, "uniform")  # hp.qrandint includes upper
    assert bounds(by_name["lri"]) == (1, 99, "log-uniform")
    assert isinstance(by_name["c"], Categorical) and list(by_name["c"].categories) == [0, 1, 2]
    assert isinstance(by_name["one"], Categorical) and list(by_name["one"].categories) == [3]


@pytest.mark.parametrize("domain", [
    hp.qrandint(0, 10, 5), hp.qrandint(1, 3), hp.randint(2, 5), hp.quniform(0, 1, 0.25),
    hp.qloguniform(1, 3, 0.5), tune.qrandint(1, 10, 3), tune.qrandint(2, 6), tune.randint(-3, 0),
], ids=lambda d: repr(d) if "object at 0x" not in repr(d) else  # the same ids in every process
   f"tune.{type(d).__name__}({d.lower}, {d.upper}, {getattr(d.sampler, 'q', 1)})")
def test_grid_values_are_exactly_those_ray_samples(domain):
    ray_domain = domain.to_ray() if isinstance(domain, hp.Param) else domain
    (dim,), _ = _convert_space({"p": ray_domain})
    ours = {dim.to_value(k) for k in range(dim.lo, dim.hi + 1)}
    rays = set(ray_domain.sample(size=400, random_state=0))
    assert ours == rays


def test_suggestions_lie_in_the_space_and_are_quantised():
    # Random phase (n_initial_points=40) reaches every grid value; the model phase stays inside.
    searcher = searcher_on(SPACE, n_initial_points=40, random_state=0)
    configs, _ = run(searcher, lambda c: c["u"] + c["qri"], 40)
    for config in configs:
        assert_in_space(config)
    assert {c["qri1"] for c in configs} == {1, 2, 3}
    assert {c["qri"] for c in configs} == {0, 5, 10}
    assert {c["qu"] for c in configs} == {0.0, 0.25, 0.5, 0.75, 1.0}
    assert {repr(c["c"]) for c in configs} == {"'a'", "1", "[1, 2]"}

    modelled = searcher_on(SPACE, n_initial_points=3, random_state=1)
    configs, _ = run(modelled, lambda c: -c["u"] - c["lu"] + c["qri"], 8)
    for config in configs:
        assert_in_space(config)


def test_upper_bound_of_uniform_stays_excluded():
    # skopt's Real includes upper; a point at it comes back just below it.
    searcher = searcher_on({"u": hp.uniform(0, 1)}, points_to_evaluate=[{"u": 1.0}])
    value = searcher.suggest("a")["u"]
    assert value < 1.0 and value == math.nextafter(1.0, 0.0)


def test_quantised_float_values_are_clean_multiples():
    searcher = searcher_on({"q": hp.quniform(0, 1, 0.1)}, n_initial_points=30, random_state=0)
    configs, _ = run(searcher, lambda c: c["q"], 30)
    values = {c["q"] for c in configs}
    assert values <= {round(k * 0.1, 10) for k in range(11)}  # 0.3, not 0.30000000000000004
    assert len(values) >= 8


@pytest.mark.parametrize(("name", "value", "what"), [
    ("n", hp.randn(0, 1), "a normal distribution"),
    ("qn", hp.qrandn(0, 1, 0.5), "a normal distribution"),
    ("f", hp.sample_from(lambda config: 1), "a sample_from function"),
    ("items", hp.choice_n(["a", "b", "c"], 1, 2), "a sample_from function"),
    ("g", hp.grid_search([1, 2]), "grid_search values"),
    ("rn", tune.randn(), "a normal distribution"),
    ("ch", tune.choice([tune.uniform(0, 1), 2]), "a choice whose categories hold search"),
])
def test_unsupported_domains_are_refused_with_the_parameter_named(name, value, what):
    space = {"ok": hp.uniform(0, 1), "outer": {name: value}}
    message = rf"Parameter 'outer/{name}'.*cannot search {what}.*It can search hp\.uniform"
    with pytest.raises(InvalidInputError, match=message):
        searcher_on(space)
    with pytest.raises(InvalidInputError, match=message):
        SkOptSearch(space, metric="loss", mode="min")


def test_domains_in_lists_and_spaces_without_domains_are_refused():
    with pytest.raises(InvalidInputError, match=r"'layers/0'.*domain inside a list"):
        searcher_on({"layers": [tune.randint(1, 4), 8]})
    with pytest.raises(InvalidInputError, match=r"'layers'.*hp value inside a list"):
        searcher_on({"layers": [8, (hp.randint(1, 4),)]})
    with pytest.raises(InvalidInputError, match=r"no parameter to search.*\['lr'\]"):
        searcher_on({"lr": 0.1})


def test_skopt_dimensions_can_be_given_directly():
    from skopt.space import Integer, Real

    searcher = SkOptSearch({"x": Real(-2.0, 2.0), "n": Integer(1, 3), "tag": "v1"},
                           metric="loss", mode="min", n_initial_points=2, random_state=0, **FAST)
    configs, _ = run(searcher, lambda c: c["x"] ** 2 + c["n"], 5)
    for config in configs:
        assert -2 <= config["x"] <= 2 and config["n"] in (1, 2, 3) and config["tag"] == "v1"
        assert type(config["n"]) is int and type(config["x"]) is float


# -- optimisation --------------------------------------------------------------------------

QUADRATIC_SPACE = {"x": hp.uniform(-5, 5), "y": hp.uniform(-5, 5), "z": hp.uniform(-5, 5)}
OPTIMUM = {"x": 1.3, "y": -2.1, "z": 0.7}


def shifted_quadratic(config):
    return sum((config[k] - v) ** 2 for k, v in OPTIMUM.items())


def test_beats_random_search_on_a_shifted_quadratic():
    """Mean over 5 seeds of the best value in 25 evaluations: skopt's GP vs random sampling."""
    ray_space = hp.to_ray_space(QUADRATIC_SPACE)
    skopt_best, random_best = [], []
    for seed in range(5):
        searcher = searcher_on(QUADRATIC_SPACE, random_state=seed)
        _, values = run(searcher, shifted_quadratic, 25)
        skopt_best.append(min(values))
        rng = np.random.RandomState(seed)
        random_best.append(min(
            shifted_quadratic({k: d.sample(random_state=rng) for k, d in ray_space.items()})
            for _ in range(25)))
    print(f"mean best of 25: skopt {np.mean(skopt_best):.4f} {np.round(skopt_best, 4)}, "
          f"random {np.mean(random_best):.4f} {np.round(random_best, 4)}")
    assert np.mean(skopt_best) < np.mean(random_best)


def test_max_mode_negates_the_metric():
    def score(config):  # highest at x = 0.3
        return -((config["x"] - 0.3) ** 2)

    maximiser = searcher_on({"x": hp.uniform(0, 1)}, mode="max", n_initial_points=3,
                            random_state=0)
    configs, values = run(maximiser, score, 12)
    assert maximiser._optimizer.yi == pytest.approx([-v for v in values])
    assert abs(configs[int(np.argmax(values))]["x"] - 0.3) < 0.05
    assert np.mean([abs(c["x"] - 0.3) for c in configs[-4:]]) < 0.1

    minimiser = searcher_on({"x": hp.uniform(0, 1)}, mode="min", n_initial_points=3,
                            random_state=0)
    configs, values = run(minimiser, score, 12)
    assert minimiser._optimizer.yi == pytest.approx(values)
    assert np.mean([abs(c["x"] - 0.3) for c in configs[-4:]]) > 0.4  # pushed to x = 1


def test_points_to_evaluate_come_first_in_order():
    points = [{"x": 0.5, "k": "b"}, {"x": 0.25}, {"outer": {"n": 10}, "x": 0.75, "k": "a"}]
    searcher = searcher_on({"x": hp.uniform(0, 1), "k": hp.choice(["a", "b"]),
                            "outer": {"n": hp.qrandint(0, 10, 5)}},
                           points_to_evaluate=points, n_initial_points=2, random_state=0)
    first, second, third, fourth = (searcher.suggest(str(i)) for i in range(4))
    assert (first["x"], first["k"]) == (0.5, "b")
    assert second["x"] == 0.25 and second["k"] in ("a", "b")  # missing "k" drawn at random
    assert third == {"x": 0.75, "k": "a", "outer": {"n": 10}}
    assert fourth["x"] not in (0.5, 0.25, 0.75)
    for i in range(4):
        searcher.on_trial_complete(str(i), {"loss": float(i)})
    xi = searcher._optimizer.Xi  # dimensions x, k (category position), outer/n (grid index)
    assert xi[0][:2] == [0.5, 1] and xi[1][0] == 0.25 and xi[2] == [0.75, 0, 2]


def test_bad_points_to_evaluate_are_refused():
    space = {"x": hp.uniform(0, 1), "q": hp.quniform(0, 1, 0.25)}
    for point, message in [({"x": 2.0}, r"points_to_evaluate\[0\]: parameter 'x' must be a "
                                        r"float in \[0.0, 1.0\), but got 2.0\."),
                           ({"q": 0.3}, r"'q' must be a multiple of q=0.25 between 0.0 and "
                                        r"1.0, but got 0.3\."),
                           ({"y": 1}, r"names parameters \['y'\] that are not in the search "
                                      r"space")]:
        with pytest.raises(InvalidInputError, match=message):
            searcher_on(space, points_to_evaluate=[point])


def test_evaluated_rewards_warm_start_the_model():
    searcher = searcher_on({"x": hp.uniform(0, 1)}, mode="max", n_initial_points=2,
                           points_to_evaluate=[{"x": 0.1}, {"x": 0.9}],
                           evaluated_rewards=[1.0, 3.0], random_state=0)
    config = searcher.suggest("a")
    assert searcher._optimizer.Xi == [[0.1], [0.9]]
    assert searcher._optimizer.yi == [-1.0, -3.0]
    assert searcher._optimizer.models  # the model is already fitted: no random phase left
    assert config["x"] not in (0.1, 0.9)


def test_concurrent_suggests_are_distinct():
    # skopt's ask() repeats its point until told: the problem SkOptSearch works around.
    searcher = searcher_on(QUADRATIC_SPACE, n_initial_points=3, random_state=0,
                           initial_point_generator="lhs")
    assert searcher._optimizer.ask() == searcher._optimizer.ask()
    initial = [searcher.suggest(f"i{i}") for i in range(5)]  # all before any is told
    assert len({repr(c) for c in initial}) == 5
    for i, config in enumerate(initial):
        searcher.on_trial_complete(f"i{i}", {"loss": shifted_quadratic(config)})
    assert searcher._optimizer.models
    modelled = [searcher.suggest(f"m{i}") for i in range(4)]  # model phase, all pending
    assert len({repr(c) for c in modelled}) == 4
    assert all(repr(c) not in {repr(i) for i in initial} for c in modelled)


def test_concurrent_suggests_are_distinct_on_a_small_discrete_space():
    searcher = searcher_on({"n": hp.qrandint(1, 4), "k": hp.choice(["a", "b"])},
                           n_initial_points=2, random_state=0)
    run(searcher, lambda c: c["n"], 2)
    pending = [searcher.suggest(f"p{i}") for i in range(6)]
    assert len({(c["n"], c["k"]) for c in pending}) == 6


def test_errored_or_metricless_trials_are_not_told():
    searcher = searcher_on({"x": hp.uniform(0, 1)}, n_initial_points=5, random_state=0)
    for i in range(6):
        searcher.suggest(str(i))
    searcher.on_trial_complete("0", {"loss": 0.5}, error=True)
    searcher.on_trial_complete("1", None, error=True)
    searcher.on_trial_complete("2", {"other": 1.0})
    searcher.on_trial_complete("3", {"loss": float("nan")})
    searcher.on_trial_complete("never-suggested", {"loss": 1.0})
    assert searcher._optimizer.yi == [] and set(searcher._pending) == {"4", "5"}
    searcher.on_trial_complete("4", {"loss": 0.25})
    searcher.on_trial_complete("4", {"loss": 0.75})  # a second completion is ignored
    assert searcher._optimizer.yi == [0.25] and set(searcher._pending) == {"5"}


def test_save_and_restore_continue_with_the_same_state(tmp_path):
    searcher = searcher_on(QUADRATIC_SPACE, n_initial_points=3, random_state=0)
    run(searcher, shifted_quadratic, 5)
    pending = searcher.suggest("pending")
    path = str(tmp_path / "skopt.pkl")
    searcher.save(path)

    restored = SkOptSearch()
    restored.restore(path)
    assert (restored.metric, restored.mode) == ("loss", "min")
    assert restored._optimizer.Xi == searcher._optimizer.Xi
    assert restored._pending == {"pending": searcher._pending["pending"]}
    for s in (searcher, restored):  # the pending trial, run before the restart, completes
        s.on_trial_complete("pending", {"loss": shifted_quadratic(pending)})
    after = [run(s, shifted_quadratic, 3, prefix="after")[0] for s in (searcher, restored)]
    assert after[0] == after[1]

    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"\x80\x04N.")  # pickled None
    with pytest.raises(InvalidInputError, match="does not hold a SkOptSearch state"):
        SkOptSearch().restore(str(bad))


# -- arguments and registry ----------------------------------------------------------------


def test_metric_mode_and_space_come_from_either_side():
    searcher = SkOptSearch({"x": hp.uniform(0, 1)}, n_initial_points=2)
    with pytest.raises(InvalidInputError, match="needs a metric and a mode"):
        searcher.suggest("a")
    # A space given to the constructor wins; metric and mode still fill in.
    assert not searcher.set_search_properties("acc", "max", {"y": tune.uniform(0, 1)})
    assert (searcher.metric, searcher.mode) == ("acc", "max")
    assert set(searcher.suggest("a")) == {"x"}
    with pytest.raises(InvalidInputError, match="no search space"):
        SkOptSearch(metric="loss", mode="min").suggest("a")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"mode": "maximize"}, r"`mode` must be 'min' or 'max'"),
    ({"n_initial_points": 0}, r"`n_initial_points` must be at least 1"),
    ({"acq_func": "PVRS"}, r"`acq_func` must be one of .*gigabytes"),
    ({"acq_func": "EIps"}, r"per-second variants need trial run times"),
    ({"base_estimator": "GBRT"}, r"base_estimator='GBRT' fails in scikit-optimize"),
    ({"base_estimator": "dummy"}, r"base_estimator='dummy'.*search_alg='random'"),
    ({"parallel_strategy": "cl_best"}, r"`parallel_strategy` must be one of"),
    ({"points_to_evaluate": [{"x": 0.5}], "evaluated_rewards": [1.0, 2.0]},
     r"one value per point"),
])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        SkOptSearch(**kwargs)


def test_registry_builds_it_by_name_and_checks_params(monkeypatch):
    searcher = create_search_alg("skopt", {"n_initial_points": 3, "random_state": 1}, "acc",
                                 "max")
    assert isinstance(searcher, SkOptSearch) and (searcher.metric, searcher.mode) == ("acc",
                                                                                      "max")
    with pytest.raises(InvalidInputError, match=r"Unknown key 'n_calls'.*'acq_func'"):
        create_search_alg("skopt", {"n_calls": 3}, "acc", "max")

    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "skopt" else find_spec(name, *a))
    with pytest.raises(MissingDependencyError, match=r"needs the package 'scikit-optimize': "
                       r"pip install scikit-optimize \(or pip install 'zoo_tune\[searchers\]'\)"):
        create_search_alg("skopt", None, "acc", "max")


# -- through Ray Tune ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_session():
    """Local Ray with 2 CPUs; reuses a session's Ray (and leaves it up) if one is running."""
    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False)
    yield
    if started:
        ray.shutdown()


def test_runs_through_ray_tune(ray_session, tmp_path):
    def trainable(config):  # local: pickled by value, so workers skip importing this module
        tune.report({"loss": (config["x"] - 0.5) ** 2 + config["n"] + (config["act"] == "tanh")})

    space = {"x": hp.uniform(-2, 2), "n": hp.qrandint(1, 4), "act": hp.choice(["relu", "tanh"]),
             "const": 7}
    searcher = SkOptSearch(n_initial_points=3, random_state=0,
                           points_to_evaluate=[{"x": 0.5, "n": 1, "act": "relu"}], **FAST)
    tuner = tune.Tuner(
        trainable,
        param_space=hp.to_ray_space(space),
        tune_config=tune.TuneConfig(metric="loss", mode="min", search_alg=searcher,
                                    num_samples=6),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="skopt", verbose=0),
    )
    results = tuner.fit()
    assert len(results) == 6 and not results.errors
    configs = [r.config for r in results]
    for config in configs:
        assert -2 <= config["x"] < 2 and config["n"] in (1, 2, 3, 4)
        assert config["act"] in ("relu", "tanh") and config["const"] == 7
    assert {"x": 0.5, "n": 1, "act": "relu", "const": 7} in configs
    best = results.get_best_result()
    assert best.config in configs
    assert best.metrics["loss"] == min(r.metrics["loss"] for r in results) == 1.0
