"""Spark 4: the main path (a Spark DataFrame tuned on the executors of the same application) on
PyPI's newest pyspark 4, in local-cluster, standalone and yarn-client; RayDP and Spark Connect
refused before any work. (The yarn-client test is in test_yarn_spark4.py: a file that sorts
after test_yarn.py, so that the package's YARN, with the archive localized in it, does not
start before the standalone archive test, whose disk use it would add to.)

The project's venv is the Spark 3.5 line (RayDP's, and what the other cluster tests run);
``scripts/install.sh test`` puts pyspark 4.3.0 (with py4j and Spark Connect's client packages)
in an overlay directory, and every script here runs with that directory first on PYTHONPATH,
as the standalone cluster's daemons do (so their executors and Ray nodes run Spark 4 too). The
YARN test uses the session's YARN (Hadoop 3.3.4 daemons; Spark 4.3's client is Hadoop 3.5's)
and the lean venv archive, which leaves pyspark out: spark-submit ships Spark 4's own
``pyspark.zip`` to the containers.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.cluster._spark_helpers import SPARK4, run_script, standalone_cluster

pytest.importorskip("pyspark")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("java") is None and not os.environ.get("JAVA_HOME"),
                       reason="Spark needs Java"),
]

REFUSALS = """
import pyspark
import ray

from zoo_tune import AutoEstimator, init_context
from zoo_tune.errors import InvalidInputError

errors = {}
t = time.monotonic()
try:
    init_context(cluster_mode="raydp", num_nodes=1)
except InvalidInputError as err:
    errors["raydp"] = str(err)
# A Spark Connect client session (no server needed to build a DataFrame's plan).
from pyspark.sql import SparkSession

spark = SparkSession.builder.remote("sc://127.0.0.1:1").getOrCreate()
df = spark.range(8)
est = AutoEstimator.from_torch(model_creator=lambda c: __import__("torch").nn.Linear(1, 1),
                               optimizer="Adam", loss="MSELoss", logs_dir=os.path.abspath("logs"))
try:
    est.fit(df, feature_cols=["id"], label_cols=["id"], epochs=1, search_space={"lr": 0.1})
except InvalidInputError as err:
    errors["connect_frame"] = str(err)
try:
    init_context(cluster_mode="spark-submit")
except InvalidInputError as err:
    errors["connect_session"] = str(err)
spark.client.close()  # the Connect client's channel (its threads would keep Python alive)
print(json.dumps({"version": pyspark.__version__, "errors": errors,
                  "seconds": time.monotonic() - t, "ray": ray.is_initialized(),
                  "frame_type": type(df).__module__, "logs": os.path.exists("logs")}))
"""


def test_spark4_refuses_raydp_and_spark_connect_before_any_work(spark4_env, tmp_path):
    out = run_script(REFUSALS, tmp_path, env=spark4_env, timeout=120)
    assert out["version"] == SPARK4, out
    raydp = out["errors"].get("raydp", "")
    for part in (f"pyspark {SPARK4}", "Spark 3.5", "zoo_tune[raydp]", "'standalone'"):
        assert part in raydp, raydp
    assert out["frame_type"].startswith("pyspark.sql.connect"), out
    for key, what in (("connect_frame", "`data`"), ("connect_session", "active SparkSession")):
        message = out["errors"].get(key, "")
        assert what in message and "Spark Connect" in message and "classic" in message, out
    # Refused before any work: no Ray started, no experiment folder, no server contacted.
    assert out["ray"] is False and out["logs"] is False, out
    assert out["seconds"] < 30, out


# The main path on Spark 4: the job's own session writes and reads a Parquet dataset, `fit`
# tunes it on Ray nodes in the executors (the defaults: 2 nodes of 1 CPU, a spare executor
# for Spark's jobs), and every trial records where it ran. argv: init_context's settings as
# JSON, the Parquet path, the record dir.
FRAME_FIT = """
import numpy as np
import pyspark
import ray

from zoo_tune import AutoEstimator, hp, init_context, stop_context

settings, path, record_dir = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
staged = settings.pop("staged", False)
if "hadoop_conf_dir" in settings:
    os.environ["HADOOP_CONF_DIR"] = settings.pop("hadoop_conf_dir")


def model_creator(config):
    from torch import nn

    record = {"node": ray.get_runtime_context().get_node_id(), "pid": os.getpid(),
              "container": os.environ.get("CONTAINER_ID"), "pyspark": pyspark.__version__}
    with open(os.path.join(record_dir, f"{os.getpid()}-{time.time_ns()}.json"), "w") as f:
        json.dump(record, f)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


ctx = init_context(memory="512m", object_store_memory="128m", **settings)
spark = ctx.spark
rng = np.random.default_rng(0)
y = rng.integers(0, 3, size=2000)
x = (np.eye(3, 4)[y] * 2 + rng.normal(scale=0.6, size=(2000, 4))).astype(np.float32)
rows = [tuple(map(float, x[i])) + (int(y[i]),) for i in range(2000)]
spark.createDataFrame(rows, ["a", "b", "c", "d", "label"]).write.parquet(path)
df = spark.read.parquet(path)
est = AutoEstimator.from_torch(model_creator=model_creator, optimizer="Adam",
                               loss="CrossEntropyLoss", logs_dir=os.path.abspath("logs"),
                               name="spark4")
est.fit(df, feature_cols=[["a", "b", "c", "d"]], label_cols=["label"], validation_split=0.2,
        epochs=2, n_sampling=4, metric="accuracy", search_space={"lr": hp.uniform(0.01, 0.1)},
        verbose=0)
table = est.get_trial_table()
meta = json.load(open(os.path.join(est.experiment_path, "zoo_tune_experiment.json")))
staged_data = None
if staged:  # over the driver budget: staged as Parquet by the executors, read from node caches
    cached = AutoEstimator.from_torch(model_creator=model_creator, optimizer="Adam",
                                      loss="CrossEntropyLoss", logs_dir=os.path.abspath("logs"),
                                      name="spark4_staged")
    cached.fit(df, feature_cols=[["a", "b", "c", "d"]], label_cols=["label"], epochs=2,
               validation_split=0.2, driver_budget_mb=0, metric="accuracy",
               search_space={"lr": hp.grid_search([0.03, 0.1])}, verbose=0)
    staged_table = cached.get_trial_table()
    staged_data = {"statuses": staged_table["status"].tolist(),
                   "best_accuracy": float(staged_table["best_accuracy"].max()),
                   **json.load(open(os.path.join(cached.experiment_path,
                                                 "zoo_tune_experiment.json")))["data"]["data"]}
head = [n["NodeID"] for n in ray.nodes()
        if n["Alive"] and "node:__internal_head__" in n["Resources"]]
sc = spark.sparkContext
executors = len(sc._jsc.sc().statusTracker().getExecutorInfos()) - 1
app_id, temp_root, version = sc.applicationId, ctx._spark_ray.temp_root, spark.version
stop_context()
print(json.dumps({
    "spark": version, "driver_pyspark": pyspark.__version__, "master": ctx.spark_master,
    "app_id": app_id, "nodes": ctx.ray_worker_nodes, "executors": executors, "head": head,
    "statuses": table["status"].tolist(), "best_accuracy": float(table["best_accuracy"].max()),
    "data": meta["data"]["data"], "staged": staged_data,
    "records": [r for r in (json.load(open(os.path.join(record_dir, f)))
                            for f in os.listdir(record_dir)) if r["pid"] != os.getpid()],
    "left": ours_left(temp_root, app_id),
}))
"""


def _fit_frame(settings: dict, path: str, tmp_path: Path, env: dict, timeout: float) -> dict:
    records = tmp_path / "records"
    records.mkdir()
    out = run_script(FRAME_FIT, tmp_path, json.dumps(settings), path, str(records), env=env,
                     timeout=timeout)
    # Spark 4 on the driver and in the executors' Ray nodes, which ran every trial.
    assert out["spark"] == SPARK4 and out["driver_pyspark"] == SPARK4, out
    assert out["nodes"] == 2 and out["executors"] == 3, out  # 2 Ray nodes + the spare
    assert out["statuses"] == ["TERMINATED"] * 4, out["statuses"]
    assert out["best_accuracy"] > 0.9, out["best_accuracy"]
    assert out["data"]["kind"] == "arrays" and out["data"]["rows"] > 1400, out["data"]
    trials = out["records"]  # not fit's check of the model creator on the driver
    assert len(trials) >= 4 and {r["pyspark"] for r in trials} <= {SPARK4}, trials
    assert out["head"][0] not in {r["node"] for r in trials}, trials
    assert out["left"] == [], out["left"]
    return out


def test_spark4_local_cluster_frame_fit(spark4_env, tmp_path):
    out = _fit_frame({"cluster_mode": "local-cluster", "staged": True},
                     str(tmp_path / "blobs.parquet"), tmp_path, spark4_env, timeout=300)
    assert out["master"].startswith("local-cluster[3,1,"), out["master"]
    staged = out["staged"]  # the executors staged it (Spark 4's mapInArrow, Parquet writer)
    assert staged["statuses"] == ["TERMINATED"] * 2 and staged["best_accuracy"] > 0.9, staged
    assert staged["kind"] == "node_cache" and staged["source"] == "parquet", staged


@pytest.fixture(scope="module")
def spark4_master(spark4_env, tmp_path_factory):
    """A Spark 4 standalone cluster (scripts/spark-standalone.sh with the overlay's pyspark):
    master + 2 workers x 2 cores."""
    run = tmp_path_factory.mktemp("spark4_standalone")
    with standalone_cluster(run, **spark4_env) as url:
        yield url, run


def test_spark4_standalone_frame_fit(spark4_master, spark4_env, tmp_path):
    url, run = spark4_master
    # The daemons are Spark 4's: the master's log names its version.
    master_log = "\n".join(p.read_text(errors="replace") for p in run.rglob("master*.log"))
    assert f"version {SPARK4}" in master_log or SPARK4 in master_log, master_log[-2000:]
    out = _fit_frame({"cluster_mode": "standalone", "master": url, "num_nodes": 2, "cores": 1},
                     str(tmp_path / "blobs.parquet"), tmp_path, spark4_env, timeout=300)
    assert out["master"] == url
