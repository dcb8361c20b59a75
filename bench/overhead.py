"""Per-trial overhead: zoo_tune against hand-written Ray Tune, Ray Tune defaults and Optuna.

Every contender trains exactly the same N configs (``lr`` on a fixed log grid, torch seeded
with 0 in the model creator) of a tiny torch MLP: ``--epochs`` epochs over ``--rows`` x
``--features`` float32 rows (Adam, batch 32, cross entropy), accuracy on a fixed validation set
reported after every epoch, one torch thread per trial, ``cores`` trials at a time.

Contenders:

- ``zoo_tune``: ``AutoEstimator.from_torch(...).fit(...)`` with ``hp.grid_search(lrs)``.
- ``ray_reuse``: a hand-written Ray Tune function trainable (``tune.with_parameters`` for
  the data, ``tune.report`` each epoch, no checkpoints) with ``reuse_actors=True``.
- ``ray_default``: the same trainable with Tune's defaults (``reuse_actors=False``: one new
  worker process, which imports torch, per trial). Slow: runs only up to
  ``--slow-max-trials`` trials (100 by default), larger N are listed as skipped.
- ``optuna``: in-process ``study.optimize(n_jobs=cores)`` (threads) over the enqueued grid,
  ``trial.report`` each epoch, in-memory storage.
- ``ideal``: the sum of every trial's training time measured in a plain, warm loop (one
  untimed trial first), divided by ``cores``: what a perfect scheduler with zero overhead
  would take.

Wall time is the tuning call alone (estimator or ``Tuner`` built, data shipped, all trials run,
results returned); Ray start-up (``ray.init`` / ``init_context``) is timed apart as
``ray_startup_s``. With ``--isolation process`` (the default) every (contender, N) pair runs in
its own Python process that starts and stops its own Ray, so peak RSS and Ray state are its
own; ``--isolation shared`` (``--smoke``'s default) runs everything in this process on one Ray
(driver peak RSS is then the process's peak so far).

    .venv/bin/python bench/overhead.py                       # N = 20, 100, 400
    .venv/bin/python bench/overhead.py --trials 100 --contenders zoo_tune ray_reuse ideal
    .venv/bin/python bench/overhead.py --smoke
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from _common import (
    Timer,
    claim_stdout,
    emit,
    machine,
    markdown_table,
    merge_repeats,
    peak_rss_mb,
    quiet_ray_logs,
    run_worker,
)

CONTENDERS = ("zoo_tune", "ray_reuse", "ray_default", "optuna", "ideal")
RAY_CONTENDERS = ("zoo_tune", "ray_reuse", "ray_default")
BATCH_SIZE = 32
SEED = 0

Data = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def make_data(rows: int, features: int) -> Data:
    """Two Gaussian blobs; ``rows`` training rows and ``rows // 4`` validation rows."""
    rng = np.random.default_rng(SEED)
    total = rows + max(1, rows // 4)
    y = rng.integers(0, 2, size=total)
    x = (rng.normal(size=(total, features)) + y[:, None]).astype(np.float32)
    return x[:rows], y[:rows].astype(np.int64), x[rows:], y[rows:].astype(np.int64)


def learning_rates(n: int) -> list[float]:
    """The N configs every contender trains: ``lr`` on a log grid, distinct values."""
    return [float(v) for v in np.geomspace(1e-3, 1e-1, n)]


def make_model(config: dict[str, Any]) -> Any:
    """The tiny MLP (features -> 16 -> 2); torch seeded by the config, same init everywhere."""
    import torch
    from torch import nn

    torch.manual_seed(int(config.get("seed", SEED)))
    features = int(config.get("features", 8))
    return nn.Sequential(nn.Linear(features, 16), nn.ReLU(), nn.Linear(16, 2))


def train_trial(config: dict[str, Any], data: Data, epochs: int,
                report: Callable[[int, float, Any], None]) -> float:
    """The plain torch loop of one trial (mirrors zoo_tune's torch backend); best accuracy.

    ``report(epoch, accuracy, model)`` runs after every epoch.
    """
    import torch

    torch.set_num_threads(1)
    with warnings.catch_warnings():  # object-store arrays are read-only; never written
        warnings.simplefilter("ignore", UserWarning)
        x, y, xv, yv = (torch.from_numpy(a) for a in data)
    model = make_model(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
    loss_fn = torch.nn.CrossEntropyLoss()
    best = 0.0
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(x))
        for start in range(0, len(x), BATCH_SIZE):
            idx = order[start:start + BATCH_SIZE]
            optimizer.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            accuracy = float((model(xv).argmax(1) == yv).double().mean())
        best = max(best, accuracy)
        report(epoch, accuracy, model)
    return best


def _ray_trainable(config: dict[str, Any], data: Data, epochs: int) -> None:
    from ray import tune

    train_trial(config, data, epochs,
                lambda epoch, acc, model: tune.report({"accuracy": acc, "epoch": epoch}))


def _space(n: int, features: int, grid: Callable[[list[float]], Any]) -> dict[str, Any]:
    return {"lr": grid(learning_rates(n)), "seed": SEED, "features": features}


def start_ray(contender: str, cores: int) -> float:
    """Start local Ray the way the contender's user would; return the seconds it took."""
    with Timer() as t:
        if contender == "zoo_tune":
            from zoo_tune import init_context

            init_context(cluster_mode="local", cores=cores)
        else:
            import ray

            ray.init(num_cpus=cores, include_dashboard=False)
    quiet_ray_logs()
    return t.s


def stop_ray() -> None:
    import ray

    from zoo_tune import stop_context

    stop_context()
    if ray.is_initialized():
        ray.shutdown()


def run_zoo_tune(n: int, data: Data, epochs: int, features: int, storage: str,
                 mlflow_uri: str | None = None) -> int:
    """``fit`` over the N configs (logged to MLflow at ``mlflow_uri`` when given)."""
    from zoo_tune import AutoEstimator, hp

    est = AutoEstimator.from_torch(model_creator=make_model, optimizer="Adam",
                                   loss="CrossEntropyLoss", logs_dir=storage,
                                   name=f"zoo_tune_{n}", resources_per_trial={"cpu": 1})
    est.fit((data[0], data[1]), validation_data=(data[2], data[3]), epochs=epochs,
            metric="accuracy", search_space=_space(n, features, hp.grid_search),
            verbose=0, mlflow_uri=mlflow_uri)
    table = est.get_trial_table()
    _check_configs(table["config/lr"].tolist(), n)
    assert (table["status"] == "TERMINATED").all(), table["error"].tolist()
    return int(table["epochs"].sum())


def run_ray(n: int, data: Data, epochs: int, features: int, storage: str,
            reuse_actors: bool | None) -> int:
    from ray import tune

    trainable = tune.with_resources(
        tune.with_parameters(_ray_trainable, data=data, epochs=epochs), {"cpu": 1})
    tune_config = tune.TuneConfig(metric="accuracy", mode="max")
    if reuse_actors is not None:
        tune_config.reuse_actors = reuse_actors
    tuner = tune.Tuner(trainable, param_space=_space(n, features, tune.grid_search),
                       tune_config=tune_config,
                       run_config=tune.RunConfig(name=f"ray_{n}", storage_path=storage,
                                                 verbose=0))
    results = tuner.fit()
    assert not results.errors, results.errors
    _check_configs([r.config["lr"] for r in results], n)
    return sum(int(r.metrics["training_iteration"]) for r in results)


def run_optuna(n: int, data: Data, epochs: int, features: int, cores: int) -> int:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    lrs = learning_rates(n)

    def objective(trial: Any) -> float:
        config = {"lr": trial.suggest_float("lr", lrs[0], lrs[-1], log=True), "seed": SEED,
                  "features": features}
        return train_trial(config, data, epochs,
                           lambda epoch, acc, model: trial.report(acc, epoch))

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(
        seed=SEED))
    for lr in lrs:
        study.enqueue_trial({"lr": lr})
    study.optimize(objective, n_trials=n, n_jobs=cores)
    _check_configs([t.params["lr"] for t in study.trials], n)
    return sum(len(t.intermediate_values) for t in study.trials)


def run_ideal(n: int, data: Data, epochs: int, features: int) -> tuple[float, list[float]]:
    """Train every config in a plain, warm loop; return the summed and per-trial seconds.

    One untimed trial runs first: torch's one-off first-use cost (seconds here) is paid once
    per process, by every Ray worker process too, and is no part of a trial's training time.
    """
    train_trial({"lr": 1e-2, "seed": SEED, "features": features}, data, epochs,
                lambda epoch, acc, model: None)
    times = []
    for lr in learning_rates(n):
        with Timer() as t:
            train_trial({"lr": lr, "seed": SEED, "features": features}, data, epochs,
                        lambda epoch, acc, model: None)
        times.append(t.s)
    return sum(times), times


def _check_configs(lrs: Sequence[float], n: int) -> None:
    expected = learning_rates(n)
    if sorted(round(v, 12) for v in lrs) != sorted(round(v, 12) for v in expected):
        raise AssertionError(f"trained {len(lrs)} configs, not the {n} expected ones")


def run_one(contender: str, n: int, epochs: int, rows: int, features: int, cores: int,
            start: bool) -> dict[str, Any]:
    """One contender for ``n`` trials in this process; start/stop Ray if ``start``."""
    data = make_data(rows, features)
    row: dict[str, Any] = {"contender": contender, "trials": n, "ray_startup_s": None}
    if contender in RAY_CONTENDERS and start:
        row["ray_startup_s"] = start_ray(contender, cores)
    storage = tempfile.mkdtemp(prefix=f"bench_overhead_{contender}_")
    try:
        with Timer() as t:
            if contender == "zoo_tune":
                epochs_run = run_zoo_tune(n, data, epochs, features, storage)
            elif contender in ("ray_reuse", "ray_default"):
                epochs_run = run_ray(n, data, epochs, features, storage,
                                     True if contender == "ray_reuse" else None)
            elif contender == "optuna":
                epochs_run = run_optuna(n, data, epochs, features, cores)
            else:
                total, times = run_ideal(n, data, epochs, features)
                epochs_run = n * epochs
                row["train_ms_per_trial"] = 1000 * total / n
                row["train_ms_per_trial_median"] = 1000 * float(np.median(times))
        row["wall_s"] = total / cores if contender == "ideal" else t.s
        row["epochs_run"] = epochs_run
        row["driver_peak_rss_mb"] = peak_rss_mb()
    finally:
        shutil.rmtree(storage, ignore_errors=True)
        if contender in RAY_CONTENDERS and start:
            stop_ray()
    return row


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, nargs="+", default=None,
                        help="trial counts N (default 20 100 400; smoke: 2)")
    parser.add_argument("--contenders", nargs="+", choices=CONTENDERS, default=list(CONTENDERS))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--cores", type=int, default=None,
                        help="Ray CPUs / Optuna n_jobs / ideal divisor (nproc; smoke: 1)")
    parser.add_argument("--slow-max-trials", type=int, default=100,
                        help="largest N ray_default runs (one new process per trial)")
    parser.add_argument("--isolation", choices=("process", "shared"), default=None,
                        help="one process and Ray per (contender, N), or all in this one "
                             "(default: process; smoke: shared)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per (contender, N), round robin; numbers are medians")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per worker")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny fast run: N=2, 1 epoch, 1 core, one shared Ray")
    parser.add_argument("--markdown", help="write the Markdown table here, not to stderr")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.trials is None:
        args.trials = [2] if args.smoke else [20, 100, 400]
    if args.cores is None:
        args.cores = 1 if args.smoke else os.cpu_count() or 1
    if args.smoke:
        args.epochs = 1
    if args.isolation is None:
        args.isolation = "shared" if args.smoke else "process"
    return args


def _worker_args(args: argparse.Namespace, contender: str, n: int) -> list[str]:
    return ["--contenders", contender, "--trials", str(n), "--epochs", str(args.epochs),
            "--rows", str(args.rows), "--features", str(args.features),
            "--cores", str(args.cores)]


def summarize(rows: list[dict[str, Any]]) -> None:
    """Add ideal wall, per-trial overhead and trials/s to every row (in place).

    ``overhead_ms_per_trial`` is ``(wall - ideal) / N``: fixed costs (worker processes
    importing torch, Tuner set-up, reading results back) spread over N trials.
    ``marginal_overhead_ms_per_trial`` is the slope against the contender's previous N,
    ``((wall - ideal)(N) - (wall - ideal)(N_prev)) / (N - N_prev)``: the steady per-trial cost.
    """
    ideal = {r["trials"]: r["wall_s"] for r in rows if r["contender"] == "ideal"}
    previous: dict[str, dict[str, Any]] = {}
    for r in sorted(rows, key=lambda r: r["trials"]):
        n = r["trials"]
        r["ideal_s"] = ideal.get(n)
        r["trials_per_s"] = n / r["wall_s"]
        excess = None if n not in ideal else r["wall_s"] - ideal[n]
        r["overhead_ms_per_trial"] = None if excess is None else 1000 * excess / n
        prev = previous.get(r["contender"])
        r["marginal_overhead_ms_per_trial"] = None
        if prev is not None and excess is not None and prev["trials"] < n:
            prev_excess = prev["wall_s"] - ideal[prev["trials"]]
            r["marginal_overhead_ms_per_trial"] = (1000 * (excess - prev_excess)
                                                   / (n - prev["trials"]))
        if excess is not None:
            previous[r["contender"]] = r


def table(rows: list[dict[str, Any]], skipped: list[dict[str, Any]]) -> str:
    headers = ["contender", "N", "wall s", "ideal s", "overhead ms/trial",
               "marginal ms/trial", "trials/s", "driver peak RSS MiB", "Ray start-up s"]
    body = [[r["contender"], r["trials"], r["wall_s"], r["ideal_s"], r["overhead_ms_per_trial"],
             r["marginal_overhead_ms_per_trial"], r["trials_per_s"], r["driver_peak_rss_mb"],
             r["ray_startup_s"]] for r in rows]
    body += [[s["contender"], s["trials"], "skipped", "", "", "", "", "", s["reason"]]
             for s in skipped]
    return markdown_table(headers, body)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    claim_stdout()
    if args.worker:
        row = run_one(args.contenders[0], args.trials[0], args.epochs, args.rows,
                      args.features, args.cores, start=True)
        emit(row, None, None)
        return 0
    contenders = [c for c in CONTENDERS if c in args.contenders or c == "ideal"]
    runs: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    shared_startup = None
    if args.isolation == "shared" and any(c in RAY_CONTENDERS for c in contenders):
        shared_startup = start_ray("zoo_tune", args.cores)
    try:
        for n in args.trials:
            if "ray_default" in contenders and n > args.slow_max_trials:
                skipped.append({"contender": "ray_default", "trials": n,
                                "reason": f"N > --slow-max-trials {args.slow_max_trials}"})
            for repeat in range(args.repeat):  # round robin: load drifts hit all alike
                for contender in contenders:
                    if contender == "ray_default" and n > args.slow_max_trials:
                        continue
                    print(f"[overhead] {contender} N={n} (run {repeat + 1}/{args.repeat}) ...",
                          file=sys.stderr, flush=True)
                    if args.isolation == "process":
                        row = run_worker(__file__, _worker_args(args, contender, n),
                                         args.timeout)
                    else:
                        row = run_one(contender, n, args.epochs, args.rows, args.features,
                                      args.cores, start=False)
                        if contender in RAY_CONTENDERS:
                            row["ray_startup_s"] = shared_startup
                    runs.append(row)
    finally:
        if shared_startup is not None:
            stop_ray()
    rows = merge_repeats(runs, ("contender", "trials"))
    summarize(rows)
    result = {
        "benchmark": "overhead",
        "machine": machine(),
        "settings": {"trials": args.trials, "epochs": args.epochs, "rows": args.rows,
                     "features": args.features, "cores": args.cores,
                     "isolation": args.isolation, "smoke": args.smoke, "repeat": args.repeat,
                     "slow_max_trials": args.slow_max_trials, "time": time.time()},
        "results": rows,
        "skipped": skipped,
    }
    emit(result, table(rows, skipped), args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
