"""A Spark executor JVM SIGKILLed while its Ray node runs a trial: the run completes."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.cluster._spark_helpers import run_script

pytest.importorskip("pyspark")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(shutil.which("java") is None and not os.environ.get("JAVA_HOME"),
                       reason="Spark needs Java"),
]

KILL_AN_EXECUTOR = """
import signal, threading

import numpy as np
import psutil
import ray

from zoo_tune import AutoEstimator, hp, init_context, stop_context

master, record_dir = sys.argv[1], sys.argv[2]
_TAG = {}


def model_creator(config):
    from torch import nn

    _TAG["tag"] = config["tag"]
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def slow_accuracy(y_true, y_pred):
    with open(os.path.join(record_dir, f"epochs_{_TAG['tag']}"), "a") as f:
        f.write(f"{os.getpid()}\\n")
    time.sleep(0.5)
    return float((np.asarray(y_pred).argmax(1) == y_true).mean())


def executor_of(pid):
    for proc in psutil.Process(pid).parents():
        if "CoarseGrainedExecutorBackend" in " ".join(proc.cmdline()):
            return proc
    return None


killed = {}


def kill_when_a_has_two_epochs():
    path = os.path.join(record_dir, "epochs_a")
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        lines = open(path).read().split() if os.path.exists(path) else []
        if len(lines) >= 2:
            jvm = executor_of(int(lines[1]))
            killed["trial_pid"], killed["jvm"] = int(lines[1]), jvm and jvm.pid
            if jvm is not None:
                jvm.send_signal(signal.SIGKILL)
            return
        time.sleep(0.05)


rng = np.random.default_rng(0)
y = rng.integers(0, 3, size=300)
x = (np.eye(3, 4)[y] * 2 + rng.normal(scale=0.6, size=(300, 4))).astype(np.float32)
ctx = init_context(cluster_mode="standalone", master=master, num_nodes=2, cores=1,
                   memory=1024**3, object_store_memory=256 * 1024**2)
app_id = ctx._spark_ray.spark.sparkContext.applicationId
temp_root = ctx._spark_ray.temp_root
watcher = threading.Thread(target=kill_when_a_has_two_epochs, daemon=True)
watcher.start()
slow_accuracy.__name__ = "acc"
est = AutoEstimator.from_torch(model_creator=model_creator, optimizer="Adam",
                               loss="CrossEntropyLoss", logs_dir=os.path.abspath("logs"),
                               name="executor_loss")
t = time.monotonic()
est.fit((x[:240], y[:240]), validation_data=(x[240:], y[240:]), epochs=6, metric=slow_accuracy,
        metric_mode="max", search_space={"tag": hp.grid_search(["a", "b", "c", "d"]),
                                         "lr": 0.01}, verbose=0)
fit_s = time.monotonic() - t
watcher.join(5)
table = est.get_trial_table()
alive_nodes = len([n for n in ray.nodes() if n["Alive"]])
stop_context()
print(json.dumps({
    "killed": killed, "fit_s": fit_s, "statuses": table["status"].tolist(),
    "epochs": table["epochs"].tolist(), "failures": table["failures"].tolist(),
    "tags": table["config/tag"].tolist(), "alive_nodes_at_end": alive_nodes,
    "left": ours_left(temp_root, app_id), "ray_initialized": ray.is_initialized(),
}))
"""


def test_killed_executor_costs_only_retries(spark_master, tmp_path):
    records = tmp_path / "records"
    records.mkdir()
    out = run_script(KILL_AN_EXECUTOR, tmp_path, spark_master, str(records), timeout=540)
    assert out["killed"].get("jvm"), out["killed"]  # the trial ran in an executor's Ray node
    assert out["statuses"] == ["TERMINATED"] * 4, out
    assert out["epochs"] == [6] * 4, out
    failures = dict(zip(out["tags"], out["failures"]))
    assert failures["a"] >= 1, out
    # Nothing of the run is left: no Ray process of it, no executor, no driver JVM.
    assert out["left"] == [] and out["ray_initialized"] is False, out["left"]
