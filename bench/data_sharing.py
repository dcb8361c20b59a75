"""Memory of 4 concurrent zoo_tune trials reading one large numpy dataset.

zoo_tune puts numpy data into Ray's object store once per ``fit``; every trial reads it
zero-copy. This measures what that costs in memory: a ``--mb`` MiB float32 dataset (rows of
``--features`` floats plus int64 labels), ``--trials`` trials of a linear torch model, one
CPU each, all running at once on ``init_context(cores=--cores)`` (4 one-CPU trials on this
2-core machine: Ray's CPUs are logical slots).

A sampler thread sums the PSS (proportional set size: shared pages split between the
processes mapping them, so the object store's shared memory counts once) of the driver and
every process under it (Ray's services including the raylet that holds the object store,
and the trial workers) every 0.2 s. The same run with a tiny dataset (``--baseline-mb``)
gives the processes' baseline. Goal: ``peak < 1.5 x dataset + baseline peak``.

``--input arrays`` (default) passes the caller's numpy ``(x, y)``, which the caller keeps
alive during ``fit``: that copy and the object store's make 2 x by themselves. ``--input
ref`` makes the dataset in a Ray task and passes its ``ObjectRef``: zoo_tune uses that object
as it is, so the data exists once.

Each run (baseline, dataset) is its own process with its own Ray (``--isolation process``,
the default) or both run one after the other on one Ray in this process (``shared``, the
``--smoke`` default).

    .venv/bin/python bench/data_sharing.py --mb 500
    .venv/bin/python bench/data_sharing.py --mb 500 --input ref
    .venv/bin/python bench/data_sharing.py --smoke        # 20 MiB, 2 trials
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from _common import (
    MemorySampler,
    Timer,
    claim_stdout,
    emit,
    machine,
    markdown_table,
    quiet_ray_logs,
    run_worker,
)

SEED = 0
CLASSES = 10
GOAL_X = 1.5


def make_data(mb: float, features: int) -> tuple[np.ndarray, np.ndarray]:
    """``mb`` MiB of float32 features (generated in place, no float64 temporary) + labels."""
    rows = max(64, int(mb * 2**20 / (features * 4)))
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((rows, features), dtype=np.float32)
    y = rng.integers(0, CLASSES, size=rows, dtype=np.int64)
    return x, y


def make_model(config: dict[str, Any]) -> Any:
    import torch
    from torch import nn

    torch.manual_seed(SEED)
    return nn.Linear(int(config["features"]), CLASSES)


def start_ray(cores: int) -> float:
    from zoo_tune import init_context

    ctx = init_context(cluster_mode="local", cores=cores)
    quiet_ray_logs()
    return ctx.startup_s


def measure(mb: float, args: argparse.Namespace) -> dict[str, Any]:
    """One fit over an ``mb`` MiB dataset on the running Ray; memory sampled throughout."""
    from zoo_tune import AutoEstimator, hp

    xv, yv = make_data(1, args.features)
    if args.input == "ref":
        import ray

        # The caller's data is made in a Ray task: it exists once, in the object store.
        train: Any = ray.remote(num_cpus=0)(make_data).remote(mb, args.features)
        ray.wait([train])
        rows = max(64, int(mb * 2**20 / (args.features * 4)))
        dataset_mb = rows * (args.features * 4 + 8) / 2**20
    else:
        x, y = make_data(mb, args.features)
        train = (x, y)
        dataset_mb = (x.nbytes + y.nbytes) / 2**20
    storage = tempfile.mkdtemp(prefix="bench_data_sharing_")
    try:
        with MemorySampler(args.interval) as sampler:
            time.sleep(3 * args.interval)
            idle_mb = sampler.sample()[0]
            est = AutoEstimator.from_torch(model_creator=make_model, optimizer="SGD",
                                           loss="CrossEntropyLoss", logs_dir=storage,
                                           name=f"data_{mb:g}mb",
                                           resources_per_trial={"cpu": 1})
            lrs = [float(v) for v in np.geomspace(1e-3, 1e-1, args.trials)]
            with Timer() as t:
                est.fit(train, validation_data=(xv, yv), epochs=args.epochs,
                        metric="accuracy", verbose=0,
                        search_space={"lr": hp.grid_search(lrs), "batch_size": args.batch_size,
                                      "features": args.features})
        table = est.get_trial_table()
    finally:
        shutil.rmtree(storage, ignore_errors=True)
    if not (table["status"] == "TERMINATED").all() or len(table) != args.trials:
        raise RuntimeError(f"trials failed: {table['error'].tolist()}")
    return {"dataset_mb": dataset_mb, "requested_mb": mb, "fit_s": t.s,
            "peak_total_mb": sampler.peak_mb, "peak_parts_mb": sampler.peak_parts,
            "peak_worker_uss_mb": sampler.peak_worker_uss_mb,
            "before_fit_mb": idle_mb, "max_worker_processes": sampler.max_workers,
            "max_busy_workers": sampler.max_busy_workers, "samples": sampler.samples,
            "trials": len(table)}


def run_in_this_process(mb: float, args: argparse.Namespace) -> dict[str, Any]:
    from zoo_tune import stop_context

    startup = start_ray(args.cores)
    try:
        row = measure(mb, args)
    finally:
        stop_context()
    row["ray_startup_s"] = startup
    return row


def _worker_args(args: argparse.Namespace, mb: float) -> list[str]:
    return ["--mb", str(mb), "--trials", str(args.trials), "--cores", str(args.cores),
            "--epochs", str(args.epochs), "--features", str(args.features),
            "--batch-size", str(args.batch_size), "--interval", str(args.interval),
            "--input", args.input]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=None, help="dataset MiB (500; smoke 20)")
    parser.add_argument("--baseline-mb", type=float, default=1.0)
    parser.add_argument("--trials", type=int, default=None, help="concurrent trials (4)")
    parser.add_argument("--cores", type=int, default=None,
                        help="Ray CPUs, logical slots (default: --trials)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--features", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--interval", type=float, default=0.2, help="sampling period, s")
    parser.add_argument("--isolation", choices=("process", "shared"), default=None)
    parser.add_argument("--input", choices=("arrays", "ref"), default="arrays",
                        help="arrays: fit((x, y)) with the caller's numpy arrays; ref: "
                             "fit(ray.put-style ObjectRef) made in a Ray task, no driver copy")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per worker")
    parser.add_argument("--smoke", action="store_true",
                        help="20 MiB, 2 trials, 1 epoch, one shared Ray")
    parser.add_argument("--markdown", help="write the Markdown table here, not to stderr")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.mb is None:
        args.mb = 20.0 if args.smoke else 500.0
    if args.trials is None:
        args.trials = 2 if args.smoke else 4
    if args.cores is None:
        args.cores = args.trials
    if args.smoke:
        args.epochs = 1
    if args.isolation is None:
        args.isolation = "shared" if args.smoke else "process"
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    claim_stdout()
    if args.worker:
        emit(run_in_this_process(args.mb, args), None, None)
        return 0
    runs: dict[str, dict[str, Any]] = {}
    if args.isolation == "process":
        for label, mb in (("baseline", args.baseline_mb), ("dataset", args.mb)):
            print(f"[data_sharing] {label}: {mb:g} MiB ...", file=sys.stderr, flush=True)
            runs[label] = run_worker(__file__, _worker_args(args, mb), args.timeout)
    else:
        from zoo_tune import stop_context

        startup = start_ray(args.cores)
        try:
            for label, mb in (("baseline", args.baseline_mb), ("dataset", args.mb)):
                print(f"[data_sharing] {label}: {mb:g} MiB ...", file=sys.stderr, flush=True)
                runs[label] = {**measure(mb, args), "ray_startup_s": startup}
        finally:
            stop_context()
    base, data = runs["baseline"], runs["dataset"]
    added = data["peak_total_mb"] - base["peak_total_mb"]
    dataset_mb = data["dataset_mb"]
    summary = {
        "dataset_mb": dataset_mb,
        "baseline_peak_mb": base["peak_total_mb"],
        "peak_total_mb": data["peak_total_mb"],
        "added_mb": added,
        "added_x_dataset": added / dataset_mb,
        "goal_x": GOAL_X,
        "goal_met": data["peak_total_mb"] < GOAL_X * dataset_mb + base["peak_total_mb"],
        "input": args.input,
        # --input arrays: the caller's own (x, y) stays alive in the driver for the whole
        # fit, 1x by itself; --input ref: the caller's data is the object-store copy
        "added_beyond_callers_copy_x": (added - (dataset_mb if args.input == "arrays" else 0))
                                       / dataset_mb,
        "workers_added_mb": (data["peak_parts_mb"]["worker"]
                             - base["peak_parts_mb"]["worker"]),
        # private (unshared) memory the trial workers gained: a copy per trial would be
        # trials x dataset here; zero-copy reads leave only batches and buffers
        "workers_private_added_mb": data["peak_worker_uss_mb"] - base["peak_worker_uss_mb"],
        "trials": data["trials"],
    }
    result = {"benchmark": "data_sharing", "machine": machine(),
              "settings": {k: v for k, v in vars(args).items() if k not in ("worker",)},
              "runs": runs, "summary": summary}
    parts = ("driver", "ray", "worker")
    rows = [[label, r["dataset_mb"], r["peak_total_mb"],
             *(r["peak_parts_mb"][p] for p in parts), r["peak_worker_uss_mb"],
             r["before_fit_mb"], r["max_busy_workers"], r["fit_s"]] for label, r in runs.items()]
    table = markdown_table(
        ["run", "dataset MiB", "peak total PSS MiB", "driver PSS", "Ray services PSS",
         "workers PSS", "workers USS", "before fit MiB", "busy trials (max)", "fit s"], rows)
    table += (f"\n\nadded by the dataset: {added:.0f} MiB = {summary['added_x_dataset']:.2f} x "
              f"dataset (goal < {GOAL_X} x: {'met' if summary['goal_met'] else 'NOT met'}); "
              f"beyond the caller's own copy: {summary['added_beyond_callers_copy_x']:.2f} x; "
              f"{data['trials']} trial workers' private memory (USS) grew "
              f"{summary['workers_private_added_mb']:.0f} MiB")
    emit(result, table, args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
