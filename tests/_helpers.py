"""Small real jobs shared by the registry contract tests."""

from __future__ import annotations

#: A continuous space every searcher can express.
SMALL_SPACE_BOUNDS = {"lr": (0.005, 0.2), "momentum": (0.5, 0.95)}


def sgd_creator(model, config):
    import torch

    return torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=config["momentum"])


def small_linear(config):
    from torch import nn

    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def assert_contract(est, metric="accuracy", check_bounds=True, min_trials=4):
    """Trials ran inside the space, reported the metric, and the best is one of them."""
    table = est.get_trial_table()
    assert len(table) >= min_trials
    assert (table["status"] == "TERMINATED").all(), table["error"].tolist()
    assert all(len(h) >= 1 and all(v == v for v in h) for h in table[f"{metric}_history"])
    if check_bounds:
        for config in table["config"]:
            for key, (lower, upper) in SMALL_SPACE_BOUNDS.items():
                assert lower <= config[key] <= upper, (key, config)
    assert est.get_best_config() in table["config"].tolist()
    return table
