"""zoo_tune on a real YARN (scripts/yarn.sh): yarn-client and yarn-cluster runs end to end.

The ResourceManager and NodeManager are Hadoop 3.3.4's own daemons; the NodeManager checks
each container's physical memory, so a container sized too small for its Ray node is killed
here as on a cluster. Executors run the packed venv that YARN unpacked, never this venv.
The NodeManager offers fake GPUs (YARN's GPU plugin over a fake ``nvidia-smi``): the yarn-client
run asks for one per Ray node, and YARN schedules them as ``yarn.io/gpu``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request

import pytest

from tests.cluster._spark_helpers import ENV, ROOT, run_script
from tests.cluster.test_spark import assert_token_auth

pytest.importorskip("pyspark")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(shutil.which("java") is None and not os.environ.get("JAVA_HOME"),
                       reason="YARN needs Java"),
]

# Each trial records where it ran: its YARN container, Ray node, Python and working dir.
TRIAL_RECORDS = """
import numpy as np
import ray

from zoo_tune import AutoEstimator, hp, init_context, stop_context


def model_creator(config):
    from torch import nn

    record = {"container": os.environ.get("CONTAINER_ID"),
              "node": ray.get_runtime_context().get_node_id(),
              "python": sys.executable, "cwd": os.getcwd(), "tag": config["tag"]}
    name = f"trial_{config['tag']}_{os.getpid()}_{time.time_ns()}.json"  # every start kept
    with open(os.path.join(record_dir, name), "w") as f:
        json.dump(record, f)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def slow_accuracy(y_true, y_pred):
    time.sleep(1.0)  # trials overlap: both Ray nodes are busy at once
    return float((np.asarray(y_pred).argmax(1) == y_true).mean())


rng = np.random.default_rng(0)
y = rng.integers(0, 3, size=200)
x = (np.eye(4)[y] * 2 + rng.normal(scale=0.6, size=(200, 4))).astype(np.float32)
"""

YARN_CLIENT = TRIAL_RECORDS + """
record_dir, archive, logs_dir = sys.argv[1], sys.argv[2], sys.argv[3]
os.environ["HADOOP_CONF_DIR"] = sys.argv[4]
gpu_dir, rest = sys.argv[8], sys.argv[9]
from zoo_tune.cluster._yarn import CONTAINER_PATH

# The YARN node's fake nvidia-smi on the executors' PATH (a real GPU node has it in /usr/bin):
# zoo_tune's GPU discovery script, shipped with the application, finds the GPUs with it.
executor_path = CONTAINER_PATH.replace(":", f":{sys.argv[10]}:", 1)


def gpu_model_creator(config):
    import warnings

    from ray import tune
    from torch import nn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trial = tune.get_context().get_trial_id()  # None on the driver's check
    if trial is not None:
        seen = {"trial": trial, "tag": config["tag"], "container": os.environ.get("CONTAINER_ID"),
                "visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
                "gpu_ids": [str(i) for i in ray.get_gpu_ids()],
                "node": ray.get_runtime_context().get_node_id()}
        name = f"{trial}_{os.getpid()}_{time.time_ns()}.json"  # every start kept
        with open(os.path.join(gpu_dir, name), "w") as f:
            json.dump(seen, f)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def gpu_resource(info):  # yarn.io/gpu of a resource in the RM's REST answers
    items = (info or {}).get("resourceInformations", {}).get("resourceInformation", [])
    return next((int(i["value"]) for i in items if i["name"] == "yarn.io/gpu"), 0)


# One GPU of YARN's (yarn.io/gpu) per Ray node; every executor, the spare one too, gets it.
ctx = init_context(cluster_mode="yarn-client", num_nodes=2, cores=1, gpus=1, archive=archive,
                   executor_memory="512m", memory=1024**3, object_store_memory=256 * 1024**2,
                   spark_conf={"spark.yarn.archive": sys.argv[5],
                               "spark.executorEnv.PATH": executor_path})
app_id = ctx.spark.sparkContext.applicationId
est = AutoEstimator.from_torch(model_creator=model_creator, optimizer="Adam",
                               loss="CrossEntropyLoss", logs_dir=logs_dir, name="on_yarn",
                               resources_per_trial={"cpu": 1})
est.fit((x[:160], y[:160]), validation_data=(x[160:], y[160:]), epochs=3, metric=slow_accuracy,
        metric_mode="max", search_space={"tag": hp.grid_search(["a", "b", "c", "d"])})
table = est.get_trial_table()
nodes = ctx.ray_worker_nodes
# The data as users hold it: a Parquet dataset on HDFS, read with this PySpark session while
# Ray holds two executors (the spare one runs Spark's jobs), then tuned on those Ray nodes.
df = ctx.spark.read.parquet(sys.argv[6])
frame_est = AutoEstimator.from_torch(
    model_creator=lambda config: __import__("torch").nn.Linear(64, 10), optimizer="Adam",
    loss="CrossEntropyLoss", logs_dir=logs_dir, name="frame_on_yarn")
frame_est.fit(df, feature_cols=["pixels"], label_cols=["label"], validation_split=0.2, epochs=3,
              metric="accuracy", search_space={"lr": hp.grid_search([0.01, 0.03])}, verbose=0)
frame = frame_est.get_trial_table()
# Trials that each hold a GPU of the Ray nodes' (trained on the CPU: device="auto" falls back).
gpu_est = AutoEstimator.from_torch(model_creator=gpu_model_creator, optimizer="Adam",
                                   loss="CrossEntropyLoss", logs_dir=logs_dir, name="gpu_on_yarn",
                                   resources_per_trial={"cpu": 1, "gpu": 1})
gpu_est.fit((x[:160], y[:160]), validation_data=(x[160:], y[160:]), epochs=1, metric="accuracy",
            search_space={"tag": hp.grid_search(["g0", "g1"])}, verbose=0)
gpu_table = gpu_est.get_trial_table()
ray_gpus = ray.cluster_resources().get("GPU", 0)
import urllib.request

with urllib.request.urlopen(rest + "/ws/v1/cluster/nodes", timeout=30) as r:
    yarn_node = json.load(r)["nodes"]["node"][0]
executors = len(ctx.spark.sparkContext._jsc.sc().statusTracker().getExecutorInfos()) - 1
# Token authentication: clients without the token refused, the token in no log of the driver's
# Ray or of the containers (their stdout/stderr), nor in the Spark UI.
token_file = ctx.auth_token_file
clients = auth_clients(ctx.ray_address, token_file)
exposure = token_exposure(token_file, ctx._spark_ray.temp_root, sys.argv[7])
import urllib.request

ui = ctx.spark.sparkContext.uiWebUrl + f"/api/v1/applications/{app_id}/environment"
ui_env = urllib.request.urlopen(ui, timeout=30).read().decode()
exposure["in_spark_ui"] = open(token_file).read().strip() in ui_env
stop_context()
print(json.dumps({"clients": clients, "exposure": exposure, "ui_env_bytes": len(ui_env),
                  "token_file_left": os.path.exists(token_file),
                  "app_id": app_id, "nodes": nodes, "statuses": sorted(table["status"]),
                  "epochs": sorted(int(e) for e in table["epochs"]),
                  "failures": int(table["failures"].sum()),
                  "frame_statuses": sorted(frame["status"]),
                  "frame_accuracy": float(frame["best_accuracy"].max()),
                  "gpu_statuses": sorted(gpu_table["status"]), "ray_gpus": ray_gpus,
                  "node_gpus": gpu_resource(yarn_node.get("totalResource")),
                  "node_gpus_used": gpu_resource(yarn_node.get("usedResource")),
                  "executors": executors, "timings": ctx.timings, "startup_s": ctx.startup_s}))
"""


def _app(rest: str, app_id: str) -> dict:
    with urllib.request.urlopen(f"{rest}/ws/v1/cluster/apps/{app_id}", timeout=10) as r:
        return json.load(r)["app"]


KILLED: list[str] = []


def _kill_executor_of_first_trial(record_dir) -> None:
    """SIGKILL the executor JVM of the YARN container the first trial runs in."""
    import psutil

    deadline = time.monotonic() + 400
    while time.monotonic() < deadline and not KILLED:
        for trial in _records(record_dir):
            if not trial["container"]:  # fit's check of the model creator, on the driver
                continue
            for proc in psutil.process_iter(["pid", "cmdline"]):
                cmd = " ".join(proc.info["cmdline"] or ())
                if "YarnCoarseGrainedExecutorBackend" in cmd and trial["container"] in cmd:
                    proc.kill()
                    KILLED.append(trial["container"])
                    return
        time.sleep(0.2)


def _records(record_dir) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(record_dir.glob("trial_*.json"))]


def test_yarn_client_trials_run_in_yarn_containers(yarn_cluster, hdfs_env_archive,
                                                   hdfs_spark_jars, hdfs_digits, tmp_path):
    conf, rest, run = yarn_cluster
    records = tmp_path / "records"
    records.mkdir()
    gpu_records = tmp_path / "gpu_records"
    gpu_records.mkdir()
    killer = threading.Thread(target=_kill_executor_of_first_trial, args=(records,),
                              daemon=True)
    killer.start()
    out = run_script(YARN_CLIENT, tmp_path, str(records), hdfs_env_archive,
                     str(tmp_path / "logs"), conf, hdfs_spark_jars, hdfs_digits[0],
                     str(run / "nm-logs"), str(gpu_records), rest, str(run / "gpu-bin"),
                     timeout=600)
    killer.join(timeout=5)
    print("yarn-client start-up", round(out["startup_s"], 1), out["timings"],
          "killed:", KILLED)
    assert out["nodes"] == 2
    # An executor container killed mid-run cost a retry, not the run.
    assert KILLED and out["failures"] >= 1, (KILLED, out)
    assert out["statuses"] == ["TERMINATED"] * 4 and out["epochs"] == [3] * 4
    trials = [t for t in _records(records) if t["container"]]  # not fit's check on the driver
    assert {t["tag"] for t in trials} == set("abcd"), trials
    # Trials ran in at least two YARN containers of this application, on two Ray nodes ...
    app_tag = out["app_id"].replace("application_", "")
    assert all(t["container"] and app_tag in t["container"] for t in trials), trials
    assert len({t["container"] for t in trials}) >= 2, trials
    assert len({t["node"] for t in trials}) >= 2, trials
    # ... with the Python YARN unpacked from the archive, not this venv.
    for t in trials:
        assert t["python"].startswith(f"{run}/nm-local/"), t
        assert "/environment/" in t["python"] and not t["python"].startswith(os.getcwd()), t
    assert (tmp_path / "logs" / "on_yarn").is_dir()
    # The Parquet DataFrame read from HDFS in this session, tuned in the same application.
    assert out["frame_statuses"] == ["TERMINATED"] * 2, out
    assert out["frame_accuracy"] > 0.85, out
    # stop_context() ended the application: the RM says it finished and succeeded.
    app = _app(rest, out["app_id"])
    assert (app["state"], app["finalStatus"]) == ("FINISHED", "SUCCEEDED"), app
    # The Ray cluster in YARN containers admitted only the client with its token (the node
    # that replaced the killed executor's joined with it too); the token leaked nowhere.
    assert out["ui_env_bytes"] > 1000, out
    assert_token_auth(out)
    # GPUs: YARN gave every executor container one of the node's fake GPUs (yarn.io/gpu, in
    # use on the node while the application ran; the AM asks for none) ...
    assert out["node_gpus"] == 4, out
    assert out["node_gpus_used"] == out["executors"] == 3, out  # 2 Ray nodes', the spare one
    # ... they became the Ray cluster's (one per node), and each GPU trial held one of its own,
    # the one CUDA_VISIBLE_DEVICES showed it, in a container of this application.
    assert out["ray_gpus"] == 2, out
    assert out["gpu_statuses"] == ["TERMINATED"] * 2, out
    seen = [json.loads(p.read_text()) for p in sorted(gpu_records.glob("*.json"))]
    assert {s["tag"] for s in seen} == {"g0", "g1"}, seen
    for s in seen:
        assert len(s["gpu_ids"]) == 1 and s["visible"] == s["gpu_ids"][0], s
        assert s["container"] and app_tag in s["container"], s


SUBMIT = ROOT / "scripts" / "zoo-tune-submit"
SIZES = ["--num-nodes", "2", "--cores", "1", "--executor-memory", "512m", "--node-memory", "1g",
         "--object-store-memory", "256m"]


def _submit(args: list[str], conf: str, tmp_path, timeout: float = 600) -> tuple[str, str]:
    """Run zoo-tune-submit in cluster deploy mode; (application id, spark-submit's stderr)."""
    env = {**ENV, "HADOOP_CONF_DIR": conf}
    out = subprocess.run(["bash", str(SUBMIT), "--master", "yarn", "--deploy-mode", "cluster",
                          *args], capture_output=True, text=True, timeout=timeout, env=env,
                         cwd=tmp_path)
    assert out.returncode == 0, (out.stdout[-3000:], out.stderr[-6000:])
    ids = re.findall(r"application_\d+_\d+", out.stderr)
    assert ids, out.stderr[-3000:]
    return ids[0], out.stderr


def _driver_stdout(run, app_id: str) -> str:
    """What the driver printed: the stdout of the application master's container."""
    logs = sorted((run / "nm-logs" / app_id).glob("container_*_01_000001/stdout"))
    assert logs, list((run / "nm-logs").glob("*/*"))
    return logs[-1].read_text()


def _zoo_tune_results(uri: str) -> list[dict]:
    out = subprocess.run([sys.executable, "-m", "zoo_tune.cli", "results", uri, "--format",
                          "json"], capture_output=True, text=True, timeout=120, env=ENV)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_yarn_cluster_submit_of_the_example(yarn_cluster, hdfs_env_archive, hdfs_cluster,
                                           hdfs_spark_jars, tmp_path):
    conf, rest, run = yarn_cluster
    logs = f"{hdfs_cluster[0]}/user/zt/yarn_cluster_{os.getpid()}"
    app_id, err = _submit(["--archive", hdfs_env_archive, *SIZES,
                           "--conf", f"spark.yarn.archive={hdfs_spark_jars}",
                           str(ROOT / "examples" / "spark_submit_tune.py"), "--trials", "2",
                           "--epochs", "2", "--logs-dir", logs], conf, tmp_path)
    # The archive on HDFS (the staging dir's file system) is localized from there, not copied.
    assert re.search(rf"Not copying {re.escape(hdfs_env_archive)}", err), err[-4000:]
    # So are Spark's own jars, from spark.yarn.archive: no per-application zip and upload.
    assert re.search(rf"Not copying {re.escape(hdfs_spark_jars)}", err), err[-4000:]
    assert "__spark_libs__" not in err, err[-4000:]
    app = _app(rest, app_id)
    assert (app["state"], app["finalStatus"]) == ("FINISHED", "SUCCEEDED"), app
    # The driver ran in the application master's container and saw both Ray worker nodes.
    summary = json.loads(_driver_stdout(run, app_id).strip().splitlines()[-1])
    assert summary["master"] == "yarn" and summary["ray_worker_nodes"] == 2, summary
    assert summary["statuses"] == ["TERMINATED"] * 2, summary
    rows = _zoo_tune_results(f"{logs}/spark_submit_digits")
    assert len(rows) == 2 and all(r["status"] == "TERMINATED" for r in rows), rows


JOB_LIB = """
def model_creator(config):
    from torch import nn

    return nn.Sequential(nn.Linear(64, config["hidden"]), nn.ReLU(),
                         nn.Linear(config["hidden"], 10))
"""


def test_yarn_cluster_yaml_job_with_no_driver_script(yarn_cluster, hdfs_env_archive, hdfs_cluster,
                                                     hdfs_spark_jars, hdfs_digits, tmp_path):
    """A batch run: the job file, a model module, and data that lives in Parquet on HDFS,
    read declaratively by the driver's own session in the application master."""
    conf, rest, run = yarn_cluster
    logs = f"{hdfs_cluster[0]}/user/zt/yarn_yaml_{os.getpid()}"
    (tmp_path / "tune_lib.py").write_text(JOB_LIB)
    (tmp_path / "job.yaml").write_text(textwrap.dedent(f"""
        framework: torch
        model: tune_lib:model_creator
        data:
          format: parquet
          path: {hdfs_digits[0]}
          feature_cols: [pixels]
          label_cols: [label]
        validation_data: {{format: parquet, path: "{hdfs_digits[1]}"}}
        loss: CrossEntropyLoss
        logs_dir: {logs}
        name: yaml_on_yarn
        resources_per_trial: {{cpu: 1}}
        cluster: {{cluster_mode: yarn-cluster}}
        search_space:
          hidden: {{grid_search: [8, 16]}}
          lr: 0.01
        fit:
          epochs: 3
          metric: accuracy
    """))
    app_id, _ = _submit(["--archive", hdfs_env_archive, *SIZES,
                         "--conf", f"spark.yarn.archive={hdfs_spark_jars}", "--py-files",
                         str(tmp_path / "tune_lib.py"), "--job", str(tmp_path / "job.yaml")],
                        conf, tmp_path)
    app = _app(rest, app_id)
    assert (app["state"], app["finalStatus"]) == ("FINISHED", "SUCCEEDED"), app
    assert "best config:" in _driver_stdout(run, app_id)
    rows = _zoo_tune_results(f"{logs}/yaml_on_yarn")
    assert sorted(r["config/hidden"] for r in rows) == [8, 16], rows
    assert all(r["status"] == "TERMINATED" for r in rows), rows
    assert max(r["best_accuracy"] for r in rows) > 0.85, rows


def _container_processes(run) -> list[str]:
    """Processes still running in a container dir of this YARN (their working dir)."""
    import psutil

    left = []
    for proc in psutil.process_iter(["pid", "ppid", "cmdline", "status"]):
        try:
            cwd = proc.cwd()
            if cwd.startswith(f"{run}/nm-local/"):
                # Which container, who the parent and process group are, what runs (the tail
                # of the command line: the head is the archive's long python path).
                container = os.path.basename(cwd)
                command = " ".join(proc.info["cmdline"] or ())
                left.append(f"{proc.pid} ppid={proc.info['ppid']} pgid={os.getpgid(proc.pid)} "
                            f"{proc.info['status']} {container} ...{command[-120:]}")
        except (psutil.Error, OSError):
            continue
    return left


def _wait(predicate, timeout_s: float, what: str, detail=None):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}"
                + (f": {detail()}" if detail else ""))


def test_killed_application_ends_the_driver_and_leaves_nothing(yarn_cluster, hdfs_env_archive,
                                                                hdfs_cluster, tmp_path):
    conf, rest, run = yarn_cluster
    logs = f"{hdfs_cluster[0]}/user/zt/yarn_kill_{os.getpid()}"
    submit = subprocess.Popen(
        ["bash", str(SUBMIT), "--master", "yarn", "--deploy-mode", "cluster", "--archive",
         hdfs_env_archive, *SIZES, str(ROOT / "examples" / "spark_submit_tune.py"), "--trials",
         "4", "--epochs", "200", "--logs-dir", logs],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**ENV, "HADOOP_CONF_DIR": conf}, cwd=tmp_path)
    try:
        def running_app():
            with urllib.request.urlopen(f"{rest}/ws/v1/cluster/apps?states=RUNNING",
                                        timeout=10) as r:
                apps = (json.load(r).get("apps") or {}).get("app") or []
            # the AM and both executors (each with its Ray worker node) are up
            return next((a["id"] for a in apps if a["runningContainers"] >= 3), None)

        app_id = _wait(running_app, 300, "the application's three containers")
        time.sleep(20)  # trials are running on the Ray nodes in the executors
        request = urllib.request.Request(f"{rest}/ws/v1/cluster/apps/{app_id}/state",
                                         data=b'{"state": "KILLED"}', method="PUT",
                                         headers={"Content-Type": "application/json"})
        killed = time.monotonic()
        urllib.request.urlopen(request, timeout=30).close()
        out, _ = submit.communicate(timeout=120)
        print(f"spark-submit ended {time.monotonic() - killed:.0f} s after the kill "
              f"(exit {submit.returncode})")
    finally:
        if submit.poll() is None:
            submit.kill()
    assert submit.returncode != 0, out[-3000:]
    assert _app(rest, app_id)["state"] == "KILLED"
    # Nothing of the run outlives its containers: the driver, the Ray head and worker nodes,
    # the executors. The Ray head runs in a process group of its own (Ray on Spark's), out of
    # reach of YARN's group kill: it notices the driver's death (polled every 0.5 s) and takes
    # a few seconds to stop (3 s here). The bound allows for a loaded CI machine, where a CI
    # run once found the AM container's processes still there after 60 s; on a timeout the
    # message lists each one with its parent, process group and state.
    seen: list[list[str]] = []

    def all_ended():
        seen.append(_container_processes(run))
        return not seen[-1] or None

    _wait(all_ended, 150, "the containers' processes to end", lambda: seen[-1])
    print(f"the containers' processes ended {time.monotonic() - killed:.0f} s after the kill")
