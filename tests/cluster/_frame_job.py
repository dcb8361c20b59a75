"""A Spark job as users write one: read Parquet with the job's session, tune on its executors.

    scripts/zoo-tune-submit --master spark://... --num-nodes 2 tests/cluster/_frame_job.py \
        TRAIN_URI LOGS_DIR [DRIVER_BUDGET_MB]

``init_context(cluster_mode="spark-submit")`` puts a Ray node in two executors (the third is
the spare one Spark's jobs run in); ``spark.read.parquet`` reads the data, ``fit`` tunes 4
trials on the executors' Ray nodes with a 20 % validation split, the DataFrame staged as
Parquet under LOGS_DIR when it is over DRIVER_BUDGET_MB (default 512), and the best model's
predictions are written back with Spark. A thread lists the node caches while ``fit`` runs.
One JSON line on stdout, last.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

import numpy as np


def model_creator(config):
    import ray
    from torch import nn

    record_dir = os.environ.get("ZOO_TUNE_RECORD_DIR")
    if record_dir:
        with open(os.path.join(record_dir, f"{os.getpid()}-{time.time_ns()}.json"), "w") as f:
            json.dump({"node_id": ray.get_runtime_context().get_node_id(),
                       "pid": os.getpid()}, f)
    return nn.Sequential(nn.Linear(64, config["hidden"]), nn.ReLU(),
                         nn.Linear(config["hidden"], 10))


def node_caches(seen: set, stop: threading.Event) -> None:
    import ray

    while not stop.wait(0.3):
        try:
            seen.update(a["name"] for a in ray.util.list_named_actors(True)
                        if a["name"].startswith("zoo_tune_node_cache"))
        except Exception:  # noqa: BLE001 - a busy GCS: the next look counts
            pass


def main() -> None:
    import logging

    import ray
    import torch
    from pyspark.sql import functions as F

    from zoo_tune import AutoEstimator, hp, init_context, stop_context

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("zoo_tune").setLevel(logging.INFO)
    train_uri, logs_dir = sys.argv[1], sys.argv[2]
    budget = float(sys.argv[3]) if len(sys.argv) > 3 else 512.0
    ctx = init_context(cluster_mode="spark-submit")
    spark = ctx.spark
    df = spark.read.parquet(train_uri)  # a schema job: it needs a free task slot
    rows = df.count()
    head = [n["NodeID"] for n in ray.nodes()
            if n["Alive"] and "node:__internal_head__" in n["Resources"]]
    est = AutoEstimator.from_torch(model_creator=model_creator, optimizer="Adam",
                                   loss="CrossEntropyLoss", logs_dir=logs_dir, name="frame_job")
    seen: set = set()
    stop = threading.Event()
    watcher = threading.Thread(target=node_caches, args=(seen, stop), daemon=True)
    watcher.start()
    start = time.monotonic()
    est.fit(df, feature_cols=["pixels"], label_cols=["label"], validation_split=0.2, epochs=3,
            metric="accuracy", driver_budget_mb=budget,
            search_space={"hidden": hp.grid_search([32, 64]), "lr": hp.grid_search([3e-3, 1e-2])})
    fit_s = time.monotonic() - start
    stop.set()
    table = est.get_trial_table()
    meta_path = f"{est.experiment_path}/zoo_tune_experiment.json"
    with est._storage.filesystem.open_input_stream(meta_path) as f:
        meta = json.loads(f.read())
    # The user's own Spark job after fit: the best model's predictions, written with Spark.
    model = est.get_best_model().eval()
    sample = df.limit(200).toPandas()
    with torch.no_grad():
        pred = model(torch.tensor(np.stack(sample["pixels"]), dtype=torch.float32)).argmax(1)
    out_uri = f"{logs_dir.rstrip('/')}/predictions.parquet"
    (spark.createDataFrame([(int(p), int(t)) for p, t in zip(pred, sample["label"])],
                           ["prediction", "label"]).write.mode("overwrite").parquet(out_uri))
    written = spark.read.parquet(out_uri)
    agree = written.filter(F.col("prediction") == F.col("label")).count() / written.count()
    executors = spark.sparkContext._jsc.sc().statusTracker().getExecutorInfos()
    summary = {"rows": rows, "nodes": ctx.ray_worker_nodes, "executors": len(executors) - 1,
               "head": head, "statuses": sorted(table["status"]),
               "best_accuracy": float(table["best_accuracy"].max()), "fit_s": fit_s,
               "data": meta["data"], "caches": sorted(seen), "predicted": written.count(),
               "prediction_accuracy": agree, "startup_s": ctx.startup_s,
               "driver_pid": os.getpid()}
    stop_context()
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
