"""Fuzzing: malformed ``from_torch`` / ``fit`` / ``hp.*`` arguments raise zoo_tune errors.

Every case feeds exactly one malformed argument (the rest valid) and checks that it raises a
``ZooTuneError`` that is also a ``ValueError`` or ``TypeError`` and a ``RuntimeError``, names
the bad argument, and is raised before any cluster work: Ray is never initialised, no
experiment folder appears, and ``fit`` never reaches ``ensure_ray`` (patched here to raise
:class:`ReachedClusterWork`, so a malformed value that slipped through fails the test instead of
starting Ray). :func:`test_valid_baseline_reaches_cluster_work` shows that the valid baseline
does get that far, so the error each case sees comes from its one bad argument.

Left out on purpose, because the estimator, data and cluster modules do not reject them
yet: NaN ``metric_threshold``, any ``time_budget_s``, NaN ``driver_budget_mb``, NaN/inf
``resources_per_trial`` amounts, numpy-array ``verbose`` or ``resume`` (raw numpy
``ValueError``), and ``logs_dir=None`` (rejected, but the message does not name ``logs_dir``).
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
import ray
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import zoo_tune.cluster
from zoo_tune import AutoEstimator, hp
from zoo_tune._registry import accepted_params
from zoo_tune.errors import ZooTuneError
from zoo_tune.metrics import BUILTIN_METRICS
from zoo_tune.schedulers import SCHEDULERS, scheduler_class
from zoo_tune.search import SEARCH_ALGS, search_alg_class

pytestmark = pytest.mark.timeout(300)

X = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
Y = np.random.default_rng(1).integers(0, 3, size=40).astype(np.int64)
NAME = "fuzz"


def linear(config):
    return nn.Linear(4, 3)


def fuzz_settings(n):
    return settings(max_examples=n, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


class ReachedClusterWork(Exception):
    """Raised by the patched ``ensure_ray`` / ``ray.init``: ``fit`` got past validation."""


@pytest.fixture
def no_cluster(monkeypatch):
    """Make any start of Ray fail loudly; yield whether Ray was up before (earlier tests)."""
    def refuse(*args, **kwargs):
        raise ReachedClusterWork("fit reached cluster work")

    before = ray.is_initialized()
    monkeypatch.setattr(zoo_tune.cluster, "ensure_ray", refuse)
    monkeypatch.setattr(ray, "init", refuse)
    yield before
    assert ray.is_initialized() == before


def assert_user_error(err, names):
    assert isinstance(err, ZooTuneError), f"raw {type(err).__name__}: {err}"
    assert isinstance(err, (ValueError, TypeError)), type(err).__mro__
    assert isinstance(err, RuntimeError), type(err).__mro__
    assert any(n in str(err) for n in names), f"{str(err)!r} names none of {names}"


def expect_user_error(call, names, label):
    """Run ``call``; it must raise a zoo_tune user-input error naming one of ``names``."""
    try:
        call()
    except ReachedClusterWork:
        pytest.fail(f"malformed {label} was accepted: fit reached cluster work")
    except Exception as err:  # noqa: BLE001 - what it raised is the point
        assert_user_error(err, names)
    else:
        pytest.fail(f"malformed {label} was accepted")


# --------------------------------------------------------------------------- value pools


class Opaque:
    """Neither a number, a sequence, a mapping nor callable."""

    def __repr__(self):
        return "<Opaque>"


ODD = [Decimal("0.5"), Fraction(1, 3), np.float64("nan"), np.float32(2.5), np.int64(-3),
       np.bool_(True), np.array(3.0), np.array([1, 2]), Opaque(), b"", 1 + 2j]
JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.integers(min_value=2**64),
    st.floats(), st.text(max_size=6), st.binary(max_size=4),
    st.complex_numbers(max_magnitude=10, allow_nan=False, allow_infinity=False),
    st.lists(st.integers(), max_size=3), st.tuples(st.integers()),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.frozensets(st.integers(), max_size=2), st.sampled_from(ODD),
)


def is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def is_real(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


NOT_INT = JUNK.filter(lambda v: not is_int(v))
NOT_REAL = JUNK.filter(lambda v: not is_real(v))
NOT_STR = JUNK.filter(lambda v: not isinstance(v, str))
NO_ARRAYS = JUNK.filter(lambda v: not isinstance(v, np.ndarray))
NON_FINITE = st.one_of(st.sampled_from([math.nan, math.inf, -math.inf, np.float64("inf"),
                                        np.float32("nan"), Fraction(10**400, 3)]),
                       st.integers(min_value=2**1024), st.integers(max_value=-(2**1024)))
NAMES = st.text(min_size=1, max_size=6)


# --------------------------------------------------------------------------- fit


def verbose_ok(v):
    return any(v == ok for ok in (0, 1, 2))


def resume_ok(v):
    return (isinstance(v, str) and v == "auto") or v is True or v is False


@st.composite
def bad_space(draw):
    """A search space with one defect: not a dict, empty, a non-str key, a bad grid dict."""
    kind = draw(st.sampled_from(["none", "not_dict", "empty", "key", "grid"]))
    if kind == "none":
        return None
    if kind == "not_dict":
        return draw(JUNK.filter(lambda v: v is not None and not isinstance(v, Mapping)))
    bad_key = draw(st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(),
                             st.none(), st.tuples(st.integers())))
    bad_grid = draw(st.one_of(JUNK.filter(lambda v: not isinstance(v, (list, tuple))),
                              st.sampled_from([[], ()])))
    leaf = st.one_of(st.just(hp.choice([0.01])), st.floats(0, 1), st.integers(0, 9))
    defect = {"empty": {}, "key": {bad_key: 0.1}, "grid": {"grid_search": bad_grid}}[kind]
    depth = draw(st.integers(1 if kind == "empty" else 0, 3))
    space = defect
    for _ in range(depth):
        siblings = draw(st.dictionaries(NAMES.filter(lambda k: k != "grid_search"), leaf,
                                        max_size=2))
        space = {**siblings, draw(NAMES.filter(lambda k, taken=siblings: k not in taken)): space}
    if kind == "key" and depth == 0:
        space = {"lr": hp.choice([0.01]), **space}
    return space


ASHA_KEYS = accepted_params(scheduler_class("asha"))
RANDOM_KEYS = accepted_params(search_alg_class("random"))

#: fit argument -> (strategy of malformed values, other valid arguments it needs, names the
#: error may cite).
FIT_CASES = {
    "epochs": (st.one_of(st.integers(max_value=0), NOT_INT), {}, ["epochs"]),
    "n_sampling": (st.one_of(st.integers(max_value=0), NOT_INT), {}, ["n_sampling"]),
    "max_failures": (st.one_of(st.integers(max_value=-2), NOT_INT), {}, ["max_failures"]),
    "retry_user_errors": (JUNK.filter(lambda v: not isinstance(v, bool)), {},
                          ["retry_user_errors"]),
    "resume": (st.one_of(NO_ARRAYS.filter(lambda v: not resume_ok(v)),
                         st.text().filter(lambda s: s != "auto")), {}, ["resume"]),
    "verbose": (st.one_of(NO_ARRAYS.filter(lambda v: not verbose_ok(v)),
                          st.integers().filter(lambda i: i not in (0, 1, 2))), {}, ["verbose"]),
    "metric_threshold": (NOT_REAL.filter(lambda v: v is not None), {}, ["metric_threshold"]),
    "validation_split": (st.one_of(st.floats().filter(lambda f: not 0 < f < 1),
                                   st.floats(0, 0.012, exclude_min=True),
                                   st.floats(0.988, 1, exclude_max=True), st.integers(),
                                   NOT_REAL.filter(lambda v: v is not None)),
                         {}, ["validation_split"]),
    "metric": (st.one_of(st.text().filter(lambda s: s not in BUILTIN_METRICS),
                         JUNK.filter(lambda v: v is not None and not isinstance(v, str)),
                         st.just(lambda y_true, y_pred: 0.0)), {}, ["metric"]),
    "metric_mode": (st.one_of(st.text().filter(lambda s: s != "max"),
                              JUNK.filter(lambda v: v is not None and not isinstance(v, str))),
                    {}, ["metric_mode"]),
    "mode": (st.one_of(st.text().filter(lambda s: s != "max"),
                       JUNK.filter(lambda v: v is not None and not isinstance(v, str))),
             {}, ["mode"]),
    "search_space": (bad_space(), {}, ["search_space"]),
    "search_alg": (st.one_of(st.text().filter(lambda s: s.lower() not in SEARCH_ALGS),
                             JUNK.filter(lambda v: v is not None and not isinstance(v, str))),
                   {}, ["search_alg"]),
    "search_alg_params": (st.one_of(
        JUNK.filter(lambda v: v is not None and not isinstance(v, Mapping)),
        st.dictionaries(st.text().filter(lambda k: k not in RANDOM_KEYS), st.integers(),
                        min_size=1, max_size=2),
        st.fixed_dictionaries({}, optional={"metric": st.text(), "mode": st.text()}).filter(
            bool),
        st.fixed_dictionaries({"random_state": st.text()})), {}, ["search_alg_params"]),
    "scheduler": (st.one_of(st.text().filter(lambda s: s.lower() not in SCHEDULERS),
                            JUNK.filter(lambda v: v is not None and not isinstance(v, str)),
                            st.sampled_from(["pb2", "pbt_replay"])),
                  {}, ["scheduler"]),
    "scheduler_params": (st.one_of(
        JUNK.filter(lambda v: v is not None and not isinstance(v, Mapping)),
        st.dictionaries(st.text().filter(lambda k: k not in ASHA_KEYS), st.integers(),
                        min_size=1, max_size=2),
        st.fixed_dictionaries({}, optional={"metric": st.text(), "mode": st.text()}).filter(
            bool),
        st.fixed_dictionaries({"grace_period": st.one_of(st.integers(max_value=0),
                                                         st.text())}),
        st.fixed_dictionaries({"max_t": st.integers(max_value=0)}),
        st.fixed_dictionaries({"reduction_factor": st.one_of(
            st.floats(max_value=1, allow_nan=False), st.text())})),
        {"scheduler": "asha"}, ["scheduler_params"]),
    "data": (st.one_of(
        JUNK.filter(lambda v: not isinstance(v, tuple)),
        st.integers(0, 39).map(lambda k: (X, Y[:k])),
        st.just((X, Y, Y)), st.just((X,)), st.just((X.astype(str), Y)),
        st.just((X, Y.astype(object)))), {}, ["data"]),
    "validation_data": (st.one_of(
        JUNK.filter(lambda v: v is not None and not isinstance(v, tuple)),
        st.integers(1, 39).map(lambda k: (X[:k], Y))), {}, ["validation_data"]),
    "driver_budget_mb": (st.one_of(st.floats(max_value=-1e-9), st.integers(max_value=-1),
                                   NOT_REAL), {}, ["driver_budget_mb"]),
    "feature_cols": (JUNK.filter(lambda v: v is not None), {}, ["feature_cols"]),
    "label_cols": (JUNK.filter(lambda v: v is not None), {}, ["label_cols"]),
}


def fit_args(**kwargs):
    args = {"data": (X, Y), "epochs": 1, "metric": "accuracy", "verbose": 0,
            "search_space": {"lr": hp.choice([0.01])}}
    args.update(kwargs)
    return args


def estimator(tmp_path, **kwargs):
    args = {"model_creator": linear, "optimizer": "Adam", "loss": "CrossEntropyLoss",
            "logs_dir": str(tmp_path), "name": NAME}
    args.update(kwargs)
    return AutoEstimator.from_torch(**args)


def test_valid_baseline_reaches_cluster_work(tmp_path, no_cluster):
    """The arguments the cases start from are valid: fit gets as far as starting Ray."""
    for extra in ({}, {"scheduler": "asha"}):
        with pytest.raises(ReachedClusterWork):
            estimator(tmp_path).fit(**fit_args(**extra))
    assert ray.is_initialized() == no_cluster  # not started here (may be up from before)


@pytest.mark.parametrize("arg", sorted(FIT_CASES))
def test_fit_rejects_one_malformed_argument(tmp_path, no_cluster, arg):
    strategy, extra, names = FIT_CASES[arg]

    @fuzz_settings(40)
    @given(bad=strategy)
    def check(bad):
        est = estimator(tmp_path)
        expect_user_error(lambda: est.fit(**fit_args(**extra, **{arg: bad})), names,
                          f"{arg}={bad!r}")
        assert ray.is_initialized() == no_cluster  # not started here (may be up from before)
        assert not (tmp_path / NAME).exists()

    check()


# --------------------------------------------------------------------------- from_torch


def _optimizer_names():
    from zoo_tune.estimator._torch import _optimizer_names

    return set(_optimizer_names())


def _loss_names():
    from zoo_tune.estimator._torch import _loss_names

    return set(_loss_names())


def _path_case():
    return st.one_of(JUNK.filter(lambda v: v is not None and not isinstance(v, str)),
                     st.just(""))


FROM_TORCH_CASES = {
    "model_creator": (JUNK, ["model_creator"]),
    "optimizer": (st.one_of(st.text().filter(lambda s: s not in _optimizer_names()), NOT_STR),
                  ["optimizer"]),
    "loss": (st.one_of(st.text().filter(lambda s: s not in _loss_names()), NOT_STR), ["loss"]),
    "logs_dir": (_path_case(), ["logs_dir"]),
    "name": (_path_case(), ["name"]),
    "remote_dir": (_path_case(), ["remote_dir"]),
    "keep_checkpoints": (st.one_of(st.integers(max_value=0),
                                   NOT_INT.filter(lambda v: v is not None)),
                         ["keep_checkpoints"]),
    "resources_per_trial": (st.one_of(
        JUNK.filter(lambda v: v is not None and not isinstance(v, Mapping)),
        st.dictionaries(st.text().filter(lambda k: k not in ("cpu", "gpu", "memory")),
                        st.integers(1, 4), min_size=1, max_size=2),
        st.fixed_dictionaries({"cpu": st.one_of(st.floats(max_value=0.999, allow_nan=False,
                                                          allow_infinity=False),
                                                NOT_REAL)}),
        st.fixed_dictionaries({"cpu": st.just(1), "gpu": st.floats(max_value=-1e-9,
                                                                   allow_nan=False)})),
        ["resources_per_trial"]),
}


@pytest.mark.parametrize("arg", sorted(FROM_TORCH_CASES))
def test_from_torch_rejects_one_malformed_argument(tmp_path, no_cluster, arg):
    strategy, names = FROM_TORCH_CASES[arg]

    @fuzz_settings(40)
    @given(bad=strategy)
    def check(bad):
        expect_user_error(lambda: estimator(tmp_path, **{arg: bad}), names, f"{arg}={bad!r}")
        assert ray.is_initialized() == no_cluster  # not started here (may be up from before)

    check()


# --------------------------------------------------------------------------- hp

#: Valid keyword arguments of every hp function that takes numbers.
HP_VALID = {
    hp.uniform: {"lower": 0, "upper": 1},
    hp.quniform: {"lower": 0, "upper": 1, "q": 0.25},
    hp.loguniform: {"lower": 1e-3, "upper": 1, "base": 10},
    hp.qloguniform: {"lower": 1e-3, "upper": 1, "q": 1e-3, "base": 10},
    hp.randn: {"mean": 0, "sd": 1},
    hp.qrandn: {"mean": 0, "sd": 1, "q": 0.5},
    hp.randint: {"lower": 0, "upper": 10},
    hp.qrandint: {"lower": 0, "upper": 10, "q": 2},
    hp.choice_n: {"categories": [1, 2, 3], "min_items": 1, "max_items": 2},
}
INT_FNS = (hp.randint, hp.qrandint, hp.choice_n)
HP_ARGS = [(fn, arg) for fn, args in HP_VALID.items() for arg in args if arg != "categories"]


def names_of(*args):
    """How an hp message cites an argument: `lower` (or `lower > 0`), or lower=0.5."""
    return [form for arg in args for form in (f"`{arg}", f"{arg}=")]


def test_hp_valid_baseline():
    for fn, args in HP_VALID.items():
        assert isinstance(fn(**args), hp.Param)


@fuzz_settings(300)
@given(case=st.sampled_from(HP_ARGS), data=st.data())
def test_hp_rejects_a_non_number(no_cluster, case, data):
    fn, arg = case
    bad = data.draw(st.one_of(NOT_INT, NON_FINITE) if fn in INT_FNS else
                    st.one_of(NOT_REAL, NON_FINITE), label=arg)
    expect_user_error(lambda: fn(**{**HP_VALID[fn], arg: bad}), names_of(arg),
                      f"hp.{fn.__name__}({arg}={bad!r})")


FINITE = st.floats(-1e6, 1e6, allow_nan=False)
POS_Q = st.floats(0.01, 100)


@st.composite
def _reversed_bounds(draw):
    fn = draw(st.sampled_from([hp.uniform, hp.quniform, hp.loguniform, hp.qloguniform]))
    a, b = draw(FINITE), draw(FINITE)
    return fn, {**HP_VALID[fn], "lower": max(a, b), "upper": min(a, b)}, names_of("lower")


@st.composite
def _reversed_int_bounds(draw):
    fn = draw(st.sampled_from([hp.randint, hp.qrandint]))
    a, b = draw(st.integers(-10**9, 10**9)), draw(st.integers(-10**9, 10**9))
    if fn is hp.qrandint and a == b:
        a += 1
    return fn, {**HP_VALID[fn], "lower": max(a, b), "upper": min(a, b)}, names_of("lower")


@st.composite
def _non_positive(draw):
    fn, arg = draw(st.sampled_from([(hp.quniform, "q"), (hp.qloguniform, "q"),
                                    (hp.qrandn, "q"), (hp.randn, "sd"), (hp.qrandn, "sd"),
                                    (hp.loguniform, "lower"), (hp.qloguniform, "lower"),
                                    (hp.qrandint, "q")]))
    value = draw(st.integers(max_value=0) if fn is hp.qrandint else
                 st.floats(max_value=0, allow_nan=False, allow_infinity=False))
    return fn, {**HP_VALID[fn], arg: value}, names_of(arg)


@st.composite
def _bad_base(draw):
    fn = draw(st.sampled_from([hp.loguniform, hp.qloguniform]))
    base = draw(st.one_of(st.floats(max_value=0, allow_nan=False, allow_infinity=False),
                          st.sampled_from([1, 1.0, np.float64(1)])))
    return fn, {**HP_VALID[fn], "base": base}, names_of("base")


@st.composite
def _no_multiple(draw):
    kind = draw(st.sampled_from([hp.quniform, hp.qloguniform, hp.qrandint]))
    if kind is hp.qrandint:
        q, k = draw(st.integers(3, 10**6)), draw(st.integers(-10**6, 10**6))
        return kind, {"lower": k * q + 1, "upper": k * q + q - 1, "q": q}, names_of("q")
    q = draw(POS_Q)
    k = draw(st.integers(0 if kind is hp.qloguniform else -1000, 1000))
    args = {"lower": (k + 0.1) * q, "upper": (k + 0.9) * q, "q": q}
    return kind, {**HP_VALID[kind], **args}, names_of("q")


@st.composite
def _too_wide(draw):
    fn = draw(st.sampled_from([hp.uniform, hp.quniform]))
    lower = draw(st.floats(-1.7e308, -1e308))
    upper = draw(st.floats(1e308, 1.7e308))
    return fn, {**HP_VALID[fn], "lower": lower, "upper": upper}, ["upper - lower"]


@st.composite
def _q_too_small(draw):
    """So many multiples of q in range that Ray's 64-bit grid index (or upper / q) overflows."""
    fn = draw(st.sampled_from([hp.quniform, hp.qloguniform]))
    q = draw(st.one_of(st.floats(1e-300, 1e3), st.floats(5e-324, 1e-300)))
    upper = min(q * draw(st.floats(2.0**64, 1e300)), 1e300)
    return fn, {**HP_VALID[fn], "lower": q, "upper": upper, "q": q}, names_of("q")


@st.composite
def _beyond_int64(draw):
    fn, arg = draw(st.sampled_from([(hp.randint, "upper"), (hp.randint, "lower"),
                                    (hp.qrandint, "upper"), (hp.qrandint, "lower"),
                                    (hp.qrandint, "q")]))
    big = draw(st.integers(2**63, 2**200))
    value = -big - 1 if arg == "lower" else big
    return fn, {**HP_VALID[fn], arg: value}, names_of(arg)


BAD_CATEGORIES = st.one_of(
    JUNK.filter(lambda v: isinstance(v, (str, bytes)) or not isinstance(
        v, (Sequence, np.ndarray))),
    st.sampled_from([[], (), np.array([]), range(0), np.array(3.0)]))


@st.composite
def _bad_categories(draw):
    fn = draw(st.sampled_from([hp.choice, hp.grid_search, hp.choice_n]))
    arg = "values" if fn is hp.grid_search else "categories"
    extra = {"min_items": 1, "max_items": 1} if fn is hp.choice_n else {}
    return fn, {arg: draw(BAD_CATEGORIES), **extra}, names_of(arg)


@st.composite
def _bad_item_counts(draw):
    n = draw(st.integers(1, 5))
    lo, hi = draw(st.integers(-3, 8)), draw(st.integers(-3, 8))
    if 1 <= lo <= hi <= n:
        hi = n + 1
    return hp.choice_n, {"categories": list(range(n)), "min_items": lo, "max_items": hi}, (
        names_of("min_items"))


BROKEN_RULES = st.one_of(
    _reversed_bounds(), _reversed_int_bounds(), _non_positive(), _bad_base(), _no_multiple(),
    _too_wide(), _q_too_small(), _beyond_int64(), _bad_categories(), _bad_item_counts(),
    st.tuples(st.just(hp.sample_from), JUNK.map(lambda v: {"func": v}),
              st.just(names_of("func"))))


@fuzz_settings(300)
@given(case=BROKEN_RULES)
def test_hp_rejects_broken_rules(no_cluster, case):
    fn, kwargs, names = case
    expect_user_error(lambda: fn(**kwargs), names, f"hp.{fn.__name__}(**{kwargs!r})")


CATEGORY_ITEMS = st.one_of(
    st.integers(), st.floats(allow_nan=False), st.text(max_size=3),
    st.sampled_from([np.float32(0.5), np.int64(3), np.bool_(False), np.array([1, 2]),
                     np.array([[0.5], [1.5]]), np.array(7)]))
WIDE_NUMBER = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**64), 2**64),
    st.floats(-1e3, 1e3), st.floats(1e-320, 1e-300), st.sampled_from([Fraction(1, 3),
                                                                      np.float32(0.5)]))


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # qrandn's huge draws
@fuzz_settings(300)
@given(fn=st.sampled_from([*HP_VALID, hp.choice, hp.grid_search]), data=st.data())
def test_whatever_hp_accepts_samples_on_the_driver(no_cluster, fn, data):
    """hp either rejects the arguments or returns a Param that fit can sample on the driver
    (``_sample_config``, before any trial) and write as JSON: no raw Ray/numpy error later."""
    from ray.tune.search.variant_generator import generate_variants

    kwargs = {}
    for name in inspect.signature(fn).parameters:
        if name in ("categories", "values"):
            kwargs[name] = data.draw(st.lists(CATEGORY_ITEMS, min_size=1, max_size=4),
                                     label=name)
        elif fn in INT_FNS:
            kwargs[name] = data.draw(st.integers(-(2**64), 2**64) | st.integers(-10, 10),
                                     label=name)
        else:
            kwargs[name] = data.draw(WIDE_NUMBER, label=name)
    try:
        param = fn(**kwargs)
    except ZooTuneError as err:
        assert_user_error(err, names_of(*kwargs))
        return
    space = {"p": param}
    configs = [config for _, config in generate_variants(hp.to_ray_space(space))]
    assert configs and "p" in configs[0]
    assert hp.space_from_json(hp.space_to_json(space)) == space
