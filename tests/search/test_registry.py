"""Contract: every search algorithm name runs a small real tuning job."""

from __future__ import annotations

import pytest

from tests._helpers import assert_contract
from zoo_tune.errors import InvalidInputError, MissingDependencyError
from zoo_tune.search import SEARCH_ALGS, create_search_alg, search_alg_class

pytestmark = pytest.mark.usefixtures("ray_local")

#: Searchers whose library this test environment cannot install (documented in README).
NOT_INSTALLABLE = {"hebo"}
RUNNABLE = sorted(set(SEARCH_ALGS) - NOT_INSTALLABLE)


@pytest.mark.parametrize("name", RUNNABLE)
def test_every_search_alg_runs_a_real_job(small_job, name):
    kwargs = {"search_alg": name}
    if name == "bohb":
        kwargs["scheduler"] = "hb_bohb"
    est = small_job(name=f"search_{name}", **kwargs)
    assert_contract(est)


@pytest.mark.parametrize("name", sorted(NOT_INSTALLABLE))
def test_missing_library_names_the_package(name):
    with pytest.raises(MissingDependencyError, match=r"needs the package 'HEBO': pip install "
                       r"HEBO\.") as info:
        search_alg_class(name)
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, ImportError)


def test_names_are_case_insensitive_and_params_checked():
    assert search_alg_class("HyperOpt").__name__ == "HyperOptSearch"
    searcher = create_search_alg("optuna", {"seed": 3}, "accuracy", "max")
    assert (searcher.metric, searcher.mode) == ("accuracy", "max")
    with pytest.raises(InvalidInputError, match=r"Unknown key 'n_trials'.*Accepted keys: \["):
        create_search_alg("optuna", {"n_trials": 3}, "accuracy", "max")
    with pytest.raises(InvalidInputError, match=r"Unknown nevergrad optimizer 'OnePlus1'"):
        create_search_alg("nevergrad", {"optimizer": "OnePlus1"}, "accuracy", "max")


def test_searcher_instance_gets_fit_metric(small_job):
    from ray.tune.search.hyperopt import HyperOptSearch

    searcher = HyperOptSearch(random_state_seed=0)
    est = small_job(name="instance", search_alg=searcher)
    assert searcher.metric == "accuracy" and searcher.mode == "max"
    assert_contract(est)


@pytest.mark.slow
def test_reference_manual_bayesopt_example(small_job):
    """Section 4.2 of the Orca manual, as written (metric "mean_loss", mode="min")."""
    from zoo_tune import hp

    search_space = {"width": hp.uniform(0, 20), "height": hp.uniform(-100, 100),
                    "lr": 0.05, "momentum": 0.9}
    est = small_job(name="manual_bayesopt", search_space=search_space, metric="mean_loss",
                    mode="min", search_alg="bayesopt")
    table = assert_contract(est, metric="mean_loss", check_bounds=False)
    assert all(0 <= c["width"] <= 20 and -100 <= c["height"] <= 100 for c in table["config"])


@pytest.mark.slow
def test_reference_manual_skopt_asynchyperband_example(small_job):
    """Section 4.4 of the Orca manual, as written: skopt with AsyncHyperBand and its params."""
    from zoo_tune import hp

    scheduler_params = dict(
        max_t=50,
        grace_period=1,
        reduction_factor=3,
        brackets=3,
    )
    search_space = {"lr": hp.uniform(0.005, 0.2), "momentum": hp.uniform(0.5, 0.95)}
    est = small_job(name="manual_skopt", search_space=search_space, metric="mean_loss",
                    mode="min", search_alg="skopt", scheduler="AsyncHyperBand",
                    scheduler_params=scheduler_params)
    assert_contract(est, metric="mean_loss")
