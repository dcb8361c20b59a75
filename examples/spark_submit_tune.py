"""Tune an MLP on scikit-learn's digits with trials on Spark executors, launched by spark-submit.

The script runs as a Spark driver: ``init_context(cluster_mode="spark-submit")`` takes the
SparkSession spark-submit configured, starts a Ray worker node in each executor but the spare
one that runs Spark's own jobs (a Ray head with no trial CPUs here), and the trials run on
those nodes. On one machine::

    scripts/spark-standalone.sh start          # master + 2 workers x 2 cores on 127.0.0.1
    scripts/zoo-tune-submit --master spark://127.0.0.1:7077 --num-nodes 2 \\
        examples/spark_submit_tune.py
    scripts/spark-standalone.sh stop

or with plain spark-submit, the venv's bin first on PATH (spark-submit finds pyspark through
``python3``; measured here: 4 trials, accuracy ~0.95, ~70 s of which ~45 s start-up)::

    PATH=$PWD/.venv/bin:$PATH spark-submit --master spark://127.0.0.1:7077 \\
        examples/spark_submit_tune.py

That works on the cluster scripts/spark-standalone.sh starts, whose workers already give
executors the venv's bin on PATH and RAY_AUTH_MODE=disabled; elsewhere add what
conf/spark-defaults.standalone.conf lists (zoo-tune-submit does).

It prints the best config, its validation accuracy and, last, one JSON line with the trials.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from zoo_tune import AutoEstimator, hp, init_context, stop_context


def model_creator(config: dict):
    """An MLP over the 64 pixels; records where it was built when ZOO_TUNE_RECORD_DIR is set."""
    from torch import nn

    record_dir = os.environ.get("ZOO_TUNE_RECORD_DIR")
    if record_dir:  # which Ray node (inside which executor) ran this trial
        import ray

        with open(os.path.join(record_dir, f"{os.getpid()}-{time.time_ns()}.json"), "w") as f:
            json.dump({"node_id": ray.get_runtime_context().get_node_id(),
                       "pid": os.getpid()}, f)
    return nn.Sequential(nn.Linear(64, config["hidden"]), nn.ReLU(),
                         nn.Dropout(config["dropout"]), nn.Linear(config["hidden"], 10))


def load_data(seed: int = 0):
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.25, random_state=seed,
                                                      stratify=y)
    return (x_train, y_train), (x_val, y_val)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=4, help="trials to run (default 4)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per trial (default 4)")
    parser.add_argument("--logs-dir", default="/tmp/zoo_tune_logs",
                        help="where trials write results (a path every executor can reach, or "
                             "hdfs://...; default /tmp/zoo_tune_logs)")
    parser.add_argument("--smoke-test", action="store_true", help="2 trials, 1 epoch")
    args = parser.parse_args()
    trials, epochs = (2, 1) if args.smoke_test else (args.trials, args.epochs)

    train, val = load_data()
    start = time.monotonic()
    ctx = init_context(cluster_mode="spark-submit")
    try:
        print(f"Ray on Spark ({ctx.spark_master}): {ctx.ray_worker_nodes} worker nodes in "
              f"{ctx.startup_s:.0f} s")
        est = AutoEstimator.from_torch(model_creator=model_creator, optimizer="Adam",
                                       loss="CrossEntropyLoss", logs_dir=args.logs_dir,
                                       name="spark_submit_digits")
        est.fit(data=train, validation_data=val, epochs=epochs, n_sampling=trials,
                metric="accuracy", verbose=0,
                search_space={"hidden": hp.choice([32, 64]),
                              "dropout": hp.uniform(0.0, 0.2),
                              "lr": hp.loguniform(1e-3, 1e-2),
                              "batch_size": hp.choice([32, 64])})
        best_config = est.get_best_config()
        model = est.get_best_model()
        import torch

        with torch.no_grad():
            pred = model(torch.from_numpy(val[0])).argmax(dim=1).numpy()
        accuracy = float((pred == val[1]).mean())
        table = est.get_trial_table()
        print(f"best config: {best_config}")
        print(f"best validation accuracy: {accuracy:.4f}")
        summary = {"accuracy": accuracy, "best_config": best_config,
                   "statuses": table["status"].tolist(), "startup_s": ctx.startup_s,
                   "ray_worker_nodes": ctx.ray_worker_nodes, "master": ctx.spark_master,
                   "wall_s": time.monotonic() - start}
    finally:
        stop_context()
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
