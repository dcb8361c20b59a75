"""ASHA against FIFO on the same 32 configs: epochs spent and best validation accuracy.

A small MLP (64 -> hidden -> 10, Adam, batch 32) on scikit-learn's digits (1797 8x8 images,
shipped with scikit-learn; 80/20 stratified split, seed 0), every config of the fixed grid
``lr`` (8 values) x ``hidden`` (4 values) for up to ``--epochs`` epochs (9), through zoo_tune
``fit`` twice on one Ray: ``scheduler="fifo"`` (every trial runs every epoch) and
``scheduler="asha"`` (``grace_period=1``, ``reduction_factor=--reduction-factor``, ``max_t`` =
epochs). The 32 configs start in one fixed shuffled order (``--order sorted``: lr ascending,
ASHA's worst case). torch is seeded in the model creator, so a config trains the same way in
both runs; ASHA's decisions still depend on the order in which trials report (2 at once).

Goal: ASHA's best accuracy within 1 point of FIFO's, with at most 40% of FIFO's epochs.

    .venv/bin/python bench/asha_vs_fifo.py
    .venv/bin/python bench/asha_vs_fifo.py --smoke        # 2 x 2 configs, 3 epochs, 1 core
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np
from _common import (
    Timer,
    claim_stdout,
    emit,
    machine,
    markdown_table,
    quiet_ray_logs,
)

LRS = [float(v) for v in np.geomspace(1e-4, 1e-1, 8)]
HIDDEN = [8, 16, 32, 64]
GOAL_POINTS = 1.0
GOAL_EPOCH_SHARE = 0.4


def load_data(seed: int) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    xt, xv, yt, yv = train_test_split(x, digits.target, test_size=0.2, random_state=seed,
                                      stratify=digits.target)
    return (xt, yt), (xv, yv)


def make_model(config: dict[str, Any]) -> Any:
    import torch
    from torch import nn

    torch.manual_seed(int(config["seed"]))
    hidden = int(config["hidden"])
    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def config_list(args: argparse.Namespace) -> list[tuple[float, int]]:
    """The fixed ``(lr, hidden)`` grid, in the order trials start.

    ``sorted`` (lr ascending) is ASHA's worst case here: accuracy rises with ``lr`` over most
    of the grid, so nearly every trial beats the earlier ones at each rung and is promoted.
    ``shuffled`` is the same list permuted once with ``--seed``.
    """
    configs = [(lr, hidden) for lr in args.lrs for hidden in args.hidden]
    if args.order == "shuffled":
        configs = [configs[i] for i in np.random.default_rng(args.seed).permutation(len(configs))]
    return configs


def _pick(configs: list[tuple[float, int]], item: int, config: dict[str, Any]) -> Any:
    return configs[config["config_id"]][item]


def run(scheduler: str, args: argparse.Namespace, storage: str) -> dict[str, Any]:
    from zoo_tune import AutoEstimator, hp

    train, val = load_data(args.seed)
    configs = config_list(args)
    est = AutoEstimator.from_torch(model_creator=make_model, optimizer="Adam",
                                   loss="CrossEntropyLoss", logs_dir=storage, name=scheduler,
                                   resources_per_trial={"cpu": 1})
    params = None
    if scheduler == "asha":
        params = {"grace_period": 1, "reduction_factor": args.reduction_factor}
    space = {"config_id": hp.grid_search(list(range(len(configs)))),
             "lr": hp.sample_from(functools.partial(_pick, configs, 0)),
             "hidden": hp.sample_from(functools.partial(_pick, configs, 1)), "seed": args.seed}
    with Timer() as t:
        est.fit(train, validation_data=val, epochs=args.epochs, metric="accuracy",
                search_space=space, scheduler=scheduler, scheduler_params=params, verbose=0)
    table = est.get_trial_table()
    if not (table["status"] == "TERMINATED").all():
        raise RuntimeError(f"{scheduler}: trials failed: {table['error'].tolist()}")
    best = table.loc[table["best_accuracy"].idxmax()]
    return {"scheduler": scheduler, "trials": len(table),
            "epochs_total": int(table["epochs"].sum()),
            "best_accuracy": float(best["best_accuracy"]),
            "best_config": {"lr": float(best["config/lr"]), "hidden": int(best["config/hidden"])},
            "best_epoch": int(best["best_epoch"]), "wall_s": t.s,
            "epochs_histogram": {str(k): int(v) for k, v in
                                 table["epochs"].value_counts().sort_index().items()},
            "per_config_best": {f"{c['lr']:.3g}/{c['hidden']}": float(b) for c, b in
                                zip(table["config"], table["best_accuracy"])}}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=None, help="epochs per trial (9)")
    parser.add_argument("--reduction-factor", type=int, default=4)
    parser.add_argument("--order", choices=("shuffled", "sorted"), default="shuffled",
                        help="order trials start in (see config_list)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cores", type=int, default=None, help="Ray CPUs (nproc; smoke 1)")
    parser.add_argument("--smoke", action="store_true", help="4 configs, 3 epochs, 1 core")
    parser.add_argument("--markdown", help="write the Markdown table here, not to stderr")
    args = parser.parse_args(argv)
    args.lrs = [LRS[2], LRS[5]] if args.smoke else LRS
    args.hidden = [HIDDEN[0], HIDDEN[2]] if args.smoke else HIDDEN
    if args.epochs is None:
        args.epochs = 3 if args.smoke else 9
    if args.cores is None:
        args.cores = 1 if args.smoke else os.cpu_count() or 1
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    claim_stdout()
    from zoo_tune import init_context, stop_context

    ctx = init_context(cluster_mode="local", cores=args.cores)
    quiet_ray_logs()
    storage = tempfile.mkdtemp(prefix="bench_asha_vs_fifo_")
    try:
        runs = {}
        for scheduler in ("fifo", "asha"):
            print(f"[asha_vs_fifo] {scheduler} ...", file=sys.stderr, flush=True)
            runs[scheduler] = run(scheduler, args, storage)
    finally:
        shutil.rmtree(storage, ignore_errors=True)
        stop_context()
    fifo, asha = runs["fifo"], runs["asha"]
    points = 100 * (fifo["best_accuracy"] - asha["best_accuracy"])
    share = asha["epochs_total"] / fifo["epochs_total"]
    summary = {"accuracy_gap_points": points, "epoch_share": share,
               "goal": f"gap <= {GOAL_POINTS} point, epochs <= {GOAL_EPOCH_SHARE:.0%} of FIFO",
               "goal_met": points <= GOAL_POINTS and share <= GOAL_EPOCH_SHARE}
    result = {"benchmark": "asha_vs_fifo", "machine": machine(),
              "settings": {"configs": len(args.lrs) * len(args.hidden), "lrs": args.lrs,
                           "hidden": args.hidden, "epochs": args.epochs, "seed": args.seed,
                           "order": args.order,
                           "reduction_factor": args.reduction_factor, "grace_period": 1,
                           "cores": args.cores, "smoke": args.smoke},
              "ray_startup_s": ctx.startup_s, "runs": runs, "summary": summary}
    rows = [[r["scheduler"], r["trials"], r["epochs_total"], r["best_accuracy"],
             f"lr={r['best_config']['lr']:.3g}, hidden={r['best_config']['hidden']}",
             r["best_epoch"], r["wall_s"]] for r in runs.values()]
    table = markdown_table(["scheduler", "trials", "epochs spent", "best val accuracy",
                            "best config", "its best epoch", "wall s"], rows)
    table += (f"\n\nASHA: {share:.0%} of FIFO's epochs, best accuracy {points:+.2f} points "
              f"below FIFO's (goal: <= {GOAL_POINTS:g} point with <= {GOAL_EPOCH_SHARE:.0%}): "
              f"{'met' if summary['goal_met'] else 'NOT met'}")
    emit(result, table, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
