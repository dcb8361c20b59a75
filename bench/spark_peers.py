"""Spark peers: ``overhead.py``'s job through Hyperopt's ``SparkTrials`` and through zoo_tune,
both on one Spark standalone cluster (master + 2 workers of 1 core on 127.0.0.1).

The job is ``overhead.py``'s, unchanged: N configs (``lr`` on the fixed log grid
``overhead.learning_rates(N)``), the tiny torch MLP (seeded), ``--epochs`` epochs over the same
``--rows`` x ``--features`` rows, one torch thread per trial, 2 trials at a time (one per
executor).

Contenders, each (contender, N) in its own Python process:

- ``zoo_tune``: ``init_context(cluster_mode="standalone", master=..., num_nodes=2, cores=1,
  memory=1 GiB, object_store_memory=256 MiB)`` (Ray head on the driver with no CPUs, a Ray
  worker node in each executor), then ``overhead.run_zoo_tune``: ``AutoEstimator.from_torch``
  and ``fit`` with ``hp.grid_search(lrs)``, ``resources_per_trial={"cpu": 1}``, logs in a local
  temp dir; then ``stop_context()``.
- ``hyperopt``: a SparkSession on the same master (``spark.executor.cores=1``,
  ``spark.cores.max=2``, the venv's python for the executors), then ``hyperopt.fmin`` with
  ``SparkTrials(parallelism=2, spark_session=...)``, ``max_evals=N`` and fmin's defaults
  (``max_queue_len=1``): one Spark job of one task per trial. The objective trains the same
  loop as ``overhead.train_trial`` and returns ``-best accuracy`` as the loss.
- ``hyperopt_queue``: the same with ``max_queue_len=2`` (= parallelism), which lets fmin hand
  the dispatcher two new trials per poll instead of one (both fmin and the SparkTrials
  dispatcher poll once a second).
- ``zoo_tune_mlflow``: ``zoo_tune`` with ``fit(mlflow_uri=...)`` on the same tracking server
  as ``mlflow_spark``: a parent run, a child run per trial, each epoch's metrics, the best
  model (what ``fit`` waits for at its end is in ``wall_s``).
- ``mlflow_spark``: MLflow 3's Optuna on Spark: a SparkSession as for ``hyperopt``, then
  ``MlflowSparkStudy(name, MlflowStorage(experiment_id), mlflow_tracking_uri=...,
  direction="maximize")`` with the N configs enqueued (``study.enqueue_trial({"lr": lr})``)
  and ``optimize(objective, n_trials=N, n_jobs=2)``: one Spark job of 2 tasks, each running
  N/2 trials in turn, every trial an MLflow run stored through a real ``mlflow server``
  (sqlite, on 127.0.0.1, started once by the script like the Spark cluster).
- ``ideal``: ``overhead.run_ideal``: every config trained in a plain warm loop, summed, / 2.

Exactly the N configs: Hyperopt has no grid search, and random draws from
``hp.choice("lr", lrs)`` would repeat some values and miss others. The space is
``hp.choice("lr", lrs)`` and the search algorithm is a deterministic enumeration
(:func:`enumerate_suggest`): trial ``tid`` gets choice index ``tid`` (tids are 0..N-1), so the
N trials train ``lrs[0]``..``lrs[N-1]`` once each. Every contender checks after its run that it
trained exactly the N expected values (and ``N x epochs`` epochs) and that no trial failed.

Times: ``wall_s`` is the tuning call alone (``fit`` / ``fmin``; includes each executor's
Python or Ray worker process starting and importing torch); ``startup_s`` is the cluster
start-up before it (``init_context`` / SparkSession until both executors registered);
``wall_with_startup_s`` is their sum; ``stop_s`` (``stop_context`` / ``spark.stop``) is
apart. The standalone cluster itself is started once (``cluster_start_s``) and shared. The
overheads are ``(wall - ideal) / N`` without and with start-up.

    .venv/bin/python bench/spark_peers.py                     # N = 20 100
    .venv/bin/python bench/spark_peers.py --trials 100 --repeat 2
    .venv/bin/python bench/spark_peers.py --master spark://127.0.0.1:7077
    .venv/bin/python bench/spark_peers.py --smoke
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import overhead
from _common import (
    SparkStandalone,
    Timer,
    claim_stdout,
    emit,
    git_state,
    machine,
    markdown_table,
    merge_repeats,
    run_worker,
    spark_app_markers,
    wait_processes_gone,
)

CONTENDERS = ("zoo_tune", "zoo_tune_mlflow", "hyperopt", "hyperopt_queue", "mlflow_spark")
#: Contenders that log to the MLflow server the script starts.
WITH_MLFLOW = ("zoo_tune_mlflow", "mlflow_spark")
NODE_MEMORY = 1024**3
OBJECT_STORE = 256 * 1024**2
EXECUTOR_TIMEOUT_S = 120.0


def ship_by_value(module: Any) -> None:
    """Pickle ``module``'s functions by value (Spark's, Ray's and plain cloudpickle): the
    executors cannot import ``bench/overhead.py``."""
    import importlib

    for name in ("cloudpickle", "ray.cloudpickle", "pyspark.cloudpickle"):
        try:
            importlib.import_module(name).register_pickle_by_value(module)
        except ImportError:
            pass


def enumerate_suggest(new_ids: Sequence[int], domain: Any, trials: Any, seed: int) -> list:
    """A Hyperopt search algorithm that enumerates a one-parameter ``hp.choice`` space:
    trial ``tid`` gets choice index ``tid``. Same signature as ``hyperopt.rand.suggest``."""
    (label,) = domain.params  # the space is {"lr": hp.choice("lr", lrs)}
    docs = []
    for tid in new_ids:
        misc = {"tid": tid, "cmd": domain.cmd, "workdir": domain.workdir,
                "idxs": {label: [tid]}, "vals": {label: [tid]}}
        docs.extend(trials.new_trial_docs([tid], [None], [domain.new_result()], [misc]))
    return docs


# --- hyperopt ------------------------------------------------------------------------------


def start_spark(master: str, parallelism: int) -> Any:
    """A SparkSession on ``master`` with ``parallelism`` one-core executors, waited for."""
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable  # the executors must import torch
    conf = {"spark.master": master, "spark.app.name": "bench_spark_peers_hyperopt",
            "spark.executor.cores": "1", "spark.cores.max": str(parallelism),
            "spark.executor.memory": "1g", "spark.pyspark.python": sys.executable,
            "spark.pyspark.driver.python": sys.executable,
            "spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
            "spark.ui.showConsoleProgress": "false"}
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    with Timer() as t_session:
        spark = builder.getOrCreate()
    spark.bench_timings = {"spark_session_s": t_session.s}
    begin = time.monotonic()
    tracker = spark.sparkContext._jsc.sc().statusTracker()
    deadline = time.monotonic() + EXECUTOR_TIMEOUT_S
    while len(tracker.getExecutorInfos()) - 1 < parallelism:  # minus the driver
        if time.monotonic() > deadline:
            raise RuntimeError(f"{parallelism} executors did not register in "
                               f"{EXECUTOR_TIMEOUT_S:.0f} s on {master}")
        time.sleep(0.2)
    spark.bench_timings["executors_s"] = time.monotonic() - begin
    return spark


def run_hyperopt(spark: Any, n: int, data: overhead.Data, epochs: int, features: int,
                 parallelism: int, max_queue_len: int) -> dict[str, Any]:
    """fmin over the N configs with SparkTrials; return what the trials trained."""
    import numpy as np
    from hyperopt import STATUS_OK, fmin, hp
    from hyperopt.spark import SparkTrials

    lrs = overhead.learning_rates(n)
    train_trial, seed = overhead.train_trial, overhead.SEED  # not the module: no _common

    def objective(lr: float) -> dict[str, Any]:
        config = {"lr": lr, "seed": seed, "features": features}
        epochs_run = []
        best = train_trial(config, data, epochs,
                           lambda epoch, acc, model: epochs_run.append(epoch))
        return {"loss": -best, "status": STATUS_OK, "lr": lr, "epochs": len(epochs_run),
                "pid": os.getpid()}

    trials = SparkTrials(parallelism=parallelism, spark_session=spark)
    fmin(objective, space=hp.choice("lr", lrs), algo=enumerate_suggest, max_evals=n,
         trials=trials, max_queue_len=max_queue_len, show_progressbar=False,
         rstate=np.random.default_rng(overhead.SEED))
    results = [t["result"] for t in trials.trials]
    if len(results) != n or trials.count_successful_trials() != n:
        errors = [t["misc"].get("error") for t in trials.trials if t["misc"].get("error")]
        raise AssertionError(f"{trials.count_successful_trials()} of {len(results)} trials "
                             f"succeeded, {n} expected; errors: {errors[:3]}")
    overhead._check_configs([r["lr"] for r in results], n)
    return {"epochs_run": sum(r["epochs"] for r in results),
            "executor_pids": len({r["pid"] for r in results})}


def run_mlflow_spark(spark: Any, n: int, data: overhead.Data, epochs: int, features: int,
                     parallelism: int, tracking_uri: str) -> dict[str, Any]:
    """MlflowSparkStudy over the N configs (enqueued); return what the trials trained."""
    import optuna
    from mlflow import MlflowClient
    from mlflow.optuna.storage import MlflowStorage
    from mlflow.pyspark.optuna.study import MlflowSparkStudy

    lrs = overhead.learning_rates(n)
    train_trial, seed = overhead.train_trial, overhead.SEED

    def objective(trial: Any) -> float:
        lr = trial.suggest_categorical("lr", lrs)
        epochs_run: list[int] = []
        best = train_trial({"lr": lr, "seed": seed, "features": features}, data, epochs,
                           lambda epoch, acc, model: epochs_run.append(epoch))
        trial.set_user_attr("epochs", len(epochs_run))
        trial.set_user_attr("pid", os.getpid())
        return best

    import mlflow

    mlflow.set_tracking_uri(tracking_uri)  # MlflowStorage's client takes the global URI
    name = f"bench_spark_peers_{n}_{os.getpid()}_{int(time.time())}"
    experiment_id = MlflowClient(tracking_uri).create_experiment(name)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = MlflowSparkStudy(name, MlflowStorage(experiment_id=experiment_id),
                             mlflow_tracking_uri=tracking_uri, direction="maximize")
    for lr in lrs:
        study.enqueue_trial({"lr": lr})
    study.optimize(objective, n_trials=n, n_jobs=parallelism)
    complete = optuna.trial.TrialState.COMPLETE
    deadline = time.monotonic() + 30  # MlflowStorage batches its writes (1 s flushes)
    while True:
        trials = study.trials
        done = [t for t in trials if t.state == complete]
        if len(done) >= n or time.monotonic() > deadline:
            break
        time.sleep(1)
    states: dict[str, int] = {}
    for t in trials:
        states[t.state.name] = states.get(t.state.name, 0) + 1
    lrs_done = sorted(t.params["lr"] for t in done)
    # Reported, not raised: a run that lost trials is a result too (and the row says so).
    return {"epochs_run": sum(t.user_attrs.get("epochs", 0) for t in done),
            "executor_pids": len({t.user_attrs.get("pid") for t in done}),
            "trial_states": states, "complete": len(done),
            "distinct_configs": len(set(lrs_done)),
            "configs_exact": lrs_done == sorted(lrs)}


def _stop_spark(spark: Any) -> None:
    """Stop the session and the driver JVM pyspark started (it exits on EOF of its stdin)."""
    from pyspark import SparkContext

    spark.stop()
    gateway = SparkContext._gateway
    proc = getattr(gateway, "proc", None)
    if gateway is not None:
        gateway.shutdown()
    if proc is not None:
        proc.stdin.close()
        proc.wait(timeout=30)
    SparkContext._gateway = SparkContext._jvm = None


# --- one contender in this process ---------------------------------------------------------


def run_one(contender: str, n: int, master: str, args: argparse.Namespace) -> dict[str, Any]:
    """``contender`` for ``n`` trials in this process: start, tune, stop, check leftovers."""
    ship_by_value(overhead)
    data = overhead.make_data(args.rows, args.features)
    row: dict[str, Any] = {"contender": contender, "trials": n}
    storage = tempfile.mkdtemp(prefix="bench_spark_peers_")
    markers: list[str | None] = []
    try:
        if contender in ("zoo_tune", "zoo_tune_mlflow"):
            from zoo_tune import init_context, stop_context

            ctx = init_context(cluster_mode="standalone", master=master,
                               num_nodes=args.parallelism, cores=1, memory=NODE_MEMORY,
                               object_store_memory=OBJECT_STORE)
            row["startup_s"] = ctx.startup_s
            row["startup_phases"] = dict(ctx.timings)
            from pyspark import SparkContext

            markers = [*spark_app_markers(SparkContext.getOrCreate()),
                       getattr(getattr(ctx, "_spark_ray", None), "temp_root", None)]
            try:
                with Timer() as t:
                    row["epochs_run"] = overhead.run_zoo_tune(
                        n, data, args.epochs, args.features, storage,
                        args.mlflow_uri if contender == "zoo_tune_mlflow" else None)
                row["wall_s"] = t.s
            finally:
                with Timer() as t_stop:
                    stop_context()
                row["stop_s"] = t_stop.s
        else:
            with Timer() as t_start:
                spark = start_spark(master, args.parallelism)
            row["startup_s"] = t_start.s
            row["startup_phases"] = spark.bench_timings
            markers = list(spark_app_markers(spark.sparkContext))
            try:
                with Timer() as t:
                    if contender == "mlflow_spark":
                        row.update(run_mlflow_spark(spark, n, data, args.epochs,
                                                    args.features, args.parallelism,
                                                    args.mlflow_uri))
                    else:
                        row.update(run_hyperopt(
                            spark, n, data, args.epochs, args.features, args.parallelism,
                            args.parallelism if contender == "hyperopt_queue" else 1))
                row["wall_s"] = t.s
            finally:
                with Timer() as t_stop:
                    _stop_spark(spark)
                row["stop_s"] = t_stop.s
    finally:
        shutil.rmtree(storage, ignore_errors=True)
    row["wall_with_startup_s"] = row["startup_s"] + row["wall_s"]
    row["markers"] = [m for m in markers if m]
    row["left_after_stop"] = wait_processes_gone(row["markers"], 30)
    return row


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, nargs="+", default=None,
                        help="trial counts N (default 20 100; smoke: 2)")
    parser.add_argument("--contenders", nargs="+", choices=CONTENDERS,
                        default=list(CONTENDERS))
    parser.add_argument("--master", help="a running standalone master with 2 free 1-core "
                                         "slots; default: start one here (master + 2 workers)")
    parser.add_argument("--parallelism", type=int, default=2,
                        help="executors / Ray worker nodes of 1 core = trials at a time")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per (contender, N), round robin; numbers are medians")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    parser.add_argument("--smoke", action="store_true", help="tiny run: N=2, 1 epoch")
    parser.add_argument("--markdown", help="write the Markdown table here, not to stderr")
    parser.add_argument("--mlflow-uri", help="mlflow_spark: a running tracking server; "
                                             "default: start one here (sqlite)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.trials is None:
        args.trials = [2] if args.smoke else [20, 100]
    if args.smoke:
        args.epochs = 1
    return args


def _worker_args(args: argparse.Namespace, contender: str, n: int, master: str) -> list[str]:
    return ["--contenders", contender, "--trials", str(n), "--master", master,
            "--parallelism", str(args.parallelism), "--epochs", str(args.epochs),
            "--rows", str(args.rows), "--features", str(args.features),
            *(["--mlflow-uri", args.mlflow_uri] if args.mlflow_uri else [])]


def summarize(rows: list[dict[str, Any]]) -> None:
    """``overhead.summarize`` (ideal, overhead and trials/s from ``wall_s``), plus the
    overhead per trial counting the cluster start-up."""
    overhead.summarize(rows)
    for r in rows:
        r["overhead_with_startup_ms_per_trial"] = None
        if r["ideal_s"] is not None and "wall_with_startup_s" in r:
            r["overhead_with_startup_ms_per_trial"] = (
                1000 * (r["wall_with_startup_s"] - r["ideal_s"]) / r["trials"])


def _configs(row: dict[str, Any]) -> str:
    """What a contender trained: ``N exact, E epochs``, or what it missed."""
    if row.get("configs_exact", True) and row.get("complete", row["trials"]) == row["trials"]:
        return f"{row['trials']} exact, {int(row['epochs_run'])} epochs"
    return (f"{int(row['complete'])} of {row['trials']} complete "
            f"({int(row['distinct_configs'])} distinct), {int(row['epochs_run'])} epochs, "
            f"states {row.get('trial_states')}")


def table(rows: list[dict[str, Any]]) -> str:
    headers = ["contender", "N", "runs", "wall s (trials only)", "wall s (min)", "start-up s",
               "wall s incl. start-up", "ideal s", "overhead ms/trial",
               "overhead ms/trial incl. start-up", "trials/s", "stop s", "configs"]
    body = []
    for r in rows:
        ideal = r["contender"] == "ideal"
        body.append([r["contender"], r["trials"], r["repeats"], r["wall_s"], r["wall_s_min"],
                     r.get("startup_s"), r.get("wall_with_startup_s"), r["ideal_s"],
                     r["overhead_ms_per_trial"], r["overhead_with_startup_ms_per_trial"],
                     r["trials_per_s"], r.get("stop_s"),
                     "" if ideal else _configs(r)])
    return markdown_table(headers, body)


def _run_all(args: argparse.Namespace, contenders: list[str], data: overhead.Data,
             runs: list[dict[str, Any]]) -> SparkStandalone:
    """Every (contender, N) in its own process on one standalone cluster; rows into ``runs``."""
    with SparkStandalone(args.master, workers=args.parallelism, cores=1) as cluster:
        for n in args.trials:
            total, _ = overhead.run_ideal(n, data, args.epochs, args.features)
            runs.append({"contender": "ideal", "trials": n, "wall_s": total / args.parallelism,
                         "epochs_run": n * args.epochs})
            for repeat in range(args.repeat):  # round robin: load drifts hit all alike
                for contender in contenders:
                    print(f"[spark_peers] {contender} N={n} (run {repeat + 1}/{args.repeat}) "
                          "...", file=sys.stderr, flush=True)
                    row = run_worker(__file__, _worker_args(args, contender, n, cluster.master),
                                     args.timeout)
                    row["left_after_exit"] = wait_processes_gone(row["markers"], 30)
                    runs.append(row)
    return cluster


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    claim_stdout()
    if args.worker:
        emit(run_one(args.contenders[0], args.trials[0], args.master, args), None, None)
        return 0
    contenders = [c for c in CONTENDERS if c in args.contenders]
    runs: list[dict[str, Any]] = []
    data = overhead.make_data(args.rows, args.features)
    server = None
    if set(WITH_MLFLOW) & set(contenders) and not args.mlflow_uri:
        from zoo_tune.tracking import MlflowServer

        server = MlflowServer(tempfile.mkdtemp(prefix="bench_spark_peers_mlflow_")).start()
        args.mlflow_uri = server.uri
    try:
        cluster = _run_all(args, contenders, data, runs)
    finally:
        if server is not None:
            server.stop()
            shutil.rmtree(server.folder, ignore_errors=True)
    rows = merge_repeats(runs, ("contender", "trials"))
    _finish(args, contenders, runs, rows, cluster)
    return 0


def _finish(args: argparse.Namespace, contenders: list[str], runs: list[dict[str, Any]],
            rows: list[dict[str, Any]], cluster: Any) -> None:
    summarize(rows)
    for row in rows:  # every process any run left behind, not a median
        row["left_processes"] = sum(
            len(r.get("left_after_stop", [])) + len(r.get("left_after_exit", []))
            for r in runs if (r["contender"], r["trials"]) == (row["contender"], row["trials"]))
    info = machine()
    for module in ("pyspark", "hyperopt") + (("mlflow", "optuna") if set(WITH_MLFLOW) &
                                              set(contenders) else ()):
        info[module] = __import__(module).__version__
    result = {
        "benchmark": "spark_peers",
        "machine": info,
        "settings": {"trials": args.trials, "contenders": contenders, "epochs": args.epochs,
                     "rows": args.rows, "features": args.features,
                     "parallelism": args.parallelism, "repeat": args.repeat,
                     "smoke": args.smoke, "master": args.master,
                     "cluster_start_s": cluster.start_s, "time": time.time(), "git": git_state()},
        "runs": runs,
        "results": rows,
    }
    emit(result, table(rows), args.markdown)


if __name__ == "__main__":
    sys.exit(main())
