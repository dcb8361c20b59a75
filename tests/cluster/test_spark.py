"""Ray on Spark: trials in Spark executors on a real standalone cluster and on local-cluster.

Only one Ray may run per process, and the session-wide ``ray_local`` fixture may hold one, so
every test that starts Ray runs its body in a fresh Python (``subprocess``) and asserts on the
JSON it prints last. The module's standalone cluster (master + 2 workers on 127.0.0.1, a free
port) comes from ``scripts/spark-standalone.sh``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("pyspark")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("java") is None and not os.environ.get("JAVA_HOME"),
                       reason="Spark needs Java"),
]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "spark-standalone.sh"
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_DEDUP_LOGS": "0",
       "PYSPARK_PYTHON": sys.executable}

# What every script below starts with: quiet logs, the lines that prove where things ran.
PRELUDE = """
import json, logging, os, sys, time
logging.basicConfig(level=logging.WARNING)
logging.getLogger("zoo_tune").setLevel(logging.INFO)
os.environ["RAY_AUTH_MODE"] = "disabled"


def ours_left(temp_root, app_id, timeout=30.0):
    '''Ray processes under temp_root, executors of app_id, JVM/ray children of this process.'''
    import psutil

    me = psutil.Process()
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for proc in psutil.process_iter(["pid", "cmdline"]):
            cmd = " ".join(proc.info["cmdline"] or ())
            if (temp_root and temp_root in cmd) or (app_id and app_id in cmd
                                                   and "ExecutorBackend" in cmd):
                left.append(cmd[:160])
        for child in me.children(recursive=True):
            try:
                cmd = " ".join(child.cmdline())
            except psutil.Error:
                continue
            if "java" in cmd or "ray" in cmd:
                left.append(cmd[:160])
        if not left or time.monotonic() > deadline:
            return sorted(set(left))
        time.sleep(0.5)
"""


def run_script(body: str, tmp_path: Path, *args: str, timeout: float = 240) -> dict:
    """Run PRELUDE + body in a fresh Python; return the JSON of its last stdout line."""
    script = tmp_path / "job.py"
    script.write_text(PRELUDE + textwrap.dedent(body))
    start = time.monotonic()
    out = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                         timeout=timeout, env=ENV, cwd=tmp_path)
    assert out.returncode == 0, (out.stdout[-3000:], out.stderr[-6000:])
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["wall_s"] = time.monotonic() - start
    return result


@pytest.fixture(scope="module")
def spark_master(tmp_path_factory):
    """A real Spark standalone cluster (master + 2 workers x 1 core) for this module."""
    run = tmp_path_factory.mktemp("spark_standalone")
    env = {**ENV, "ZOO_TUNE_SPARK_RUN": str(run), "ZOO_TUNE_SPARK_PORT": "0",
           "ZOO_TUNE_PYTHON": sys.executable, "ZOO_TUNE_SPARK_WORKER_MEMORY": "2g"}
    start = subprocess.run(["bash", str(SCRIPT), "start"], env=env, capture_output=True,
                           text=True, timeout=120)
    assert start.returncode == 0, start.stderr[-3000:]
    url = start.stdout.strip().splitlines()[-1]
    assert url.startswith("spark://127.0.0.1:")
    yield url
    stop = subprocess.run(["bash", str(SCRIPT), "stop"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert stop.returncode == 0, stop.stderr
    status = subprocess.run(["bash", str(SCRIPT), "status"], env=env, capture_output=True,
                            text=True, timeout=30)
    assert status.returncode == 3, status.stdout


STANDALONE_FIT = """
import numpy as np
import ray

from zoo_tune import AutoEstimator, hp, init_context, stop_context

master, record_dir = sys.argv[1], sys.argv[2]


def model_creator(config):
    import os

    import ray
    from torch import nn

    with open(os.path.join(record_dir, f"{os.getpid()}-{time.time_ns()}.json"), "w") as f:
        json.dump({"node_id": ray.get_runtime_context().get_node_id(), "pid": os.getpid()}, f)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def optimizer(model, config):
    import torch

    return torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=0.9)


rng = np.random.default_rng(0)
y = rng.integers(0, 3, size=300)
x = (np.eye(3, 4)[y] * 2 + rng.normal(scale=0.6, size=(300, 4))).astype(np.float32)
ctx = init_context(cluster_mode="standalone", master=master, num_nodes=2, cores=1,
                   memory=1024**3, object_store_memory=256 * 1024**2)
nodes = [n for n in ray.nodes() if n["Alive"]]
head = [n["NodeID"] for n in nodes if "node:__internal_head__" in n["Resources"]]
workers = {n["NodeID"]: n["Resources"] for n in nodes if n["NodeID"] not in head}
logs_dir = sys.argv[3] if len(sys.argv) > 3 else os.path.abspath("logs")
est = AutoEstimator.from_torch(model_creator=model_creator, optimizer=optimizer,
                               loss="CrossEntropyLoss", logs_dir=logs_dir, name="spark")
t = time.monotonic()
est.fit((x[:240], y[:240]), validation_data=(x[240:], y[240:]), epochs=1, n_sampling=4,
        metric="accuracy", search_space={"lr": hp.uniform(0.01, 0.2)}, verbose=0)
fit_s = time.monotonic() - t
table = est.get_trial_table()
best = est.get_best_model()
fs = est._storage.filesystem
stored = [p for p in table["logdir"]
          if fs.get_file_info(p + "/result.json").size and p.startswith(est._storage.path)]
app_id = ctx._spark_ray.spark.sparkContext.applicationId
temp_root = ctx._spark_ray.temp_root
t = time.monotonic()
stop_context()
stop_s = time.monotonic() - t
records = [json.load(open(os.path.join(record_dir, f))) for f in os.listdir(record_dir)]
print(json.dumps({
    "startup_s": ctx.startup_s, "timings": ctx.timings, "fit_s": fit_s, "stop_s": stop_s,
    "ray_worker_nodes": ctx.ray_worker_nodes, "head": head, "workers": workers,
    "statuses": table["status"].tolist(), "trials": len(table),
    "experiment": est.experiment_path, "stored_trials": len(stored),
    "best_model": type(best).__name__,
    "records": [r for r in records if r["pid"] != os.getpid()],
    "left": ours_left(temp_root, app_id), "ray_initialized": ray.is_initialized(),
}))
"""


def test_standalone_fit_runs_trials_on_two_executor_ray_nodes(spark_master, tmp_path,
                                                              request):
    records = tmp_path / "records"
    records.mkdir()
    try:  # trials in Spark executors write to the real HDFS when one can run here
        logs_dir = [f"{request.getfixturevalue('hdfs_cluster')[0]}/user/zt/spark"]
    except pytest.skip.Exception:
        logs_dir = []
    out = run_script(STANDALONE_FIT, tmp_path, spark_master, str(records), *logs_dir)
    assert out["stored_trials"] == 4
    if logs_dir:
        assert out["experiment"] == f"{logs_dir[0]}/spark"
    assert out["ray_worker_nodes"] == 2 and len(out["head"]) == 1
    assert all(r == {"CPU": 1.0, "memory": 1024.0**3, "object_store_memory": 256.0 * 1024**2}
               for r in ({k: v for k, v in res.items()
                          if k in ("CPU", "memory", "object_store_memory")}
                         for res in out["workers"].values())), out["workers"]
    assert out["trials"] == 4 and set(out["statuses"]) == {"TERMINATED"}, out["statuses"]
    assert out["best_model"] == "Sequential"
    # Every trial built its model on a Ray worker node in a Spark executor, never the head,
    # and the trials spread over both.
    trial_nodes = {r["node_id"] for r in out["records"]}
    assert len(out["records"]) >= 4
    assert trial_nodes <= set(out["workers"]) and out["head"][0] not in trial_nodes
    assert len(trial_nodes) >= 2, out["records"]
    # Nothing of ours left: Ray nodes, executors, the driver JVM.
    assert out["left"] == [] and out["ray_initialized"] is False
    assert out["startup_s"] < 120, out["timings"]


def test_local_cluster_smoke(tmp_path):
    body = """
    import ray

    from zoo_tune import init_context, stop_context

    ctx = init_context(cluster_mode="local-cluster", master="local-cluster[1,1,1024]",
                       memory=512 * 1024**2, object_store_memory=128 * 1024**2)
    nodes = [n for n in ray.nodes() if n["Alive"]]
    cpus = ray.cluster_resources().get("CPU")

    @ray.remote(num_cpus=1)
    def where():
        return ray.get_runtime_context().get_node_id()

    ran_on = ray.get(where.remote())
    head = [n["NodeID"] for n in nodes if "node:__internal_head__" in n["Resources"]]
    temp_root = ctx._spark_ray.temp_root
    stop_context()
    print(json.dumps({"startup_s": ctx.startup_s, "nodes": len(nodes), "cpus": cpus,
                      "on_head": ran_on in head, "master": ctx.spark_master,
                      "left": ours_left(temp_root, None)}))
    """
    out = run_script(body, tmp_path)
    assert out["master"] == "local-cluster[1,1,1024]"
    assert out["nodes"] == 2 and out["cpus"] == 1.0 and out["on_head"] is False
    assert out["left"] == []


def test_unreachable_master_fails_fast(tmp_path):
    body = """
    import socket

    from zoo_tune import init_context
    from zoo_tune.errors import InvalidInputError

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    errors, times = [], []
    # A closed port, and a master list none of whose hosts answers. (No "drops packets" case:
    # this sandbox accepts TCP connects to any outside address.)
    for master in (f"spark://127.0.0.1:{port}", f"spark://127.0.0.1:{port},localhost:{port}"):
        start = time.monotonic()
        try:
            init_context(cluster_mode="standalone", master=master)
        except InvalidInputError as err:
            errors.append(str(err))
        times.append(time.monotonic() - start)
    print(json.dumps({"port": port, "errors": errors, "times": times,
                      "jvm": "pyspark" in sys.modules}))
    """
    out = run_script(body, tmp_path, timeout=60)
    assert len(out["errors"]) == 2
    assert out["errors"][0].startswith(f"No Spark master answers at 127.0.0.1:{out['port']}")
    assert f"127.0.0.1:{out['port']}: Connection refused, localhost:{out['port']}" in \
        out["errors"][1]
    assert max(out["times"]) < 2, out["times"]
    assert out["jvm"] is False  # failed before any Spark work


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"cluster_mode": "stand-alone"},
         r"Unknown cluster_mode 'stand-alone'.*\['local', 'local-cluster', 'ray', "
         r"'spark-submit', 'standalone'\].*Did you mean 'standalone'"),
        ({"cluster_mode": "standalone"}, "needs `master` like 'spark://host:7077'"),
        ({"cluster_mode": "standalone", "master": "127.0.0.1:7077"},
         "needs `master` like 'spark://host:7077'"),
        ({"cluster_mode": "local-cluster", "master": "local[2]"}, "local-cluster\\[2,1,1024\\]"),
        ({"cluster_mode": "spark-submit", "master": "spark://h:1"}, "set there"),
        ({"cluster_mode": "local", "num_nodes": 2}, "belong to the Spark cluster modes"),
        ({"cluster_mode": "standalone", "master": "spark://h:1", "executor_memory": "lots"},
         "JVM memory string"),
        ({"cluster_mode": "standalone", "master": "spark://h:1", "address": "auto"},
         "belongs to cluster_mode='ray'"),
    ],
)
def test_bad_spark_settings_fail_before_cluster_work(kwargs, pattern):
    from zoo_tune import init_context
    from zoo_tune.errors import InvalidInputError

    start = time.monotonic()
    with pytest.raises(InvalidInputError, match=pattern):
        init_context(**kwargs)
    assert time.monotonic() - start < 2
