"""GPU trials on a real Spark standalone cluster whose workers report 2 GPUs each.

This machine has no GPU, so the GPUs are the one thing mocked, the way Spark's and Ray's own
tests do it: each standalone worker runs a *discovery script* that reports GPU addresses
``["0", "1"]`` (``spark.worker.resource.gpu.discoveryScript``, what an admin points at
``nvidia-smi`` on a real cluster). Everything else is real: the Spark master and workers
assign those addresses to executors and to Ray on Spark's task of each Ray node, Ray starts
the nodes with them, Ray Tune gives every trial its own and sets ``CUDA_VISIBLE_DEVICES``. The
trials then find no usable CUDA and train on the CPU (``device="auto"``: one warning each).
What only a real GPU shows (the parameters on CUDA, epoch times) is ``scripts/gpu-check.sh``.

The cluster: 2 workers x 2 cores x 2 GPUs; ``init_context(gpus=2, cores=2, num_nodes=2,
spare_executors=0)``: a Ray node per worker, 4 CPUs and 4 GPUs in all (no spare executor: every
executor asks for 2 GPUs and the workers have room for two; numpy data needs no Spark job).
One fresh Python runs every fit (only one Ray per process) and prints what it saw.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys

import pytest

from tests.cluster._spark_helpers import ENV, ROOT, run_script, standalone_cluster
from zoo_tune.errors import InvalidInputError, InvalidTypeError

SUBMIT = ROOT / "scripts" / "zoo-tune-submit"
FAKE_GPUS = """#!/usr/bin/env bash
# A Spark GPU discovery script for a machine without GPUs (a test mock): two addresses.
echo '{"name": "gpu", "addresses": ["0", "1"]}'
"""

# ---------------------------------------------------------------- settings (no cluster)


@pytest.mark.parametrize("gpus, error", [(-1, InvalidInputError), (1.5, InvalidTypeError),
                                         ("2", InvalidTypeError), (True, InvalidTypeError)])
def test_init_context_rejects_bad_gpus_before_cluster_work(gpus, error):
    from zoo_tune import init_context

    with pytest.raises(error, match="`gpus`") as info:
        init_context(cluster_mode="standalone", master="spark://127.0.0.1:1", gpus=gpus)
    assert isinstance(info.value, RuntimeError)
    assert isinstance(info.value, (ValueError, TypeError))


def test_init_context_gpus_belong_to_modes_that_start_ray():
    from zoo_tune import init_context

    with pytest.raises(InvalidInputError, match="cluster_mode='ray' uses its Ray's own GPUs"):
        init_context(cluster_mode="ray", address="127.0.0.1:1", gpus=1)
    with pytest.raises(InvalidInputError, match="`gpus` or `num_gpus`, not both"):
        init_context(cluster_mode="local", gpus=1, num_gpus=1)


def test_gpu_conf_per_mode(tmp_path, monkeypatch):
    from zoo_tune.cluster import _gpus

    monkeypatch.setenv("HOME", str(tmp_path))
    base = {"spark.executor.cores": "1"}
    standalone = _gpus.add_gpu_conf(dict(base), 2, kind="standalone")
    assert standalone == {**base, "spark.executor.resource.gpu.amount": "2",
                          "spark.executorEnv.RAY_ON_SPARK_WORKER_GPU_NUM": "2"}
    local = _gpus.add_gpu_conf(dict(base), 1, kind="local-cluster")
    assert local["spark.worker.resource.gpu.amount"] == "1"
    script = local["spark.worker.resource.gpu.discoveryScript"]
    assert script.startswith(str(tmp_path)) and os.access(script, os.X_OK)
    yarn = _gpus.add_gpu_conf({**base, "spark.yarn.dist.files": "a.txt"}, 1, kind="yarn")
    assert yarn["spark.executor.resource.gpu.discoveryScript"] == "./zoo_tune_gpus.sh"
    assert yarn["spark.yarn.dist.files"] == f"a.txt,file://{script}#zoo_tune_gpus.sh"
    # The user's settings win; gpus=None takes what the executors are given, 0 without.
    own = {**base, "spark.executor.resource.gpu.amount": "4",
           "spark.executor.resource.gpu.discoveryScript": "/opt/gpus.sh"}
    assert _gpus.add_gpu_conf(dict(own), None, kind="yarn") == {
        **own, "spark.executorEnv.RAY_ON_SPARK_WORKER_GPU_NUM": "4"}
    assert _gpus.add_gpu_conf(dict(base), None, kind="standalone") == base
    with pytest.raises(InvalidInputError, match="needs 8 GPU.*gpu.amount=4"):
        _gpus.add_gpu_conf(dict(own), 4, kind="standalone", nodes_per_executor=2)


def test_node_gpus_of_a_running_session():
    from zoo_tune.cluster import _gpus

    conf = {"spark.executor.resource.gpu.amount": "4"}
    assert _gpus.node_gpus(conf, None, 2) == 2 and _gpus.node_gpus({}, None, 1) == 0
    assert _gpus.node_gpus(conf, 1, 2) == 1
    with pytest.raises(InvalidInputError, match="zoo-tune-submit --gpus 3"):
        _gpus.node_gpus(conf, 3, 2)
    with pytest.raises(InvalidInputError, match="whole number"):
        _gpus.amount({"spark.executor.resource.gpu.amount": "0.5"})


def test_discovery_script_lists_what_nvidia_smi_lists(tmp_path):
    from zoo_tune.cluster import _gpus

    script = _gpus.discovery_script(tmp_path)
    bare = {"PATH": "/usr/bin:/bin"}  # no nvidia-smi: no addresses (Spark then says so)
    out = subprocess.run([script], capture_output=True, text=True, env=bare, timeout=30)
    assert out.stdout.strip() == '{"name": "gpu", "addresses": []}', out.stderr
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "nvidia-smi").write_text("#!/bin/sh\nprintf '0\\n1\\n'\n")  # what a 2-GPU host prints
    (fake / "nvidia-smi").chmod(0o755)
    out = subprocess.run([script], capture_output=True, text=True, timeout=30,
                         env={"PATH": f"{fake}:/usr/bin:/bin"})
    assert out.stdout.strip() == '{"name": "gpu", "addresses": ["0","1"]}', out.stderr


def test_fractional_gpu_requests_above_one_must_be_whole():
    from zoo_tune.cluster import normalize_resources

    assert normalize_resources({"gpu": 0.25}) == {"gpu": 0.25, "cpu": 1}
    assert normalize_resources({"cpu": 1, "gpu": 2}) == {"cpu": 1, "gpu": 2}
    with pytest.raises(InvalidInputError, match="whole number of GPUs, but got 1.5"):
        normalize_resources({"gpu": 1.5})


def _submit(*args: str, env: dict | None = None):
    base = {k: v for k, v in ENV.items() if k not in ("HADOOP_CONF_DIR", "YARN_CONF_DIR")}
    return subprocess.run(["bash", str(SUBMIT), "--dry-run", "--python", sys.executable, *args],
                          capture_output=True, text=True, timeout=60, env={**base, **(env or {})})


def _conf_of(command: str) -> tuple[dict[str, str], list[str]]:
    argv = shlex.split(command)
    conf = dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--conf")
    files = [argv[i + 1] for i, a in enumerate(argv) if a == "--files"]
    return conf, files


def test_submit_gpus_standalone(tmp_path):
    out = _submit("--master", "spark://127.0.0.1:7077", "--gpus", "2",
                  "--conf", "spark.executorEnv.RAY_ON_SPARK_WORKER_GPU_NUM=8", str(SUBMIT))
    assert out.returncode == 0, out.stderr
    conf, files = _conf_of(out.stdout)
    assert conf["spark.executor.resource.gpu.amount"] == "2" and files == []
    assert conf["spark.executorEnv.RAY_ON_SPARK_WORKER_GPU_NUM"] == "8"  # --conf wins
    assert "spark.executor.resource.gpu.discoveryScript" not in conf  # the workers assign
    assert "spark.task.resource.gpu.amount" not in conf  # Spark's own tasks take no GPU
    plain, _ = _conf_of(_submit("--master", "spark://127.0.0.1:7077", str(SUBMIT)).stdout)
    assert not any("gpu" in key.lower() for key in plain)


def test_submit_gpus_yarn_ships_the_discovery_script(tmp_path):
    (tmp_path / "yarn-site.xml").write_text("<configuration/>")
    out = _submit("--master", "yarn", "--archive", "hdfs:///e.tar.gz", "--gpus", "1",
                  "--files", str(SUBMIT), str(SUBMIT),
                  env={"HADOOP_CONF_DIR": str(tmp_path), "HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    conf, files = _conf_of(out.stdout)
    script = tmp_path / ".cache" / "zoo_tune" / "gpu-discovery.sh"
    assert files == [f"{SUBMIT},{script}#zoo_tune_gpus.sh"] and os.access(script, os.X_OK)
    assert conf["spark.executor.resource.gpu.amount"] == "1"
    assert conf["spark.executor.resource.gpu.discoveryScript"] == "./zoo_tune_gpus.sh"


@pytest.mark.parametrize("gpus", ["-1", "1.5", "x"])
def test_submit_rejects_bad_gpus(gpus):
    out = _submit("--master", "spark://127.0.0.1:7077", "--gpus", gpus, str(SUBMIT))
    assert out.returncode == 2
    assert f"--gpus must be a whole number of GPUs >= 0, but got '{gpus}'" in out.stderr


# ---------------------------------------------------------------- on the cluster

GPU_FITS = """
import glob

import numpy as np
import ray

from zoo_tune import AutoEstimator, hp, init_context, stop_context
from zoo_tune.errors import InvalidInputError

master, records = sys.argv[1], sys.argv[2]


def model_creator(config):
    import warnings

    from ray import tune
    from torch import nn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trial = tune.get_context().get_trial_id()  # None on the driver's check
    if trial is not None:
        # Every trial of a fit waits here for the others: they all hold their GPUs at once.
        folder = os.path.join(records, config["phase"])
        os.makedirs(folder, exist_ok=True)
        seen = {"trial": trial, "visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
                "gpu_ids": [str(i) for i in ray.get_gpu_ids()],
                "node": ray.get_runtime_context().get_node_id()}
        with open(os.path.join(folder, trial + ".json"), "w") as f:
            json.dump(seen, f)
        deadline = time.monotonic() + 60
        while len(glob.glob(folder + "/*.json")) < config["together"]:
            if time.monotonic() > deadline:
                break
            time.sleep(0.2)
        with open(os.path.join(folder, trial + ".together"), "w") as f:
            f.write(str(len(glob.glob(folder + "/*.json"))))
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


def optimizer(model, config):
    import warnings

    import torch
    from ray import tune

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        in_trial = tune.get_context().get_trial_id() is not None
    if in_trial:  # where the trial's parameters live once zoo_tune placed the model
        with open(os.path.join(records, config["phase"] + "-devices"), "a") as f:
            f.write(next(model.parameters()).device.type + "\\n")
    return torch.optim.SGD(model.parameters(), lr=config["lr"])


def warnings_in_logs(root):
    count = 0
    for path in glob.glob(root + "/**/worker-*", recursive=True):
        if "session_latest" in path:  # a link to the session's own folder
            continue
        with open(path, errors="replace") as f:
            count += f.read().count("but CUDA is not usable here")
    return count


rng = np.random.default_rng(0)
y = rng.integers(0, 3, size=200)
x = (np.eye(3, 4)[y] * 2 + rng.normal(scale=0.6, size=(200, 4))).astype(np.float32)
ctx = init_context(cluster_mode="standalone", master=master, num_nodes=2, cores=2, gpus=2,
                   spare_executors=0, memory="1g", object_store_memory="256m")
temp_root = ctx._spark_ray.temp_root
app_id = ctx.spark.sparkContext.applicationId
out = {"startup_s": ctx.startup_s, "cluster_gpus": ray.cluster_resources().get("GPU"),
       "node_gpus": sorted(n["Resources"].get("GPU", 0) for n in ray.nodes() if n["Alive"]),
       "executor_gpus": ctx.spark.conf.get("spark.executor.resource.gpu.amount")}


def fit(phase, resources, together, name):
    est = AutoEstimator.from_torch(model_creator=model_creator, optimizer=optimizer,
                                   loss="CrossEntropyLoss", logs_dir=os.path.abspath("logs"),
                                   name=name, resources_per_trial=resources)
    t = time.monotonic()
    est.fit((x, y), epochs=1, n_sampling=4, metric="accuracy", verbose=0, device="auto",
            search_space={"lr": hp.uniform(0.01, 0.2), "phase": phase, "together": together})
    best = est.get_best_model()
    return {"fit_s": time.monotonic() - t, "statuses": est.get_trial_table()["status"].tolist(),
            "best_on": next(best.parameters()).device.type}


out["whole"] = fit("whole", {"cpu": 1, "gpu": 1}, 4, "whole")
out["warnings_after_whole"] = warnings_in_logs(temp_root)
out["half"] = fit("half", {"cpu": 1, "gpu": 0.5}, 4, "half")
out["warnings"] = warnings_in_logs(temp_root)
t = time.monotonic()
try:
    fit("impossible", {"cpu": 1, "gpu": 3}, 1, "impossible")
    out["impossible"] = "accepted"
except InvalidInputError as err:
    out["impossible"] = str(err)
out["impossible_s"] = time.monotonic() - t
out["impossible_ran"] = os.path.exists(os.path.join(records, "impossible"))
stop_context()
out["records"] = {}
for phase in ("whole", "half"):
    folder = os.path.join(records, phase)
    out["records"][phase] = [
        {**json.load(open(p)), "together": int(open(p[:-5] + ".together").read())}
        for p in sorted(glob.glob(folder + "/*.json"))]
    out[phase]["devices"] = open(os.path.join(records, phase + "-devices")).read().split()
out["left"] = ours_left(temp_root, app_id)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def gpu_master(tmp_path_factory):
    """A standalone cluster of 2 workers x 2 cores x 2 (discovered, fake) GPUs, its own."""
    pytest.importorskip("pyspark")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java")
    run = tmp_path_factory.mktemp("spark_gpus")
    fake = run / "fake_gpus.sh"
    fake.write_text(FAKE_GPUS)
    fake.chmod(0o755)
    with standalone_cluster(run, SPARK_WORKER_OPTS=(
            f"-Dspark.worker.resource.gpu.amount=2 "
            f"-Dspark.worker.resource.gpu.discoveryScript={fake}")) as url:
        yield url


@pytest.fixture(scope="module")
def gpu_run(gpu_master, tmp_path_factory):
    """Three fits on one Ray-on-Spark cluster with 4 GPUs: gpu=1, gpu=0.5, gpu=3."""
    tmp = tmp_path_factory.mktemp("gpu_fits")
    records = tmp / "records"
    records.mkdir()
    return run_script(GPU_FITS, tmp, gpu_master, str(records), timeout=300)


@pytest.mark.slow
def test_executors_gpus_become_the_ray_clusters(gpu_run):
    assert gpu_run["executor_gpus"] == "2"
    assert gpu_run["cluster_gpus"] == 4.0
    assert gpu_run["node_gpus"] == [0, 2.0, 2.0]  # the head on the driver has none
    assert gpu_run["left"] == [], gpu_run["left"]


@pytest.mark.slow
def test_whole_gpu_trials_each_hold_their_own(gpu_run):
    seen = gpu_run["records"]["whole"]
    assert set(gpu_run["whole"]["statuses"]) == {"TERMINATED"} and len(seen) == 4, seen
    # All four ran at once (each waited for the others), each with exactly one GPU, which
    # is what CUDA_VISIBLE_DEVICES shows it; no two trials on a node shared one.
    assert all(r["together"] == 4 for r in seen), seen
    assert all(len(r["gpu_ids"]) == 1 and r["visible"] == r["gpu_ids"][0] for r in seen), seen
    assert all(r["visible"] in ("0", "1") for r in seen), seen
    held = [(r["node"], r["visible"]) for r in seen]
    assert len(set(held)) == 4 and len({node for node, _ in held}) == 2, held


@pytest.mark.slow
def test_fractional_gpu_trials_share_one(gpu_run):
    seen = gpu_run["records"]["half"]
    assert set(gpu_run["half"]["statuses"]) == {"TERMINATED"} and len(seen) == 4, seen
    assert all(r["together"] == 4 for r in seen), seen
    assert all(len(r["gpu_ids"]) == 1 and r["visible"] == r["gpu_ids"][0] for r in seen), seen
    by_node: dict[str, set[str]] = {}
    for r in seen:
        by_node.setdefault(r["node"], set()).add(r["visible"])
    # Two trials per node (2 CPUs each), both on one GPU of the node: Ray packs halves.
    assert len(by_node) == 2 and all(len(ids) == 1 for ids in by_node.values()), seen


@pytest.mark.slow
def test_auto_device_falls_back_to_cpu_with_one_warning_per_trial(gpu_run):
    for phase in ("whole", "half"):
        assert gpu_run[phase]["devices"] == ["cpu"] * 4, gpu_run[phase]
        assert gpu_run[phase]["best_on"] == "cpu"
    assert gpu_run["warnings_after_whole"] == 4 and gpu_run["warnings"] == 8, gpu_run


@pytest.mark.slow
def test_impossible_gpu_request_refused_before_any_trial(gpu_run):
    message = gpu_run["impossible"]
    assert "asks for {'cpu': 1, 'gpu': 3} per trial, but no Ray node is that large" in message
    assert "'GPU': 2.0" in message and "init_context(gpus=N)" in message, message
    assert gpu_run["impossible_ran"] is False
    assert gpu_run["impossible_s"] < 15, gpu_run["impossible_s"]
