"""Contract: every scheduler name runs a small real tuning job; ASHA and PBT really act."""

from __future__ import annotations

import glob
import os

import pytest

from tests._helpers import assert_contract
from zoo_tune import hp
from zoo_tune.errors import InvalidInputError
from zoo_tune.schedulers import SCHEDULERS, create_scheduler, scheduler_class

pytestmark = pytest.mark.usefixtures("ray_local")

#: Schedulers that perturb configs: values may leave the initial ranges by design.
PERTURBING = {"pbt", "pb2"}


@pytest.mark.parametrize("name", sorted(set(SCHEDULERS) - {"pbt_replay"}))
def test_every_scheduler_runs_a_real_job(small_job, name):
    kwargs = {"scheduler": name, "epochs": 3}
    if name == "hb_bohb":
        kwargs["search_alg"] = "bohb"
    est = small_job(name=f"sched_{name}", **kwargs)
    assert_contract(est, check_bounds=name not in PERTURBING)


def test_pbt_replay_replays_a_pbt_policy(small_job, tmp_path):
    lrs = [0.0001, 0.0002, 0.05, 0.1]  # slow and fast trials: PBT always has one to clone
    first = small_job(name="pbt_source", scheduler="pbt", epochs=4, n_sampling=1,
                      search_space={"lr": hp.grid_search(lrs), "momentum": 0.9},
                      scheduler_params={"perturbation_interval": 1, "log_config": True,
                                        "synch": True, "hyperparam_mutations": {"lr": lrs}})
    policies = glob.glob(os.path.join(first.experiment_path, "pbt_policy_*.txt"))
    assert policies, os.listdir(first.experiment_path)
    with pytest.raises(InvalidInputError, match="n_sampling=1"):
        small_job(name="pbt_replay", scheduler="pbt_replay", epochs=4,
                  scheduler_params={"policy_file": policies[0]})
    est = small_job(name="pbt_replay", scheduler="pbt_replay", epochs=4, n_sampling=1,
                    scheduler_params={"policy_file": policies[0]})
    table = assert_contract(est, check_bounds=False, min_trials=1)
    import json

    with open(policies[0], encoding="utf-8") as f:
        last_change = [json.loads(line) for line in f][-1]
    # The replayed trial ends on the policy's last config, changed after its step.
    assert table["config"][0] == last_change[-1]
    assert table["epochs"][0] > last_change[3]


def test_case_insensitive_names_and_aliases():
    assert scheduler_class("AsyncHyperBand") is scheduler_class("async_hyperband")
    assert scheduler_class("ASHA").__name__ == "AsyncHyperBandScheduler"
    sched = create_scheduler("asha", {"grace_period": 1}, "accuracy", "max", epochs=7)
    assert (sched._metric, sched._mode, sched._max_t) == ("accuracy", "max", 7)


def test_hb_bohb_needs_bohb(small_job):
    with pytest.raises(InvalidInputError, match="must be paired with search_alg='bohb'"):
        small_job(name="mismatch", scheduler="hb_bohb")


def test_pbt_defaults_come_from_space():
    space = {"lr": hp.loguniform(1e-3, 1e-1), "layers": hp.grid_search([1, 2]), "k": 3}
    pbt = create_scheduler("pbt", None, "loss", "min", epochs=8, space=space)
    assert set(pbt._hyperparam_mutations) == {"lr"}
    assert pbt._perturbation_interval == 2
    pb2 = create_scheduler("pb2", None, "loss", "min", epochs=8, space=space)
    assert pb2._hyperparam_bounds == {"lr": [1e-3, 1e-1]}


def test_asha_stops_poor_trials_early(small_job):
    """Same 8 configs under FIFO and ASHA: ASHA spends fewer epochs, finds the same best.

    ASHA stops a trial at a rung only when it is below the rung's quantile of the results
    recorded *before* it, so the grid lists the fast learners first: they reach each rung
    before any slow one, and every slow trial meets a cutoff it is below. In the other order
    each trial could (and once in CI did) beat the ones before it and run all 6 epochs.
    """
    configs = [{"lr": lr, "momentum": 0.9} for lr in
               (0.1, 0.05, 0.002, 0.001, 0.0005, 0.0003, 0.0002, 0.0001)]
    space = {"lr": hp.grid_search([c["lr"] for c in configs]), "momentum": 0.9}
    runs = {}
    for scheduler in ("fifo", "asha"):
        est = small_job(name=f"cmp_{scheduler}", scheduler=scheduler, epochs=6, n_sampling=1,
                        search_space=space,
                        scheduler_params={"grace_period": 1, "reduction_factor": 3}
                        if scheduler == "asha" else None)
        runs[scheduler] = est.get_trial_table()
    fifo, asha = runs["fifo"], runs["asha"]
    assert fifo["epochs"].sum() == 8 * 6
    assert asha["epochs"].sum() < fifo["epochs"].sum()
    assert (asha["epochs"] < 6).any()
    best_lr = lambda t: t.loc[t["best_accuracy"].idxmax(), "config"]["lr"]  # noqa: E731
    assert best_lr(asha) >= 0.05 and best_lr(fifo) >= 0.05


def test_pbt_exploited_trials_continue_from_restored_weights(small_job):
    import pandas as pd

    lrs = [0.0001, 0.0002, 0.05, 0.1]  # a grid: both slow and fast trials, every run
    est = small_job(name="pbt_exploit", scheduler="pbt", epochs=6, n_sampling=1,
                    search_space={"lr": hp.grid_search(lrs), "momentum": 0.9},
                    scheduler_params={"perturbation_interval": 2, "quantile_fraction": 0.25,
                                      "resample_probability": 0.0, "synch": True,
                                      "hyperparam_mutations": {"lr": lrs}})
    table = est.get_trial_table()
    # PBT writes pbt_policy_<trial>.txt for every trial that cloned a better one.
    policies = glob.glob(os.path.join(est.experiment_path, "pbt_policy_*.txt"))
    exploited = {os.path.basename(p)[len("pbt_policy_"):-len(".txt")] for p in policies}
    assert exploited, "PBT exploited no trial"
    jumps = []
    for _, row in table.iterrows():
        progress = pd.read_csv(os.path.join(row["logdir"], "progress.csv"))
        # Iterations continue 1..6 (a restored trial does not restart at 1) ...
        assert progress["training_iteration"].tolist() == list(range(1, 7))
        assert progress["epoch"].tolist() == list(range(1, 7))
        assert row["accuracy_history"] == pytest.approx(progress["accuracy"].tolist())
        if row["trial_id"] in exploited:
            history = row["accuracy_history"]
            jumps.append(max(history[i + 1] - history[i] for i in (1, 3)))
    # ... and an exploited slow trial carries on from the donor's trained weights: its
    # accuracy jumps right after the perturbation instead of climbing from scratch.
    assert max(jumps) > 0.2, table["accuracy_history"].tolist()


def test_pbt_and_asha_timeline_plot(small_job, tmp_path):
    from PIL import Image

    from zoo_tune.plots import exploit_events, save_plots

    lrs = [0.0001, 0.0002, 0.05, 0.1]
    est = small_job(name="pbt_plot", scheduler="pbt", epochs=4, n_sampling=1,
                    search_space={"lr": hp.grid_search(lrs), "momentum": 0.9},
                    scheduler_params={"perturbation_interval": 2, "synch": True,
                                      "resample_probability": 0.0,
                                      "hyperparam_mutations": {"lr": lrs}})
    events = exploit_events(est)
    ids = set(est.get_trial_table()["trial_id"])
    assert events and all(t in ids and d in ids and t != d and 1 <= s <= 4
                          for t, d, s in events)
    paths = save_plots(est, str(tmp_path / "plots"))
    timeline = Image.open([p for p in paths if p.endswith("trial_timeline.png")][0])
    pixels = timeline.convert("RGB").getdata()
    assert sum(1 for r, g, b in pixels if r > 190 and g < 70 and b < 70) > 20  # red exploits
