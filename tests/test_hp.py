"""Tests of zoo_tune.hp: argument checks, the values each function yields, JSON round trips."""

from __future__ import annotations

import functools
import json
import math
import random
import re

import numpy as np
import pytest
from ray import tune
from ray.tune.search.sample import Domain, Float, Function

from zoo_tune import hp
from zoo_tune.errors import InvalidInputError, InvalidTypeError

N = 3000
NAN, INF = float("nan"), float("inf")


def double_units(config):
    """A module-level sample_from function: stored in JSON by import path."""
    return config["units"] * 2


class _Scale:
    def __init__(self, k):
        self.k = k

    def __call__(self, config):
        return config["units"] * self.k

    def scale(self, config):
        return config["units"] * self.k


@pytest.fixture(autouse=True)
def _seed():
    random.seed(1234)
    np.random.seed(1234)


def draw(param, n=N, seed=0):
    """``n`` values of ``param`` drawn through its Ray Tune domain."""
    domain = param.to_ray()
    assert isinstance(domain, Domain)
    if isinstance(domain, Function):
        return domain.sample(config={}, size=n)
    return domain.sample(size=n, random_state=np.random.default_rng(seed))


def on_grid(value, q):
    return abs(value / q - round(value / q)) < 1e-9


# --------------------------------------------------------------------------- argument checks

V, T = ValueError, TypeError

BAD_ARGS = [
    # uniform
    (hp.uniform, (1, 0), {}, V, r"hp\.uniform: `lower < upper` must hold.*lower=1, upper=0"),
    (hp.uniform, (1, 1), {}, V, r"hp\.uniform: `lower < upper` must hold"),
    (hp.uniform, ("0", 1), {}, T, r"`lower` must be a real number, but got '0' of type str"),
    (hp.uniform, (0, True), {}, T, r"`upper` must be a real number, but got True of type bool"),
    (hp.uniform, (None, 1), {}, T, r"`lower` must be a real number.*NoneType"),
    (hp.uniform, (NAN, 1), {}, V, r"`lower` must be finite, but got nan"),
    (hp.uniform, (0, INF), {}, V, r"`upper` must be finite, but got inf"),
    (hp.uniform, (-INF, 0), {}, V, r"`lower` must be finite, but got -inf"),
    # quniform
    (hp.quniform, (1, 0, 0.1), {}, V, r"hp\.quniform: `lower < upper` must hold"),
    (hp.quniform, (0, 0, 0.1), {}, V, r"hp\.quniform: `lower < upper` must hold"),
    (hp.quniform, (0, 1, 0), {}, V, r"hp\.quniform: `q > 0` must hold, but got q=0"),
    (hp.quniform, (0, 1, -0.5), {}, V, r"`q > 0` must hold, but got q=-0\.5"),
    (hp.quniform, (0.1, 0.2, 0.25), {}, V, r"hp\.quniform: no multiple of q=0\.25 lies between"),
    (hp.quniform, (0, 1, "0.1"), {}, T, r"`q` must be a real number"),
    (hp.quniform, (0, 1, False), {}, T, r"`q` must be a real number.*bool"),
    (hp.quniform, (0, 1, NAN), {}, V, r"`q` must be finite"),
    # loguniform
    (hp.loguniform, (0, 1), {}, V, r"hp\.loguniform: `lower > 0` must hold, but got lower=0"),
    (hp.loguniform, (-1, 1), {}, V, r"`lower > 0` must hold, but got lower=-1"),
    (hp.loguniform, (1, 0.1), {}, V, r"hp\.loguniform: `lower < upper` must hold"),
    (hp.loguniform, (0.1, 0.1), {}, V, r"`lower < upper` must hold"),
    (hp.loguniform, (1e-3, 1), {"base": 1}, V, r"`base > 0 and base != 1` must hold.*base=1"),
    (hp.loguniform, (1e-3, 1), {"base": 0}, V, r"`base > 0 and base != 1` must hold.*base=0"),
    (hp.loguniform, (1e-3, 1), {"base": True}, T, r"`base` must be a real number.*bool"),
    (hp.loguniform, (1e-3, INF), {}, V, r"`upper` must be finite"),
    (hp.loguniform, ("1e-3", 1), {}, T, r"`lower` must be a real number.*str"),
    # qloguniform
    (hp.qloguniform, (0, 1, 0.1), {}, V, r"hp\.qloguniform: `lower > 0` must hold"),
    (hp.qloguniform, (1, 0.5, 0.1), {}, V, r"hp\.qloguniform: `lower < upper` must hold"),
    (hp.qloguniform, (0.5, 0.5, 0.1), {}, V, r"`lower < upper` must hold"),
    (hp.qloguniform, (0.1, 1, 0), {}, V, r"hp\.qloguniform: `q > 0` must hold"),
    (hp.qloguniform, (0.1, 0.2, 0.25), {}, V, r"hp\.qloguniform: no multiple of q=0\.25"),
    (hp.qloguniform, (0.1, 1, 0.1), {"base": 1}, V, r"hp\.qloguniform: `base > 0 and base"),
    (hp.qloguniform, (0.1, 1, True), {}, T, r"`q` must be a real number.*bool"),
    (hp.qloguniform, (0.1, 1, INF), {}, V, r"`q` must be finite"),
    # randn
    (hp.randn, (0, 0), {}, V, r"hp\.randn: `sd > 0` must hold, but got sd=0"),
    (hp.randn, (0, -1), {}, V, r"hp\.randn: `sd > 0` must hold, but got sd=-1"),
    (hp.randn, ("0", 1), {}, T, r"`mean` must be a real number.*str"),
    (hp.randn, (0, INF), {}, V, r"`sd` must be finite"),
    (hp.randn, (NAN, 1), {}, V, r"`mean` must be finite"),
    (hp.randn, (True, 1), {}, T, r"`mean` must be a real number.*bool"),
    # qrandn
    (hp.qrandn, (0, 1, 0), {}, V, r"hp\.qrandn: `q > 0` must hold, but got q=0"),
    (hp.qrandn, (0, 0, 0.1), {}, V, r"hp\.qrandn: `sd > 0` must hold"),
    (hp.qrandn, (0, 1, NAN), {}, V, r"`q` must be finite"),
    (hp.qrandn, (0, 1, None), {}, T, r"`q` must be a real number.*NoneType"),
    # randint
    (hp.randint, (5, 2), {}, V, r"hp\.randint: `lower < upper` must hold.*lower=5, upper=2"),
    (hp.randint, (2, 2), {}, V, r"hp\.randint: `lower < upper` must hold"),
    (hp.randint, (0, 1.5), {}, T, r"`upper` must be an int, but got 1\.5 of type float"),
    (hp.randint, (0.0, 2), {}, T, r"`lower` must be an int, but got 0\.0 of type float"),
    (hp.randint, (True, 3), {}, T, r"`lower` must be an int, but got True of type bool"),
    (hp.randint, ("1", 3), {}, T, r"`lower` must be an int.*str"),
    (hp.randint, (0, NAN), {}, T, r"`upper` must be an int"),
    # qrandint
    (hp.qrandint, (5, 2), {}, V, r"hp\.qrandint: `lower <= upper` must hold.*lower=5, upper=2"),
    (hp.qrandint, (0, 10, 0), {}, V, r"hp\.qrandint: `q > 0` must hold, but got q=0"),
    (hp.qrandint, (0, 10, -5), {}, V, r"`q > 0` must hold, but got q=-5"),
    (hp.qrandint, (1, 4, 5), {}, V, r"hp\.qrandint: no multiple of q=5 lies between lower=1"),
    (hp.qrandint, (3, 3, 2), {}, V, r"no multiple of q=2"),
    (hp.qrandint, (0, 10, 2.5), {}, T, r"`q` must be an int, but got 2\.5"),
    (hp.qrandint, (0, 10, True), {}, T, r"`q` must be an int.*bool"),
    # choice
    (hp.choice, ([],), {}, V, r"hp\.choice: `categories` must not be empty"),
    (hp.choice, ((),), {}, V, r"hp\.choice: `categories` must not be empty"),
    (hp.choice, (np.array([]),), {}, V, r"hp\.choice: `categories` must not be empty"),
    (hp.choice, ("abc",), {}, T, r"hp\.choice: `categories` must be a list, but got 'abc'"),
    (hp.choice, (b"ab",), {}, T, r"`categories` must be a list.*bytes"),
    (hp.choice, ({1, 2},), {}, T, r"`categories` must be a list.*set"),
    (hp.choice, ({"a": 1},), {}, T, r"`categories` must be a list.*dict"),
    (hp.choice, (5,), {}, T, r"`categories` must be a list, but got 5 of type int"),
    (hp.choice, (None,), {}, T, r"`categories` must be a list.*NoneType"),
    # choice_n
    (hp.choice_n, ([], 1, 1), {}, V, r"hp\.choice_n: `categories` must not be empty"),
    (hp.choice_n, ("ab", 1, 1), {}, T, r"hp\.choice_n: `categories` must be a list"),
    (hp.choice_n, ([1, 2], 0, 1), {}, V,
     re.escape("`1 <= min_items <= max_items <= len(categories)` must hold, but got "
               "(min_items=0, max_items=1, len(categories)=2)")),
    (hp.choice_n, ([1, 2], 2, 1), {}, V, r"\(min_items=2, max_items=1, len\(categories\)=2\)"),
    (hp.choice_n, ([1, 2], 1, 3), {}, V, r"\(min_items=1, max_items=3, len\(categories\)=2\)"),
    (hp.choice_n, ([1, 2], -1, 1), {}, V, r"min_items=-1"),
    (hp.choice_n, ([1, 2], 1.0, 2), {}, T, r"`min_items` must be an int, but got 1\.0"),
    (hp.choice_n, ([1, 2], 1, True), {}, T, r"`max_items` must be an int.*bool"),
    (hp.choice_n, ([1, 2], 1, "2"), {}, T, r"`max_items` must be an int.*str"),
    # sample_from
    (hp.sample_from, (5,), {}, T, r"hp\.sample_from: `func` must be callable, but got 5"),
    (hp.sample_from, ("double_units",), {}, T, r"`func` must be callable, but got 'double"),
    (hp.sample_from, (None,), {}, T, r"`func` must be callable, but got None"),
    # grid_search
    (hp.grid_search, ([],), {}, V, r"hp\.grid_search: `values` must not be empty"),
    (hp.grid_search, ("ab",), {}, T, r"hp\.grid_search: `values` must be a list"),
    (hp.grid_search, (3,), {}, T, r"hp\.grid_search: `values` must be a list.*int"),
]


def _case_id(case):
    fn, args, kwargs, _, _ = case
    shown = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
    return f"{fn.__name__}({shown})"


@pytest.mark.parametrize("fn, args, kwargs, expected, match", BAD_ARGS,
                         ids=[_case_id(c) for c in BAD_ARGS])
def test_bad_arguments_raise(fn, args, kwargs, expected, match):
    with pytest.raises(expected, match=match) as info:
        fn(*args, **kwargs)
    assert isinstance(info.value, RuntimeError)
    zoo_class = InvalidInputError if expected is ValueError else InvalidTypeError
    assert isinstance(info.value, zoo_class)


def test_every_public_function_has_an_argument_check():
    checked = {case[0].__name__ for case in BAD_ARGS}
    builders = {"uniform", "quniform", "loguniform", "qloguniform", "randn", "qrandn",
                "randint", "qrandint", "choice", "choice_n", "sample_from", "grid_search"}
    assert builders <= set(hp.__all__)
    assert checked == builders


@pytest.mark.parametrize("param, kind, args", [
    (hp.uniform(-1, 2.5), "uniform", {"lower": -1, "upper": 2.5}),
    (hp.uniform(np.float64(0.5), np.int64(2)), "uniform", {"lower": 0.5, "upper": 2}),
    (hp.quniform(0, 1, 0.25), "quniform", {"lower": 0, "upper": 1, "q": 0.25}),
    (hp.quniform(0.1, 1, 0.25), "quniform", {"lower": 0.1, "upper": 1, "q": 0.25}),
    (hp.loguniform(1e-4, 1e-1), "loguniform", {"lower": 1e-4, "upper": 1e-1, "base": 10}),
    (hp.loguniform(1, 8, base=2), "loguniform", {"lower": 1, "upper": 8, "base": 2}),
    (hp.qloguniform(1, 100, 5), "qloguniform", {"lower": 1, "upper": 100, "q": 5, "base": 10}),
    (hp.randn(), "randn", {"mean": 0.0, "sd": 1.0}),
    (hp.randn(5, 2), "randn", {"mean": 5, "sd": 2}),
    (hp.qrandn(0, 1, 0.5), "qrandn", {"mean": 0, "sd": 1, "q": 0.5}),
    (hp.randint(2, 5), "randint", {"lower": 2, "upper": 5}),
    (hp.randint(np.int64(-3), 0), "randint", {"lower": -3, "upper": 0}),
    (hp.qrandint(1, 3), "qrandint", {"lower": 1, "upper": 3, "q": 1}),
    (hp.qrandint(3, 3), "qrandint", {"lower": 3, "upper": 3, "q": 1}),
    (hp.qrandint(0, 10, 5), "qrandint", {"lower": 0, "upper": 10, "q": 5}),
    (hp.choice([16, 32]), "choice", {"categories": [16, 32]}),
    (hp.choice(("a", "b")), "choice", {"categories": ["a", "b"]}),
    (hp.choice(np.array([1, 2])), "choice", {"categories": [1, 2]}),
    (hp.choice([[1, 2], [3]]), "choice", {"categories": [[1, 2], [3]]}),
    (hp.choice_n(["a", "b", "c"], 1, 2), "choice_n",
     {"categories": ["a", "b", "c"], "min_items": 1, "max_items": 2}),
    (hp.choice_n([1, 2], 2, 2), "choice_n", {"categories": [1, 2], "min_items": 2,
                                             "max_items": 2}),
    (hp.sample_from(double_units), "sample_from", {"func": double_units}),
    (hp.grid_search([1, 2]), "grid_search", {"values": [1, 2]}),
    (hp.grid_search(("x",)), "grid_search", {"values": ["x"]}),
])
def test_valid_builds(param, kind, args):
    assert isinstance(param, hp.Param)
    assert param.kind == kind
    assert param.args == args
    for key, value in args.items():
        if isinstance(value, (int, float)):
            assert type(param.args[key]) is type(value), key


def test_numpy_arguments_become_plain_python_values():
    assert type(hp.uniform(np.float32(0.5), np.float64(2)).args["lower"]) is float
    assert type(hp.randint(np.int32(1), np.int64(4)).args["upper"]) is int
    cats = hp.choice(np.array([1, 2, 3])).args["categories"]
    assert [type(c) for c in cats] == [int, int, int]
    cats = hp.choice([np.float64(0.5), np.int64(7), "x"]).args["categories"]
    assert [type(c) for c in cats] == [float, int, str]


def test_param_equality_and_hash_agree():
    a, b = hp.uniform(0, 1), hp.uniform(0.0, 1.0)
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b, hp.uniform(0, 2)}) == 2
    assert hp.uniform(0, 1) != hp.uniform(0, 2)
    assert hp.uniform(0, 1) != hp.quniform(0, 1, 0.5)
    assert hp.choice([1]) != [1]
    assert hp.sample_from(double_units) == hp.sample_from(double_units)
    assert hash(hp.sample_from(double_units)) == hash(hp.sample_from(double_units))


# --------------------------------------------------------------------------- values drawn

def test_uniform_yields_floats_in_half_open_range():
    values = draw(hp.uniform(-2, 3))
    assert all(-2 <= v < 3 for v in values)
    assert min(values) < -1.9 and max(values) > 2.9
    assert len(set(values)) > N // 2


def test_randint_excludes_upper():
    values = draw(hp.randint(2, 5))
    assert set(values) == {2, 3, 4}
    assert all(float(v).is_integer() for v in values)


@pytest.mark.parametrize("param, expected", [
    (hp.qrandint(0, 10, 5), {0, 5, 10}),
    (hp.qrandint(1, 3), {1, 2, 3}),
    (hp.qrandint(1, 10, 5), {5, 10}),
    (hp.qrandint(-4, 4, 4), {-4, 0, 4}),
    (hp.qrandint(3, 3), {3}),
    (hp.qrandint(2, 2, 2), {2}),
])
def test_qrandint_includes_upper(param, expected):
    assert set(draw(param)) == expected


def test_quniform_yields_multiples_of_q_with_upper_included():
    values = draw(hp.quniform(0, 1, 0.25))
    assert all(0 <= v <= 1 and on_grid(v, 0.25) for v in values)
    assert set(values) == {0.0, 0.25, 0.5, 0.75, 1.0}


@pytest.mark.parametrize("param, expected", [
    # bounds that are not multiples of q are rounded inwards
    (hp.quniform(0.1, 1, 0.25), {0.25, 0.5, 0.75, 1.0}),
    (hp.quniform(0.1, 0.3, 0.25), {0.25}),
    (hp.quniform(-1, 1, 0.5), {-1.0, -0.5, 0.0, 0.5, 1.0}),
    (hp.quniform(0, 0.3, 0.1), {0.0, 0.1, 0.2, 0.3}),
])
def test_quniform_values(param, expected):
    values = draw(param)
    q = param.args["q"]
    assert all(on_grid(v, q) for v in values)
    assert {round(v, 9) for v in values} == expected


def test_loguniform_is_log_uniform_within_bounds():
    values = np.array(draw(hp.loguniform(1e-4, 1e-1)))
    assert np.all((values >= 1e-4) & (values < 1e-1))
    # each decade holds about a third of the draws (a plain uniform would put ~1% below 1e-3)
    for lo, hi in [(1e-4, 1e-3), (1e-3, 1e-2), (1e-2, 1e-1)]:
        share = np.mean((values >= lo) & (values < hi))
        assert 0.27 < share < 0.40, (lo, hi, share)


def test_loguniform_base_does_not_change_the_distribution():
    a = draw(hp.loguniform(1, 100, base=2), seed=7)
    b = draw(hp.loguniform(1, 100, base=10), seed=7)
    assert a == pytest.approx(b)


def test_qloguniform_yields_multiples_of_q_with_upper_included():
    values = draw(hp.qloguniform(1, 100, 5))
    assert all(5 <= v <= 100 and on_grid(v, 5) for v in values)
    assert {5.0, 100.0} <= set(values)
    assert set(draw(hp.qloguniform(0.5, 1, 0.5))) == {0.5, 1.0}


def test_randn_mean_and_sd():
    values = np.array(draw(hp.randn(5, 2)))
    assert values.mean() == pytest.approx(5, abs=0.2)
    assert values.std() == pytest.approx(2, abs=0.2)
    assert values.min() < 1 and values.max() > 9


def test_qrandn_yields_multiples_of_q():
    values = draw(hp.qrandn(0, 1, 0.5))
    assert all(on_grid(v, 0.5) for v in values)
    assert min(values) <= -1.5 and max(values) >= 1.5
    assert 0.0 in values


def test_choice_yields_each_category_unchanged():
    values = draw(hp.choice([1, "a", 2.5]))
    assert set(values) == {1, "a", 2.5}
    assert {type(v) for v in values} == {int, str, float}
    assert all(type(v) is int for v in draw(hp.choice(np.array([4, 5, 6]))))


def test_choice_n_yields_ordered_distinct_plain_lists():
    cats = [10, 20, 30, 40]
    values = draw(hp.choice_n(cats, 1, 2), n=1000)
    assert all(isinstance(v, list) for v in values)
    assert {len(v) for v in values} == {1, 2}
    for v in values:
        assert len(set(v)) == len(v)
        assert set(v) <= set(cats)
        assert v == sorted(v, key=cats.index)
        assert all(type(x) is int for x in v)
    # every subset of size 1 or 2 turns up
    assert len({tuple(v) for v in values}) == 4 + 6


def test_choice_n_from_numpy_and_full_length():
    values = draw(hp.choice_n(np.array([3, 1, 2]), 3, 3), n=50)
    assert all(v == [3, 1, 2] for v in values)
    assert all(type(x) is int for v in values for x in v)


def test_choice_n_function_can_be_called_directly():
    domain = hp.choice_n(["a", "b", "c"], 2, 2).to_ray()
    assert isinstance(domain, Function)
    v = domain.func({})
    assert len(v) == 2 and v in (["a", "b"], ["a", "c"], ["b", "c"])


def test_sample_from_calls_func_with_config():
    domain = hp.sample_from(double_units).to_ray()
    assert isinstance(domain, Function)
    assert domain.sample(config={"units": 3}) == 6
    assert domain.sample(config={"units": 5}, size=3) == [10, 10, 10]


def test_grid_search_to_ray():
    assert hp.grid_search([1, "a"]).to_ray() == {"grid_search": [1, "a"]}


# --------------------------------------------------------------------------- JSON round trip

def full_space():
    return {
        "u": hp.uniform(-1, 1),
        "qu": hp.quniform(0, 1, 0.25),
        "lu": hp.loguniform(1e-4, 1e-1, base=2),
        "qlu": hp.qloguniform(1, 100, 5),
        "n": hp.randn(0, 1),
        "qn": hp.qrandn(0, 2, 0.5),
        "ri": hp.randint(2, 5),
        "qri": hp.qrandint(0, 10, 5),
        "c": hp.choice(["relu", "tanh", None, 3, 0.5, [1, 2]]),
        "cn": hp.choice_n(["a", "b", "c"], 1, 2),
        "sf": hp.sample_from(double_units),
        "g": hp.grid_search([1, 2, 3]),
        "raw_grid": {"grid_search": [4, 5]},
        "const_int": 3,
        "const_str": "adam",
        "const_list": [1, 2],
        "const_none": None,
        "nested": {
            "inner": hp.uniform(0, 1),
            "deep": {"k": hp.choice([1, 2]), "c": 0.5, "g": hp.grid_search(["x", "y"])},
        },
    }


def test_space_json_round_trip():
    space = full_space()
    text = hp.space_to_json(space)
    assert isinstance(json.loads(text), dict)
    back = hp.space_from_json(text)
    assert back == space
    assert back["nested"]["deep"]["k"] == hp.choice([1, 2])
    assert back["nested"]["deep"]["k"] != hp.choice([1, 3])
    assert back["raw_grid"] == {"grid_search": [4, 5]}
    assert back["sf"].args["func"] is double_units
    # writing what was read back gives the same text
    assert hp.space_to_json(back) == text


def test_round_trip_detects_a_changed_value():
    text = hp.space_to_json({"lr": hp.loguniform(1e-4, 1e-1)})
    changed = hp.space_from_json(text.replace("0.0001", "0.001"))
    assert changed != {"lr": hp.loguniform(1e-4, 1e-1)}
    assert changed == {"lr": hp.loguniform(1e-3, 1e-1)}


def test_sample_from_module_function_stored_by_import_path():
    text = hp.space_to_json({"x": hp.sample_from(double_units)})
    data = json.loads(text)["x"]["__hp__"]
    assert data == {"type": "sample_from", "func": f"{__name__}:double_units"}
    back = hp.space_from_json(text)["x"]
    assert back.args["func"] is double_units


def test_sample_from_lambda_is_pickled_and_still_computes():
    k = 3
    func = lambda config: config["units"] * k  # noqa: E731
    param = hp.sample_from(func)
    text = hp.space_to_json({"x": param})
    data = json.loads(text)["x"]["__hp__"]
    assert data["type"] == "sample_from" and "pickle" in data and "func" not in data
    back = hp.space_from_json(text)["x"]
    assert back.kind == "sample_from"
    assert back.args["func"] is not func
    assert back.args["func"]({"units": 4}) == func({"units": 4}) == 12
    assert back.to_ray().sample(config={"units": 5}) == 15


@pytest.mark.parametrize("func", [
    functools.partial(double_units),
    _Scale(2),
    _Scale(2).scale,
], ids=["partial", "callable-object", "bound-method"])
def test_sample_from_other_callables_round_trip(func):
    text = hp.space_to_json({"x": hp.sample_from(func)})
    assert "pickle" in json.loads(text)["x"]["__hp__"]
    back = hp.space_from_json(text)["x"]
    assert back.args["func"]({"units": 7}) == 14


def test_raw_ray_domain_is_written_but_cannot_be_read_back():
    text = hp.space_to_json({"a": 1, "nested": {"x": tune.uniform(0, 1)}})
    assert "__ray_domain__" in json.loads(text)["nested"]["x"]
    with pytest.raises(ValueError, match="raw Ray Tune domain .* stored by repr only") as info:
        hp.space_from_json(text)
    assert isinstance(info.value, RuntimeError)
    assert isinstance(info.value, InvalidInputError)


# --------------------------------------------------------------------------- validate_space

@pytest.mark.parametrize("space, expected, match", [
    ([("a", 1)], TypeError, r"`search_space` must be a dict from hyper-parameter name.*list"),
    (None, TypeError, r"`search_space` must be a dict.*NoneType"),
    ("lr", TypeError, r"`search_space` must be a dict.*str"),
    ({}, ValueError, r"`search_space` must not be empty: give at least one hyper-parameter"),
    ({1: hp.uniform(0, 1)}, TypeError, r"`search_space` keys must be strings, but got 1 of "
                                       r"type int"),
    ({"a": {}}, ValueError, r"`search_space\['a'\]` must not be empty"),
    ({"a": {"b": {}}}, ValueError, r"`search_space\['a'\]\['b'\]` must not be empty"),
    ({"a": {2: 1}}, TypeError, r"`search_space\['a'\]` keys must be strings"),
])
def test_validate_space_rejects(space, expected, match):
    with pytest.raises(expected, match=match) as info:
        hp.validate_space(space)
    assert isinstance(info.value, RuntimeError)


def test_validate_space_uses_given_name():
    with pytest.raises(ValueError, match=r"`config` must not be empty"):
        hp.validate_space({}, name="config")


def test_validate_space_accepts_good_spaces():
    assert hp.validate_space(full_space()) is None
    assert hp.validate_space({"lr": 0.1}) is None


# --------------------------------------------------------------------------- to_ray_space

def test_to_ray_space():
    const_list = [1, 2]
    space = {
        "g": hp.grid_search([1, 2]),
        "u": hp.uniform(0, 1),
        "c": 3,
        "s": "adam",
        "l": const_list,
        "raw": {"grid_search": [7]},
        "nested": {"x": hp.grid_search(["a"]), "k": 0.5, "y": hp.choice([1, 2])},
    }
    out = hp.to_ray_space(space)
    assert out["g"] == {"grid_search": [1, 2]}
    assert isinstance(out["u"], Float)
    assert (out["u"].lower, out["u"].upper) == (0, 1)
    assert out["c"] == 3 and out["s"] == "adam"
    assert out["l"] == const_list
    assert out["raw"] == {"grid_search": [7]}
    assert out["nested"]["x"] == {"grid_search": ["a"]}
    assert out["nested"]["k"] == 0.5
    assert isinstance(out["nested"]["y"], Domain)
    # the input space is left as it was
    assert space["g"] == hp.grid_search([1, 2])
    assert isinstance(space["nested"]["y"], hp.Param)


def test_to_ray_space_quantized_float_bounds_off_grid():
    out = hp.to_ray_space({"a": hp.quniform(0.1, 1, 0.25), "b": hp.qloguniform(1, 100, 5)})
    a = out["a"].sample(size=200, random_state=np.random.default_rng(3))
    b = out["b"].sample(size=200, random_state=np.random.default_rng(3))
    assert all(0.25 <= v <= 1 and on_grid(v, 0.25) for v in a)
    assert all(5 <= v <= 100 and on_grid(v, 5) for v in b)
    assert not any(math.isnan(v) for v in a + b)


def test_params_inside_lists_are_translated_and_round_trip():
    from ray.tune.search.sample import Domain

    space = {"layers": [hp.randint(1, 4), 8], "n": {"k": [hp.choice(["a", "b"])]}}
    ray_space = hp.to_ray_space(space)
    assert isinstance(ray_space["layers"][0], Domain) and ray_space["layers"][1] == 8
    assert isinstance(ray_space["n"]["k"][0], Domain)
    assert hp.space_from_json(hp.space_to_json(space)) == space
