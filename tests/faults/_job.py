"""A tuning script run as its own driver process by the resume and stop tests.

    python tests/faults/_job.py LOGS_DIR RECORD_DIR RUN_ID [SEARCH_ALG]

4 trials x 4 epochs, one CPU each: a grid over tags a-d, or with SEARCH_ALG (e.g. hyperopt)
4 samples of ``lr`` (the tag is the sampled lr); every epoch appends "<RUN_ID>:<pid>" to
RECORD_DIR/epochs_<tag>. The trial table goes to stdout as JSON. With
``ZOO_TUNE_TEST_HOLD=<tag>`` that trial's 4th epoch waits 120 s before its report (a driver
kill then lands in it). With ``ZOO_TUNE_TEST_MLFLOW=<uri>`` the fit logs to that MLflow URI.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time

import numpy as np
from torch import nn

from zoo_tune import AutoEstimator, hp, init_context, stop_context

_TAG: dict[str, str] = {}


def tag_of(config) -> str:
    return config["tag"] if "tag" in config else f"{config['lr']:.8f}"


def make_model(config):
    _TAG["tag"] = tag_of(config)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def slow_accuracy(y_true, y_pred, record_dir, run_id):
    with open(os.path.join(record_dir, f"epochs_{_TAG.get('tag', 'driver')}"), "a") as f:
        f.write(f"{run_id}:{os.getpid()}\n")
    hold = os.environ.get("ZOO_TUNE_TEST_HOLD")
    if hold and hold == _TAG.get("tag"):
        with open(os.path.join(record_dir, f"epochs_{hold}")) as f:
            if len(f.read().split()) == 4:
                time.sleep(120)
    time.sleep(0.5)
    return float((np.asarray(y_pred).argmax(1) == y_true).mean())


def main(logs_dir: str, record_dir: str, run_id: str, search_alg: str | None = None) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, size=300)
    x = (np.eye(4)[y] * 2 + rng.normal(scale=0.6, size=(300, 4))).astype(np.float32)
    metric = functools.partial(slow_accuracy, record_dir=record_dir, run_id=run_id)
    metric.__name__ = "acc"
    init_context(cluster_mode="local", cores=2, object_store_memory=200 * 1024**2)
    est = AutoEstimator.from_torch(model_creator=make_model, optimizer="Adam",
                                   loss="CrossEntropyLoss", logs_dir=logs_dir, name="resumable",
                                   resources_per_trial={"cpu": 1})
    space = {"tag": hp.grid_search(["a", "b", "c", "d"]), "lr": 0.01}
    sampled = {"search_space": {"lr": hp.loguniform(1e-3, 1e-1)}, "search_alg": search_alg,
               "n_sampling": 4}
    est.fit((x[:240], y[:240]), validation_data=(x[240:], y[240:]), epochs=4, metric=metric,
            metric_mode="max", verbose=1, mlflow_uri=os.environ.get("ZOO_TUNE_TEST_MLFLOW"),
            **(sampled if search_alg else {"search_space": space}))
    table = est.get_trial_table()
    print(json.dumps([{"tag": tag_of({k[len("config/"):]: r[k] for k in r.index
                                      if k.startswith("config/")}),
                       "status": r["status"], "epochs": r["epochs"],
                       "history": r["acc_history"], "failures": int(r["failures"])}
                      for _, r in table.iterrows()]))
    stop_context()


if __name__ == "__main__":
    main(*sys.argv[1:5])
