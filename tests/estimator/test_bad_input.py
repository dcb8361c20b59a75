"""Every bad input raises before any trial starts, naming the parameter, rule and choices."""

from __future__ import annotations

import numpy as np
import pytest
from torch import nn

from zoo_tune import AutoEstimator, hp
from zoo_tune.errors import (
    AlreadyFittedError,
    InvalidInputError,
    InvalidTypeError,
    NotFittedError,
)

X = np.random.default_rng(0).normal(size=(40, 4)).astype(np.float32)
Y = (X[:, 0] > 0).astype(np.int64)
SPACE = {"lr": hp.choice([0.01])}


def linear(config):
    return nn.Linear(4, 2)


def make(tmp_path, **kwargs):
    args = {"model_creator": linear, "optimizer": "Adam", "loss": "CrossEntropyLoss",
            "logs_dir": str(tmp_path), "name": "never"}
    args.update(kwargs)
    return AutoEstimator.from_torch(**args)


def assert_both(err_info, base):
    assert isinstance(err_info.value, base) and isinstance(err_info.value, RuntimeError)


def test_unknown_optimizer_name_suggests_the_real_one(tmp_path):
    with pytest.raises(InvalidInputError, match=r"Unknown optimizer 'ADAM'.*Did you mean 'Adam'"
                       ) as info:
        make(tmp_path, optimizer="ADAM")
    assert "'SGD'" in str(info.value)  # valid choices listed
    assert_both(info, ValueError)


def test_unknown_loss_name_lists_losses(tmp_path):
    with pytest.raises(InvalidInputError, match=r"Unknown loss 'MAELoss'.*'L1Loss'") as info:
        make(tmp_path, loss="MAELoss")
    assert_both(info, ValueError)


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"metric": lambda t, p: 0.0}, InvalidInputError, "needs `metric_mode`"),
        ({"metric": "acuracy"}, InvalidInputError, r"Unknown metric 'acuracy'.*'accuracy'"),
        ({"metric": "accuracy", "metric_mode": "maximize"}, InvalidInputError,
         r"`metric_mode` must be one of \['min', 'max'\]"),
        ({"metric": "accuracy", "metric_mode": "min"}, InvalidInputError, "optimised with mode"),
        ({"metric": "mse", "mode": "min", "metric_mode": "max"}, InvalidInputError, "alias"),
        ({"search_space": {}}, InvalidInputError, "must not be empty"),
        ({"search_space": None}, InvalidInputError, "`search_space` is required"),
        ({"search_space": [("lr", 0.1)]}, InvalidTypeError, "must be a dict"),
        ({"search_space": {1: 0.1}}, InvalidTypeError, "keys must be strings"),
        ({"n_sampling": 0}, InvalidInputError, r"`n_sampling >= 1` \(or -1\)"),
        ({"n_sampling": -2}, InvalidInputError, "n_sampling"),
        ({"n_sampling": -1}, InvalidInputError, "time_budget_s"),
        ({"epochs": 0}, InvalidInputError, "`epochs >= 1`"),
        ({"epochs": 1.5}, InvalidTypeError, "`epochs` must be an int"),
        ({"data": (X, Y[:30])}, InvalidInputError, r"same number of rows.*\[40\].*\[30\]"),
        ({"data": (X, Y, Y)}, InvalidInputError, r"must be \(x, y\)"),
        ({"data": "train.csv"}, InvalidTypeError, "creator config -> DataLoader"),
        ({"validation_data": (X[:5], Y)}, InvalidInputError, "validation_data"),
        ({"scheduler": "asha2"}, InvalidInputError, r"Unknown scheduler 'asha2'.*'fifo'"),
        ({"search_alg": "grid"}, InvalidInputError, r"Unknown search_alg 'grid'.*'random'"),
        ({"scheduler": "asha", "scheduler_params": {"grace": 1}}, InvalidInputError,
         r"Unknown key 'grace'.*'grace_period'"),
        ({"scheduler": "asha", "scheduler_params": {"metric": "x"}}, InvalidInputError,
         "must not set 'metric'"),
        ({"metric_threshold": "high"}, InvalidTypeError, "metric_threshold"),
        ({"feature_cols": ["a"]}, InvalidInputError, "DataFrame"),
        ({"node_cache_mb": -1}, InvalidInputError, r"`node_cache_mb` must be a number of MiB"),
        ({"node_cache_mb": "2g"}, InvalidTypeError, r"`node_cache_mb`.*'2g'"),
        ({"node_cache_mb": float("nan")}, InvalidInputError, "node_cache_mb"),
    ],
)
def test_fit_rejects_bad_input_before_trials(tmp_path, kwargs, error, pattern):
    est = make(tmp_path)
    args = {"data": (X, Y), "search_space": SPACE, "metric": "accuracy", "verbose": 0}
    args.update(kwargs)
    with pytest.raises(error, match=pattern) as info:
        est.fit(**args)
    assert_both(info, ValueError if error is InvalidInputError else TypeError)
    assert not (tmp_path / "never").exists()  # no experiment was started


def test_model_creator_wrong_type_is_fatal_once(tmp_path):
    calls = []

    def bad_creator(config):
        calls.append(config)
        return "not a model"

    est = make(tmp_path, model_creator=bad_creator)
    with pytest.raises(InvalidTypeError, match="Expected `model_creator` to return a "
                       "torch.nn.Module. Received: 'not a model' of type str"):
        est.fit((X, Y), search_space=SPACE, n_sampling=4, metric="accuracy", verbose=0)
    assert len(calls) == 1  # reported once, not by four failing trials
    assert not (tmp_path / "never").exists()


def test_optimizer_creator_wrong_type_is_fatal(tmp_path):
    est = make(tmp_path, optimizer=lambda model, config: "sgd")
    with pytest.raises(InvalidTypeError, match="`optimizer` creator to return a torch.optim"):
        est.fit((X, Y), search_space=SPACE, metric="accuracy", verbose=0)


def test_results_before_fit(tmp_path):
    est = make(tmp_path)
    for getter in (est.get_best_model, est.get_best_config, est.get_trial_table):
        with pytest.raises(NotFittedError, match="call fit"):
            getter()


def test_resources_per_trial_checked(tmp_path):
    with pytest.raises(InvalidInputError, match=r"Unknown key 'cpus'.*\['cpu', 'gpu', 'memory'\]"):
        make(tmp_path, resources_per_trial={"cpus": 2})
    with pytest.raises(InvalidInputError, match=r"`resources_per_trial\['cpu'\] >= 1`"):
        make(tmp_path, resources_per_trial={"cpu": 0})
    with pytest.raises(InvalidInputError, match="`keep_checkpoints >= 1`"):
        make(tmp_path, keep_checkpoints=0)


@pytest.mark.usefixtures("ray_local")
def test_trial_larger_than_any_node(tmp_path):
    est = make(tmp_path, resources_per_trial={"cpu": 64})
    with pytest.raises(InvalidInputError, match=r"asks for \{'cpu': 64\}.*Node sizes: \[\{"):
        est.fit((X, Y), search_space=SPACE, metric="accuracy", verbose=0)
    assert not (tmp_path / "never").exists()


@pytest.mark.usefixtures("ray_local")
def test_second_fit_raises_and_failed_fit_keeps_estimator_usable(tmp_path):
    est = make(tmp_path, name="ok")
    with pytest.raises(InvalidInputError):
        est.fit((X, Y), search_space={}, metric="accuracy", verbose=0)
    est.fit((X, Y), search_space=SPACE, metric="accuracy", verbose=0)  # still usable
    assert est.get_best_config() == {"lr": 0.01}
    with pytest.raises(AlreadyFittedError, match="create a new one"):
        est.fit((X, Y), search_space=SPACE, metric="accuracy", verbose=0)
