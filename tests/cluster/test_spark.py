"""Ray on Spark: trials in Spark executors on a real standalone cluster and on local-cluster.

Only one Ray may run per process, and the session-wide ``ray_local`` fixture may hold one, so
every test that starts Ray runs its body in a fresh Python (``subprocess``) and asserts on the
JSON it prints last. The standalone cluster (master + 2 workers on 127.0.0.1, a free port, one
for all of tests/cluster) comes from ``scripts/spark-standalone.sh`` (``conftest.py``).
"""

from __future__ import annotations

import os
import shutil
import time

import pytest

from tests.cluster._spark_helpers import run_script

pytest.importorskip("pyspark")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("java") is None and not os.environ.get("JAVA_HOME"),
                       reason="Spark needs Java"),
]

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
events = record_dir + "_events"
os.makedirs(events)
ctx = init_context(cluster_mode="standalone", master=master, num_nodes=2, cores=1,
                   memory="1g", object_store_memory="256m",  # Orca's strings
                   spark_conf={"spark.eventLog.enabled": "true",
                               "spark.eventLog.dir": "file://" + events})
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
token_file = ctx.auth_token_file
clients = auth_clients(ctx.ray_address, token_file)
import urllib.request

ui = ctx.spark.sparkContext.uiWebUrl + f"/api/v1/applications/{app_id}/environment"
ui_env = urllib.request.urlopen(ui, timeout=30).read().decode()
exposure = token_exposure(token_file, temp_root, events)
exposure["in_spark_ui"] = open(token_file).read().strip() in ui_env
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
    "clients": clients, "exposure": exposure, "token_file_left": os.path.exists(token_file),
    "event_logs": os.listdir(events),
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
    assert out["event_logs"], "Spark wrote no event log: the token check would prove nothing"
    assert_token_auth(out)


def assert_token_auth(out):
    """The cluster admitted only the client with ``ctx.auth_token_file``; the token was in no
    log, event log or Spark UI page, its file was 0600 and went with ``stop_context``."""
    clients = out["clients"]
    for name in ("none", "wrong"):
        assert clients[name]["rc"] != 0 and clients[name]["invalid_token"], clients[name]
        assert clients[name]["cpus"] is None, clients[name]
    assert clients["token_file"]["rc"] == 0 and clients["token_file"]["cpus"], clients
    assert out["exposure"] == {"mode": "0o600", "found_in": [], "in_spark_ui": False}, out
    assert out["token_file_left"] is False


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
    conf = dict(ctx.spark.sparkContext.getConf().getAll())
    import urllib.request

    sc = ctx.spark.sparkContext
    ui = f"{sc.uiWebUrl}/api/v1/applications/{sc.applicationId}/environment"
    ui_env = urllib.request.urlopen(ui, timeout=30).read().decode()
    secret = conf.get("spark.authenticate.secret", "")
    spark_auth = {"authenticate": conf.get("spark.authenticate"),
                  "crypto": conf.get("spark.network.crypto.enabled"),
                  "secret_hex_len": len(secret) if all(c in "0123456789abcdef" for c in secret)
                  else -1, "secret_in_ui": bool(secret) and secret in ui_env,
                  "ui_env_bytes": len(ui_env)}
    # Ray on Spark's job server: this machine's calls answered, another address's refused.
    import http.client

    from ray.util.spark import cluster_init

    host, port = cluster_init._active_ray_cluster.spark_job_server.server_address[:2]

    def post(path, source):
        conn = http.client.HTTPConnection(host, port, timeout=10, source_address=(source, 0))
        conn.request("POST", path, body="{}", headers={"Content-Type": "application/json"})
        status = conn.getresponse().status
        conn.close()
        return status

    job_server = {"host": host, "query_nodes_here": post("/query_nodes", "127.0.0.1"),
                  "create_node_elsewhere": post("/create_node", "127.0.0.2"),
                  "notify_elsewhere": post("/notify_task_launched", "127.0.0.2")}
    stop_context()
    print(json.dumps({"startup_s": ctx.startup_s, "timings": ctx.timings,
                      "spark_auth": spark_auth, "job_server": job_server,
                      "nodes": len(nodes), "cpus": cpus,
                      "on_head": ran_on in head, "master": ctx.spark_master,
                      "left": ours_left(temp_root, None)}))
    """
    out = run_script(body, tmp_path)
    assert out["master"] == "local-cluster[1,1,1024]"
    assert out["nodes"] == 2 and out["cpus"] == 1.0 and out["on_head"] is False
    assert out["left"] == []
    # Spark's own RPC (which carries the Ray token to the executors) authenticated with a
    # fresh secret and encrypted; the executors ran under it; the UI shows no secret.
    auth = out["spark_auth"]
    assert (auth["authenticate"], auth["crypto"], auth["secret_hex_len"]) == ("true", "true", 64)
    assert auth["secret_in_ui"] is False and auth["ui_env_bytes"] > 1000, auth
    # The job server that starts Ray nodes answers this machine (the autoscaler beside the
    # head) and refuses an address that is neither it nor an executor's host (127.0.0.2 is
    # loopback too, but not an address the cluster uses).
    assert out["job_server"] == {"host": "127.0.0.1", "query_nodes_here": 200,
                                 "create_node_elsewhere": 403, "notify_elsewhere": 403}
    # Ray on Spark's fixed 20 s sleep after the head starts is replaced by polling its port.
    assert 0 <= out["timings"]["ray_head_s"] < 20, out["timings"]


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
         r"Unknown cluster_mode 'stand-alone'.*\['local', 'local-cluster', 'ray', 'raydp', "
         r"'spark-submit', 'standalone', 'yarn-client', 'yarn-cluster'\]"
         r".*Did you mean 'standalone'"),
        ({"cluster_mode": "standalone"}, "needs `master` like 'spark://host:7077'"),
        ({"cluster_mode": "standalone", "master": "127.0.0.1:7077"},
         "needs `master` like 'spark://host:7077'"),
        ({"cluster_mode": "local-cluster", "master": "local[2]"}, "local-cluster\\[2,1,1024\\]"),
        ({"cluster_mode": "spark-submit", "master": "spark://h:1"}, "set there"),
        ({"cluster_mode": "local", "num_nodes": 2}, "belong to the Spark cluster modes"),
        ({"cluster_mode": "local", "spare_executors": 1},
         r"\['spare_executors'\] belong to the Spark cluster modes"),
        ({"cluster_mode": "raydp", "spare_executors": 1}, "do not apply to cluster_mode='raydp'"),
        ({"cluster_mode": "local-cluster", "spare_executors": -1},
         "`spare_executors` must be >= 0, but got -1"),
        ({"cluster_mode": "standalone", "master": "spark://h:1", "executor_memory": "lots"},
         "must be an int of bytes or a size string"),
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
