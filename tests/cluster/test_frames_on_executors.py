"""The main path: a Spark DataFrame of the same application tuned on its executors' Ray nodes.

Ray on Spark holds a task slot per Ray node for the node's life; before the spare executor
(``spare_executors``, :mod:`zoo_tune.cluster._spark_slots`) a DataFrame given to ``fit`` with
Ray on every executor waited forever for a slot. Each test is a real job: Spark's
local-cluster or the standalone cluster, the data read with the job's own session, the
trials on the executors' Ray nodes, and a starved Spark job turned into a clear error within
its bound. (The YARN paths are in test_yarn_cluster.py, sharing its YARN.)
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

import psutil
import pytest

from tests.cluster._spark_helpers import ENV, PRELUDE, ROOT, run_script

pytest.importorskip("pyspark")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("java") is None and not os.environ.get("JAVA_HOME"),
                       reason="Spark needs Java"),
]

LOCAL_CLUSTER_FRAME = """
import threading

import numpy as np
import ray

from zoo_tune import AutoEstimator, hp, init_context, stop_context
from zoo_tune.cluster._spark_slots import NoSparkSlotError

os.environ["ZOO_TUNE_SPARK_SLOT_WAIT_S"] = "8"
record_dir = sys.argv[1]


def model_creator(config):
    from torch import nn

    with open(os.path.join(record_dir, f"{os.getpid()}-{time.time_ns()}.json"), "w") as f:
        json.dump({"node_id": ray.get_runtime_context().get_node_id(), "pid": os.getpid()}, f)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


# The defaults a new user gets: 2 Ray nodes of 1 CPU, every one in an executor.
ctx = init_context(cluster_mode="local-cluster", memory="512m", object_store_memory="128m")
spark = ctx.spark
rng = np.random.default_rng(0)
y = rng.integers(0, 3, size=4000)
x = (np.eye(3, 4)[y] * 2 + rng.normal(scale=0.6, size=(4000, 4))).astype(np.float32)
path = os.path.abspath("blobs.parquet")
spark.createDataFrame([tuple(map(float, x[i])) + (int(y[i]),) for i in range(4000)],
                      ["a", "b", "c", "d", "label"]).write.parquet(path)
df = spark.read.parquet(path)  # the user's own Spark job, between init_context and fit
est = AutoEstimator.from_torch(model_creator=model_creator, optimizer="Adam",
                               loss="CrossEntropyLoss", logs_dir=os.path.abspath("logs"),
                               name="frame")
t = time.monotonic()
est.fit(df, feature_cols=[["a", "b", "c", "d"]], label_cols=["label"], validation_split=0.2,
        epochs=2, n_sampling=4, metric="accuracy", search_space={"lr": hp.uniform(0.01, 0.1)},
        verbose=0)
fit_s = time.monotonic() - t
table = est.get_trial_table()
meta = json.load(open(os.path.join(est.experiment_path, "zoo_tune_experiment.json")))
nodes = [n for n in ray.nodes() if n["Alive"]]
head = [n["NodeID"] for n in nodes if "node:__internal_head__" in n["Resources"]]
executors = len(spark.sparkContext._jsc.sc().statusTracker().getExecutorInfos()) - 1

# Streamed: staged by the executors (driver budget 0), no node cache (0 MiB), row groups read
# by each trial; then a resumed fit's check: an unchanged frame is not staged again.
stream = AutoEstimator.from_torch(model_creator=model_creator, optimizer="Adam",
                                  loss="CrossEntropyLoss", logs_dir=os.path.abspath("logs"),
                                  name="stream")
stream.fit(df, feature_cols=[["a", "b", "c", "d"]], label_cols=["label"], validation_split=0.2,
           epochs=2, metric="accuracy", driver_budget_mb=0, node_cache_mb=0,
           search_space={"lr": hp.grid_search([0.03, 0.1])}, verbose=0)
stream_table = stream.get_trial_table()
stream_meta = json.load(open(os.path.join(stream.experiment_path, "zoo_tune_experiment.json")))
from zoo_tune.data import ParquetTarget, load_staged, stage_data

staged_dir = os.path.abspath("staged")


def staged_files():
    import glob

    return {p: os.stat(p).st_mtime_ns for p in glob.glob(f"{staged_dir}/*.parquet/*.parquet")}


for reuse in (False, True):
    load_staged(stage_data(df, None, "torch", feature_cols=[["a", "b", "c", "d"]],
                           label_cols=["label"], driver_budget_mb=0, validation_split=0.25),
                ParquetTarget(staged_dir, staged_dir, None, "local", reuse=reuse))
    if not reuse:
        first_files = staged_files()
restaged = staged_files() != first_files

# Starved on purpose: a job of the user's holds the spare executor's only slot; fit's Spark
# job gets none and becomes NoSparkSlotError within the bound (8 s), before any trial.
sc = spark.sparkContext


def hold_the_spare_slot():
    sc.setJobGroup("holder", "holds the spare slot")
    try:
        sc.parallelize([1], 1).map(lambda _: time.sleep(300)).collect()
    except Exception:
        pass


holder = threading.Thread(target=hold_the_spare_slot, daemon=True)
holder.start()


def holder_runs():
    tracker = sc.statusTracker()
    for job in filter(None, map(tracker.getJobInfo, tracker.getJobIdsForGroup("holder"))):
        for stage in filter(None, map(tracker.getStageInfo, job.stageIds)):
            if stage.numActiveTasks:
                return True
    return False


deadline = time.monotonic() + 60
while not holder_runs() and time.monotonic() < deadline:
    time.sleep(0.2)
starved = AutoEstimator.from_torch(model_creator=model_creator, optimizer="Adam",
                                   loss="CrossEntropyLoss", logs_dir=os.path.abspath("logs"),
                                   name="starved")
t = time.monotonic()
try:
    starved.fit(df, feature_cols=[["a", "b", "c", "d"]], label_cols=["label"], epochs=1,
                search_space={"lr": 0.1}, verbose=0)
    error = None
except NoSparkSlotError as err:
    error = str(err)
starved_s = time.monotonic() - t
sc.cancelJobGroup("holder")
holder.join(timeout=30)
# The slot came back: the user's next job (writing predictions, say) runs.
after = spark.read.parquet(path).count()
app_id, temp_root = sc.applicationId, ctx._spark_ray.temp_root
stop_context()
print(json.dumps({
    "master": ctx.spark_master, "nodes": ctx.ray_worker_nodes, "executors": executors,
    "head": head, "statuses": table["status"].tolist(),
    "best_accuracy": float(table["best_accuracy"].max()), "data": meta["data"],
    "records": [r for r in (json.load(open(os.path.join(record_dir, f)))
                            for f in os.listdir(record_dir)) if r["pid"] != os.getpid()],
    "fit_s": fit_s, "error": error, "starved_s": starved_s,
    "stream_statuses": stream_table["status"].tolist(),
    "stream_accuracy": float(stream_table["best_accuracy"].max()),
    "stream_data": stream_meta["data"]["data"], "restaged": restaged,
    "stream_validation_rows": stream_meta["data"]["validation_data"]["rows"],
    "first_files": len(first_files),
    "starved_trials": os.path.isdir(os.path.join("logs", "starved"))
                      and [d for d in os.listdir(os.path.join("logs", "starved"))
                           if d.startswith("trial_")],
    "after": after, "left": ours_left(temp_root, app_id),
}))
"""


def test_local_cluster_frame_fit_with_ray_on_every_executor(tmp_path):
    records = tmp_path / "records"
    records.mkdir()
    out = run_script(LOCAL_CLUSTER_FRAME, tmp_path, str(records), timeout=400)
    # Defaults: 2 Ray nodes, each holding a whole executor, and one spare executor for Spark.
    assert out["master"].startswith("local-cluster[3,1,"), out["master"]
    assert out["nodes"] == 2 and out["executors"] == 3, out
    assert out["statuses"] == ["TERMINATED"] * 4, out["statuses"]
    assert out["best_accuracy"] > 0.9, out["best_accuracy"]
    assert out["data"]["data"] == {"kind": "arrays", "rows": 3200, "bytes": 3200 * 24}
    trial_nodes = {r["node_id"] for r in out["records"]}  # not fit's check on the driver
    assert trial_nodes and out["head"][0] not in trial_nodes, out["records"]
    # Staged by the executors and streamed by the trials; a resumed fit's stamp check.
    assert out["stream_statuses"] == ["TERMINATED"] * 2, out
    assert out["stream_accuracy"] > 0.9, out
    assert out["stream_data"]["kind"] == "stream", out
    # Spark's seeded randomSplit: about 80 %, every row on one side
    assert out["stream_data"]["rows"] + out["stream_validation_rows"] == 4000, out
    assert 3000 < out["stream_data"]["rows"] < 3400, out
    assert out["first_files"] >= 1 and out["restaged"] is False, out
    # The starved job: the clear error, within its 8 s bound (plus a poll), before any trial.
    assert out["error"] is not None, out
    for part in ("no task slot", "spare_executors", "ZOO_TUNE_SPARK_SLOT_WAIT_S"):
        assert part in out["error"], out["error"]
    assert 8 <= out["starved_s"] < 30, out["starved_s"]
    assert not out["starved_trials"], out["starved_trials"]
    assert out["after"] == 4000
    assert out["left"] == []


# A fit on a DataFrame with no Spark slot free: `error` (or None) and `error_s` after it.
STARVED_FIT = """
df = ctx.spark.createDataFrame([(float(i % 3), i % 3) for i in range(300)], ["x", "label"])
est = AutoEstimator.from_torch(model_creator=lambda c: __import__("torch").nn.Linear(1, 3),
                               optimizer="Adam", loss="CrossEntropyLoss",
                               logs_dir=os.path.abspath("logs"), name=run_name)
t = time.monotonic()
try:
    est.fit(df, feature_cols=["x"], label_cols=["label"], epochs=1, search_space={"lr": 0.1},
            verbose=0)
    error = None
except NoSparkSlotError as err:
    error = str(err)
error_s = time.monotonic() - t
"""

NO_SPARE = """
import numpy as np

from zoo_tune import AutoEstimator, init_context
from zoo_tune.cluster._spark_slots import NoSparkSlotError

ctx = init_context(cluster_mode="local-cluster", master="local-cluster[2,1,1024]", num_nodes=2,
                   spare_executors=0, memory="512m", object_store_memory="128m")
run_name = "no_spare"
""" + STARVED_FIT + """
# No stop_context: the process must still exit, and take its cluster with it.
with open("result.json", "w") as f:  # Ray logs to stdout while the exit stops it
    json.dump({"error": error, "error_s": error_s,
               "app_id": ctx.spark.sparkContext.applicationId,
               "temp_root": ctx._spark_ray.temp_root}, f)
"""


def test_no_spare_executor_fails_at_once_and_exit_stops_the_cluster(tmp_path):
    script = tmp_path / "job.py"
    script.write_text(PRELUDE + textwrap.dedent(NO_SPARE))
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=300, env=ENV, cwd=tmp_path)
    assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-6000:])
    out = json.loads((tmp_path / "result.json").read_text())
    assert "stopping it" in run.stderr, run.stderr[-3000:]  # the exit hook said what it did
    assert out["error"] is not None, out
    for part in ("no task slot", "2 executor(s) of 1 core(s)", "2 Ray worker node(s)",
                 "spare_executors", "num_nodes"):
        assert part in out["error"], out["error"]
    assert out["error_s"] < 5, out["error_s"]  # at once: counted, not waited for
    assert not (tmp_path / "logs" / "no_spare").exists()
    # The script ended without stop_context; zoo_tune stopped the context at exit (Ray on
    # Spark's non-daemon log thread would otherwise have kept the process alive forever).
    left = [" ".join(p.info["cmdline"] or ())[:160] for p in psutil.process_iter(["cmdline"])
            if any(out["temp_root"] in part or out["app_id"] in part
                   for part in p.info["cmdline"] or ())]
    assert left == [], left


def test_submitted_job_reads_parquet_and_tunes_staged_frame_from_node_caches(
        spark_master, hdfs_cluster, hdfs_digits, tmp_path):
    """zoo-tune-submit on standalone: spark.read.parquet from HDFS, the frame staged as
    Parquet on HDFS (a small driver budget), trials reading their node's cache, logs and the
    user's predictions on HDFS."""
    from tests.cluster.test_submit import PY, submit

    records = tmp_path / "records"
    records.mkdir()
    logs = f"{hdfs_cluster[0]}/user/zt/frame_job_{os.getpid()}"
    start = time.monotonic()
    out = submit("--python", PY, "--master", spark_master, "--num-nodes", "2",
                 "--node-memory", "1g", "--object-store-memory", "256m",
                 "--conf", f"spark.executorEnv.ZOO_TUNE_RECORD_DIR={records}",
                 str(ROOT / "tests" / "cluster" / "_frame_job.py"), hdfs_digits[0], logs, "0.1",
                 timeout=600)
    wall_s = time.monotonic() - start
    assert out.returncode == 0, (out.stdout[-3000:], out.stderr[-6000:])
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["rows"] == 1347
    assert summary["nodes"] == 2 and summary["executors"] == 3, summary
    assert summary["statuses"] == ["TERMINATED"] * 4, summary
    assert summary["best_accuracy"] > 0.85, summary
    # Over the 0.1 MiB driver budget: the executors staged it as Parquet beside the logs, and
    # the trials read it from their node's cache.
    data = summary["data"]["data"]
    assert data["kind"] == "node_cache" and data["source"] == "parquet", data
    assert data["uri"].startswith(f"{logs}/frame_job"), data
    assert data["rows"] + summary["data"]["validation_data"]["rows"] == 1347, summary["data"]
    trial_nodes = {r["node_id"] for r in map(json.loads, map(Path.read_text, records.iterdir()))
                   if r["pid"] != summary["driver_pid"]}
    assert summary["caches"], summary
    cache_nodes = {name.rsplit(":", 1)[-1] for name in summary["caches"]}
    assert cache_nodes <= trial_nodes and summary["head"][0] not in cache_nodes, summary
    assert summary["predicted"] == 200 and summary["prediction_accuracy"] > 0.8, summary
    assert wall_s < 400, wall_s


NO_ROOM_FOR_THE_SPARE = """
from zoo_tune import AutoEstimator, init_context, stop_context
from zoo_tune.cluster._spark_slots import NoSparkSlotError

# 2 Ray nodes of 2 cores and a spare executor of 2: 6 cores, on a cluster of 4.
ctx = init_context(cluster_mode="standalone", master=sys.argv[1], num_nodes=2, cores=2,
                   memory="512m", object_store_memory="128m")
executors = len(ctx.spark.sparkContext._jsc.sc().statusTracker().getExecutorInfos()) - 1
run_name = "no_room"
""" + STARVED_FIT + """
app_id, temp_root = ctx.spark.sparkContext.applicationId, ctx._spark_ray.temp_root
stop_context()
print(json.dumps({"nodes": ctx.ray_worker_nodes, "executors": executors,
                  "executors_s": ctx.timings["executors_s"], "error": error,
                  "error_s": error_s, "left": ours_left(temp_root, app_id)}))
"""


def test_a_cluster_without_cores_for_the_spare_waits_briefly_then_says_so(spark_master,
                                                                          tmp_path):
    """The spare executor is waited for 15 s, not the 90 s of the Ray nodes' ones; then the
    Ray nodes start, the warning says Spark's jobs will starve, and they fail at once."""
    from zoo_tune.cluster._spark import SPARE_TIMEOUT_S

    out = run_script(NO_ROOM_FOR_THE_SPARE, tmp_path, spark_master, timeout=300)
    assert out["nodes"] == 2 and out["executors"] == 2, out
    assert SPARE_TIMEOUT_S <= out["executors_s"] < SPARE_TIMEOUT_S + 30, out
    assert out["error"] and "no task slot" in out["error"] and out["error_s"] < 5, out
    assert out["left"] == []
